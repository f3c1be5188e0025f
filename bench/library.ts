import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import sharp from 'sharp';
import { createRng, type Rng } from '../src/engine/common/rng.js';
import { createThreadedEngineService } from '../src/engine/jobs/service/service-thread.js';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { flag, percentile, type BenchReport } from './report.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin', 'lookalike.js');
const FLOWERS17 = resolve(ROOT, '..', 'shared', 'datasets', 'flowers17');
/** One photo in this many is written at a phone camera's size (its decode shrinks on load). */
const CAMERA_EVERY = 50;
const CAMERA_WIDTH = 4032;
/** Photos made at once (sharp decodes and encodes on libuv's threads). */
const MAKING_AT_ONCE = 4;

type Row = Record<string, unknown>;
interface Source {
  className: string;
  path: string;
}

/**
 * library: a synthetic library of N photos made of real ones (flowers17 where ../shared has it, and
 * the sample drawer's), every file different: a random crop, a mirror, a colour shift, a JPEG quality,
 * and one in 50 at a camera's size. Then the app's own CLI on a fresh database and cache, one process
 * a stage, as a person's first day would run it: scan (list and hash), index (decode and backbone,
 * pipelined, features stored, the untrained model indexed), train (from the cached features), the
 * first Find similar (a cold process), and a rescan of the unchanged library. Wall time, photos/s and
 * the peak RSS of each stage's process (VmHWM: worker threads included).
 * Last, the library grows by a tenth and the app's engine indexes the new photos while Find similar is
 * asked every 100 ms (p50/p95 of its answers meanwhile).
 *   --photos 2000  --dir D (make the library there once and reuse it)  --epochs 5
 *   --make-only (with --dir: make or complete the library, measure nothing else)
 *   --skip-train (Find similar then searches the untrained model: training's two evaluations rank
 *   every held-out photo against every training photo in JavaScript, hours at 100,000 photos)
 */
export async function run(args: string[]): Promise<BenchReport> {
  const count = Number(flag(args, 'photos', '2000'));
  const epochs = flag(args, 'epochs', '5');
  if (!Number.isInteger(count) || count < 100) throw new Error('--photos takes a whole number from 100');
  if (!existsSync(join(ROOT, 'out', 'node', 'cli', 'index.js'))) throw new Error('the CLI is not built: run `npm run build:node` first');
  const work = mkdtempSync(join(tmpdir(), 'lookalike-bench-library-'));
  const keep = flag(args, 'dir', '');
  const library = keep ? resolve(keep) : join(work, 'library');
  try {
    const made = await makeLibrary(library, count, work);
    const env = { ...process.env, XDG_CACHE_HOME: join(work, 'cache'), XDG_DATA_HOME: join(work, 'data') };
    const db = join(work, 'library.db');
    const photo = firstPhoto(library);
    const results: Row[] = [{ stage: 'make the library', photos: made.total, seconds: round(made.seconds), note: made.note }];
    if (args.includes('--make-only')) return { bench: 'library', results, notes: [`library at ${library}`] };
    const stages: Array<[string, string[]]> = [
      ['scan (list + hash)', ['scan', library, '--db', db, '--json']],
      ['index (decode + backbone + store + index)', ['index', library, '--db', db, '--json']],
      ...(args.includes('--skip-train') ? [] : [['train (from cached features)', ['train', library, '--db', db, '--epochs', epochs, '--json']] as [string, string[]]]),
      ['first Find similar (cold process)', ['similar', photo, '--db', db, '--library', library, '--json']],
      ['rescan, nothing changed', ['scan', library, '--db', db, '--json']],
    ];
    for (const [stage, cliArgs] of stages) {
      progress(`library: ${stage}`);
      const measured = await runCli(cliArgs, env);
      if (measured.code !== 0) throw new Error(`${stage} exited ${measured.code}: ${measured.stderr.slice(-600)}`);
      results.push({ stage, photos: made.total, seconds: round(measured.seconds), photos_per_second: round(made.total / measured.seconds), peak_rss_mb: measured.peakRssMb });
    }
    if (args.includes('--skip-train')) results.splice(3, 0, { stage: 'train (from cached features)', skipped: '--skip-train: Find similar searches the untrained model' });
    progress('library: Find similar while new photos are indexed (the app\'s engine thread)');
    results.push(await similarWhileIndexing(library, db, count, work, env));
    const scanIndex = results.slice(1, 3).reduce((sum, r) => sum + (r.seconds as number), 0);
    return {
      bench: 'library',
      results,
      notes: [
        `scan + index of ${made.total} photos: ${round(scanIndex)} s (${round(made.total / scanIndex)} photos/s); at that pace 100,000 photos take ${round(100_000 / (made.total / scanIndex) / 60)} min (an extrapolation unless --photos 100000)`,
        `peak RSS over the stages: ${Math.max(...results.map((r) => r.peak_rss_mb).filter((mb): mb is number => typeof mb === 'number'))} MB`,
        'each stage is a fresh CLI process (its start-up, about a second, is in its time); cache and data folders fresh: the one-time backbone export and int8 calibration are in the index stage',
      ],
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The library grows by a tenth and the app's engine (on its own thread, as the app runs it) opens it:
 * the new photos are indexed in the background while Find similar is asked about indexed photos every
 * 100 ms; how long the answers take while the indexing runs, and how long the indexing took.
 */
async function similarWhileIndexing(library: string, db: string, count: number, work: string, env: NodeJS.ProcessEnv): Promise<Row> {
  const extra = Math.max(100, Math.round(count / 10));
  await makeLibrary(library, count + extra, work);
  process.env.XDG_CACHE_HOME = env.XDG_CACHE_HOME;
  const started = performance.now();
  const service = await createThreadedEngineService({ dbPath: db, cacheDir: join(work, 'thumbnails'), libraryRoot: library });
  try {
    const photos = (await service.handlers.listPhotos({ offset: 0, limit: 500 })).items.map((item) => item.id);
    const rng = createRng(5);
    const answers: number[] = [];
    let refused = 0;
    const running = async () => ['running', 'paused', 'stopping'].includes((await service.handlers.status()).job?.state ?? '');
    let sawIndexing = false;
    while (performance.now() - started < 900_000) {
      const indexing = await running();
      sawIndexing ||= indexing;
      if (!indexing && (sawIndexing || performance.now() - started > 60_000)) break;
      const asked = performance.now();
      try {
        await service.handlers.findSimilar({ photoId: photos[Math.floor(rng() * photos.length)], k: 30 });
        answers.push(performance.now() - asked);
      } catch {
        refused++;
      }
      await new Promise((done) => setTimeout(done, 100));
    }
    answers.sort((a, b) => a - b);
    return {
      stage: 'Find similar while new photos are indexed',
      photos: extra,
      seconds: round((performance.now() - started) / 1000),
      similar_answers: answers.length,
      similar_refused: refused,
      similar_p50_ms: answers.length ? round(percentile(answers, 50)) : null,
      similar_p95_ms: answers.length ? round(percentile(answers, 95)) : null,
      note: sawIndexing ? 'opened, scanned and indexed by the app\'s engine; Find similar on photos indexed before' : 'no indexing was seen: nothing new to index?',
    };
  } finally {
    await service.close();
  }
}

async function makeLibrary(library: string, count: number, work: string): Promise<{ total: number; seconds: number; note: string }> {
  const existing = existsSync(library) ? countPhotos(library) : 0;
  if (existing >= count) return { total: existing, seconds: 0, note: `reused ${library}` };
  const started = performance.now();
  const drawer = join(work, 'drawer');
  const sources = await sourcePhotos(drawer, !existsSync(drawer));
  const rng = createRng(11);
  let next = existing;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const source = sources[i % sources.length];
      const folder = join(library, source.className);
      await mkdir(folder, { recursive: true });
      await variant(source.path, join(folder, `${basename(source.path, '.jpg')}-${String(i).padStart(6, '0')}.jpg`), i % CAMERA_EVERY === 0, rng);
      if (i % 1000 === 0) progress(`library: made ${i} of ${count} photos`);
    }
  };
  await Promise.all(Array.from({ length: MAKING_AT_ONCE }, worker));
  const kinds = [...new Set(sources.map((s) => (s.path.startsWith(FLOWERS17) ? 'flowers17' : 'the sample drawer')))].join(' and ');
  return { total: count, seconds: (performance.now() - started) / 1000, note: `made from ${sources.length} photos of ${kinds}` };
}

async function sourcePhotos(drawer: string, draw: boolean): Promise<Source[]> {
  const sources: Source[] = [];
  if (existsSync(FLOWERS17)) {
    for (const className of readdirSync(FLOWERS17).sort()) {
      for (const name of readdirSync(join(FLOWERS17, className)).sort()) sources.push({ className, path: join(FLOWERS17, className, name) });
    }
  }
  if (draw) await makeSampleLibrary(drawer, { perClass: 40, unlabelled: 0, seed: 3 });
  for (const className of readdirSync(drawer).sort()) {
    for (const name of readdirSync(join(drawer, className)).sort()) sources.push({ className: `drawn-${className}`, path: join(drawer, className, name) });
  }
  return sources;
}

/** A different file showing much the same picture: crop, mirror, colour, quality; sometimes camera-sized. */
async function variant(from: string, to: string, cameraSize: boolean, rng: Rng): Promise<void> {
  const meta = await sharp(from).metadata();
  const width = meta.width ?? 256;
  const height = meta.height ?? 256;
  const keep = 0.8 + 0.2 * rng();
  const cropWidth = Math.max(16, Math.floor(width * keep));
  const cropHeight = Math.max(16, Math.floor(height * keep));
  let image = sharp(from).extract({ left: Math.floor((width - cropWidth) * rng()), top: Math.floor((height - cropHeight) * rng()), width: cropWidth, height: cropHeight });
  if (rng() < 0.5) image = image.flop();
  image = image.modulate({ brightness: 0.9 + 0.2 * rng(), saturation: 0.8 + 0.4 * rng(), hue: Math.round(20 * rng() - 10) });
  if (cameraSize) image = image.resize({ width: CAMERA_WIDTH });
  await image.jpeg({ quality: 70 + Math.floor(25 * rng()) }).toFile(to);
}

function countPhotos(library: string): number {
  return readdirSync(library, { recursive: true }).filter((name) => String(name).endsWith('.jpg')).length;
}

function firstPhoto(library: string): string {
  const first = (readdirSync(library, { recursive: true }) as string[]).filter((name) => name.endsWith('.jpg')).sort()[0];
  return join(library, first);
}

/** The CLI as a person runs it, timed, its peak resident memory read from /proc while it runs. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; seconds: number; peakRssMb: number; stderr: string }> {
  return new Promise((done, fail) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let peakKb = 0;
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
    const poll = setInterval(() => (peakKb = Math.max(peakKb, peakResidentKb(child.pid))), 200);
    child.on('error', fail);
    child.on('close', (code) => {
      clearInterval(poll);
      done({ code, seconds: (performance.now() - started) / 1000, peakRssMb: Math.round(peakKb / 1024), stderr });
    });
  });
}

/** VmHWM: the most resident memory the process has held so far (0 once it is gone). */
function peakResidentKb(pid: number | undefined): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

const round = (value: number) => Math.round(value * 10) / 10;

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}
