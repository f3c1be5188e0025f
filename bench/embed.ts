import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { flag, printReport, type BenchReport } from './report.js';

const FLOWERS = resolve(import.meta.dirname, '../../shared/datasets/flowers17');

/**
 * embed: photos per second from file to stored embedding on flowers17, per TF.js backend available
 * here, with the backbone on TF.js or on ONNX Runtime (float, and int8: "cold" calibrates on the
 * photos first, "warm" finds the calibration cached), with 1 and 2 worker threads; peak RSS, and the
 * 1-minute load average before and after each row (the machine may be shared). Ratios are against
 * ONNX Runtime fp32 with 2 workers, same run.
 *   --photos N   photos taken evenly from the 17 classes (default 340; 1360 is all of flowers17)
 *   --cpu-photos N  photos for the slow plain-cpu backend (default 34)
 *   --onnx-only  only the ONNX Runtime rows with 2 workers (fp32, int8 cold, int8 warm)
 *   --repeat N   measure each row N times, in turns, and report the median (this machine's speed
 *                moves by 10-15% from one minute to the next; the runs are in `runs`)
 */
export async function run(args: string[]): Promise<BenchReport> {
  const photos = Number(flag(args, 'photos', '340'));
  const cpuPhotos = Number(flag(args, 'cpu-photos', '34'));
  const repeat = Number(flag(args, 'repeat', '1'));
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat takes a whole number from 1');
  // runtime "tfjs" runs the backbone on the TF.js backend itself; "onnxruntime" on ONNX Runtime (the head stays on TF.js).
  const onnx = (workers: number, precision: 'fp32' | 'int8-cold' | 'int8-warm'): Config => ({ backend: 'wasm', runtime: 'onnxruntime', workers, photos, precision });
  const configs: Config[] = args.includes('--onnx-only')
    ? [onnx(2, 'fp32'), onnx(2, 'int8-cold'), onnx(2, 'int8-warm')]
    : [
        { backend: 'wasm', runtime: 'tfjs', workers: 1, photos },
        { backend: 'wasm', runtime: 'tfjs', workers: 2, photos },
        onnx(1, 'fp32'),
        onnx(2, 'fp32'),
        // Cold first: it empties the cache, and the warm rows after it find its calibration.
        onnx(2, 'int8-cold'),
        onnx(1, 'int8-warm'),
        onnx(2, 'int8-warm'),
        { backend: 'cpu', runtime: 'tfjs', workers: 2, photos: cpuPhotos },
      ];
  const native = args.includes('--onnx-only') ? [] : await nativeBackendsAvailable();
  for (const backend of native) configs.unshift({ backend, runtime: 'tfjs', workers: 2, photos });
  const runs: Array<Array<Record<string, unknown>>> = configs.map(() => []);
  // One cache folder for the run: "cold" starts it empty, "warm" rows find the calibration in it.
  const home = mkdtempSync(join(tmpdir(), 'lookalike-bench-home-'));
  try {
    for (let turn = 0; turn < repeat; turn++) {
      configs.forEach((config, i) => {
        if (config.precision === 'int8-cold') rmSync(join(home, 'cache'), { recursive: true, force: true });
        runs[i].push(measure(config, home));
      });
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
  const results = runs.map(medianRun);
  const base = results.find((r) => r.runtime === 'onnxruntime' && r.workers === 2)!;
  for (const r of results) r.ratio_vs_onnx_fp32_2_workers = (r.photos_per_s as number) / (base.photos_per_s as number);
  return { bench: 'embed', results, notes: native.length ? [] : ['tfjs-node(-gpu) not installed here: native backends not measured'] };
}

/** The run with the median speed, and beside it every run's photos/s (one run: itself). */
function medianRun(runs: Array<Record<string, unknown>>): Record<string, unknown> {
  const speed = (r: Record<string, unknown>) => r.photos_per_s as number;
  const sorted = [...runs].sort((a, b) => speed(a) - speed(b));
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return runs.length === 1 ? median : { ...median, runs: runs.length, photos_per_s_each: runs.map(speed), peak_rss_mb_max: Math.max(...runs.map((r) => r.peak_rss_mb as number)) };
}

interface Config {
  backend: string;
  runtime: 'tfjs' | 'onnxruntime';
  workers: number;
  photos: number;
  precision?: 'fp32' | 'int8-cold' | 'int8-warm';
}

function measure(config: Config, home: string): Record<string, unknown> {
  const library = sampleOfFlowers(config.photos);
  try {
    const precision = config.precision?.replace(/-.*/, '') ?? 'fp32';
    process.stderr.write(`embed: ${config.backend}/${config.runtime} ${config.precision ?? ''}, ${config.workers} worker(s), ${config.photos} photos…\n`);
    const loadBefore = loadavg()[0];
    const out = execFileSync(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'embed-child.ts'), library, String(config.workers)], {
      env: { ...process.env, LOOKALIKE_BACKEND: config.backend, LOOKALIKE_BACKBONE_RUNTIME: config.runtime, LOOKALIKE_BACKBONE_PRECISION: precision, LOOKALIKE_HOME: home },
      encoding: 'utf8',
    });
    const row = JSON.parse(out) as Record<string, unknown>;
    return { ...row, ...(config.precision ? { precision: config.precision } : {}), load_before: loadBefore, load_after: loadavg()[0] };
  } finally {
    rmSync(library, { recursive: true, force: true });
  }
}

/** A temp copy of `count` flowers17 photos spread over the classes (the shared folder is read-only). */
function sampleOfFlowers(count: number): string {
  const root = mkdtempSync(join(tmpdir(), 'lookalike-bench-lib-'));
  const classes = readdirSync(FLOWERS).sort();
  for (let i = 0; i < count; i++) {
    const cls = classes[i % classes.length];
    const file = readdirSync(join(FLOWERS, cls)).sort()[Math.floor(i / classes.length)];
    mkdirSync(join(root, cls), { recursive: true });
    cpSync(join(FLOWERS, cls, file), join(root, cls, file));
  }
  return root;
}

async function nativeBackendsAvailable(): Promise<string[]> {
  const found: string[] = [];
  for (const [name, pkg] of [['tensorflow-gpu', '@tensorflow/tfjs-node-gpu'], ['tensorflow', '@tensorflow/tfjs-node']]) {
    try {
      await import(pkg);
      found.push(name);
    } catch {
      // not installed: the wasm and cpu rows still run
    }
  }
  return found;
}

if (import.meta.url === `file://${process.argv[1]}`) printReport(await run(process.argv.slice(2)), process.argv.includes('--json'));
