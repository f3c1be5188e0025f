import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRng } from '../src/engine/common/rng.js';
import { duplicateEdges, groupDuplicates } from '../src/engine/jobs/library/duplicates.js';
import { Store } from '../src/engine/store/store.js';
import type { DuplicateGroup } from '../src/shared/api.js';
import { DEFAULT_DUPLICATE_THRESHOLD } from '../src/shared/settings.js';
import { flag, printReport, type BenchReport } from './report.js';

/**
 * duplicates: a synthetic library of N photos with stored unit 128-d embeddings (random, so no two
 * are close) and one planted near copy per `--every` photos (the original plus noise of length
 * 0.05-0.25, normalised), searched for duplicates as the app does (duplicateEdges, then the groups at
 * the slider's starting threshold, DEFAULT_DUPLICATE_THRESHOLD): seconds, groups found against planted, peak resident memory.
 * Baselines in the same run: the previous finder (`blocks-topk`: every photo's nearest by TopK over
 * each block pair), run whole, with its groups found; and the per-photo k-NN queries of the finder
 * before that, run whole at the smallest size and timed on `--sample` photos at the others
 * (extrapolated to all). `--no-previous` leaves the previous finder out.
 *   --sizes 10000,100000   --every 200   --sample 500
 */
export async function run(args: string[]): Promise<BenchReport> {
  const sizes = flag(args, 'sizes', '10000,100000').split(',').map(Number);
  const every = Number(flag(args, 'every', '200'));
  const sample = Number(flag(args, 'sample', '500'));
  const results: Array<Record<string, unknown>> = [];
  for (const [i, n] of sizes.entries()) {
    const dir = mkdtempSync(join(tmpdir(), 'lookalike-bench-dup-'));
    try {
      const path = join(dir, 'duplicates.db');
      process.stderr.write(`duplicates: building ${n} photos…\n`);
      const planted = build(path, n, every);
      const store = Store.open(path);
      const peak = peakRss();
      const t0 = performance.now();
      const edges = await duplicateEdges(store, 1, undefined, { via: 'blocks' });
      const seconds = (performance.now() - t0) / 1000;
      const found = groupDuplicates(store, 1, edges, DEFAULT_DUPLICATE_THRESHOLD).groups;
      const peakMb = peak.stop();
      process.stderr.write(`duplicates: ${n} by blocks in ${seconds.toFixed(1)} s; the previous finder…\n`);
      const previous = args.includes('--no-previous') ? {} : await previousFinder(store, planted);
      process.stderr.write(`duplicates: per-photo queries…\n`);
      const queries = i === 0 ? await wholeQueries(store) : await sampledQueries(store, sample);
      results.push({
        n,
        planted: planted.size,
        groups_found: found.length,
        planted_found: plantedFound(found, planted),
        seconds,
        compared_dim: edges.comparedDim,
        peak_rss_mb: peakMb,
        ...previous,
        per_photo_queries_seconds: queries.seconds,
        per_photo_queries_measured_on: queries.measuredOn,
        ratio_vs_per_photo_queries: seconds / queries.seconds,
      });
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const r of results) {
    r.ratio_vs_smallest = (r.seconds as number) / (results[0].seconds as number);
    if (r.previous_seconds !== undefined) r.ratio_vs_previous = (r.seconds as number) / (r.previous_seconds as number);
  }
  return { bench: 'duplicates', results };
}

const plantedFound = (groups: DuplicateGroup[], planted: Set<string>) =>
  groups.filter((g) => g.photos.length === 2 && planted.has(pairKey(g.photos[0].photoId, g.photos[1].photoId))).length;

/** The finder before near-pairs.ts (TopK over every block pair), whole, on the same library. */
async function previousFinder(store: Store, planted: Set<string>) {
  const t0 = performance.now();
  const edges = await duplicateEdges(store, 1, undefined, { via: 'blocks-topk' });
  const seconds = (performance.now() - t0) / 1000;
  const found = groupDuplicates(store, 1, edges, DEFAULT_DUPLICATE_THRESHOLD).groups;
  return { previous_seconds: seconds, previous_groups_found: found.length, previous_planted_found: plantedFound(found, planted) };
}

async function wholeQueries(store: Store): Promise<{ seconds: number; measuredOn: number }> {
  const t0 = performance.now();
  await duplicateEdges(store, 1, undefined, { via: 'queries' });
  return { seconds: (performance.now() - t0) / 1000, measuredOn: store.embeddingCount(1) };
}

/** The old finder's cost per photo (one k-NN of 9 through the search index) on a sample, times all photos. */
async function sampledQueries(store: Store, sample: number): Promise<{ seconds: number; measuredOn: number }> {
  const index = store.vectorIndex(1, 128);
  const ids = store.photos(1).map((p) => p.id);
  const step = Math.max(1, Math.floor(ids.length / sample));
  const picked = index.vectors(ids.filter((_, i) => i % step === 0).slice(0, sample));
  index.knn(picked[0].vector, 9); // the companion's worker warm
  const t0 = performance.now();
  for (const { vector } of picked) index.knn(vector, 9);
  return { seconds: ((performance.now() - t0) / 1000 / picked.length) * ids.length, measuredOn: picked.length };
}

/** Resident memory sampled every 100 ms until stop (MB). */
function peakRss(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.round(Math.max(peak, process.memoryUsage().rss) / 2 ** 20);
    },
  };
}

const pairKey = (a: number, b: number) => (a < b ? `${a}:${b}` : `${b}:${a}`);

/** N photo rows with unit vectors written as the app writes them; returns the planted pairs (photo ids). */
function build(path: string, n: number, every: number): Set<string> {
  const store = Store.open(path);
  const lib = store.upsertLibrary('/synthetic');
  const photos = Array.from({ length: n }, (_, i) => ({ relPath: `photos/${String(i).padStart(7, '0')}.jpg`, className: 'photos', size: 1000 + i, mtimeMs: 1, hash: `h${i}` }));
  store.syncLibrary(lib, ['photos'], photos);
  const modelId = store.createModel({ libraryId: lib, name: 'synthetic', kind: 'baseline', backbone: 'synthetic', backboneDim: 128, dim: 128, config: {}, runId: null });
  const rng = createRng(1);
  const rows = store.photos(lib);
  const planted = new Set<string>();
  let previous: Float32Array | null = null;
  for (let start = 0; start < rows.length; start += 5000) {
    const batch = rows.slice(start, start + 5000).map((p, j) => {
      const i = start + j;
      let vector: Float32Array;
      if (i % every === every - 1 && previous) {
        const noise = 0.05 + 0.2 * rng();
        vector = unit(Float32Array.from(previous, (v) => v + noise * gaussian(rng) / Math.sqrt(128)));
        planted.add(pairKey(rows[i - 1].id, p.id));
      } else vector = unit(Float32Array.from({ length: 128 }, () => gaussian(rng)));
      previous = vector;
      return { photoId: p.id, hash: p.hash, vector };
    });
    store.putEmbeddings(modelId, 128, batch);
  }
  store.close();
  return planted;
}

function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

function unit(v: Float32Array): Float32Array {
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

if (import.meta.url === `file://${process.argv[1]}`) printReport(await run(process.argv.slice(2)), process.argv.includes('--json'));
