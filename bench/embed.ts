import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { flag, printReport, type BenchReport } from './report.js';

const FLOWERS = resolve(import.meta.dirname, '../../shared/datasets/flowers17');

/**
 * embed: photos per second from file to stored embedding on flowers17, per TF.js backend available
 * here, with the backbone on TF.js or on ONNX Runtime, with 1 and 2 worker threads; peak RSS.
 * Ratios are against TF.js wasm with 1 worker, same run.
 *   --photos N   photos taken evenly from the 17 classes (default 340; 1360 is all of flowers17)
 *   --cpu-photos N  photos for the slow plain-cpu backend (default 34)
 */
export async function run(args: string[]): Promise<BenchReport> {
  const photos = Number(flag(args, 'photos', '340'));
  const cpuPhotos = Number(flag(args, 'cpu-photos', '34'));
  // runtime "tfjs" runs the backbone on the TF.js backend itself; "onnxruntime" on ONNX Runtime (the head stays on TF.js).
  const configs: Array<{ backend: string; runtime: 'tfjs' | 'onnxruntime'; workers: number; photos: number }> = [
    { backend: 'wasm', runtime: 'tfjs', workers: 1, photos },
    { backend: 'wasm', runtime: 'tfjs', workers: 2, photos },
    { backend: 'wasm', runtime: 'onnxruntime', workers: 1, photos },
    { backend: 'wasm', runtime: 'onnxruntime', workers: 2, photos },
    { backend: 'cpu', runtime: 'tfjs', workers: 2, photos: cpuPhotos },
  ];
  const native = await nativeBackendsAvailable();
  for (const backend of native) configs.unshift({ backend, runtime: 'tfjs', workers: 2, photos });
  const results: Array<Record<string, unknown>> = [];
  for (const config of configs) {
    const library = sampleOfFlowers(config.photos);
    try {
      process.stderr.write(`embed: ${config.backend}/${config.runtime}, ${config.workers} worker(s), ${config.photos} photos…\n`);
      const out = execFileSync(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, 'embed-child.ts'), library, String(config.workers)], {
        env: { ...process.env, LOOKALIKE_BACKEND: config.backend, LOOKALIKE_BACKBONE_RUNTIME: config.runtime },
        encoding: 'utf8',
      });
      results.push(JSON.parse(out) as Record<string, unknown>);
    } finally {
      rmSync(library, { recursive: true, force: true });
    }
  }
  const base = results.find((r) => r.backend === 'wasm' && r.runtime === 'tfjs-wasm' && r.workers === 1)!;
  for (const r of results) r.ratio_vs_tfjs_wasm_1_worker = (r.photos_per_s as number) / (base.photos_per_s as number);
  return { bench: 'embed', results, notes: native.length ? [] : ['tfjs-node(-gpu) not installed here: native backends not measured'] };
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
