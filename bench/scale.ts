import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { librarySummary } from '../src/engine/jobs/library/library-sync.js';
import { createRng } from '../src/engine/common/rng.js';
import { Store } from '../src/engine/store/store.js';
import { flag, percentile, printReport, type BenchReport } from './report.js';

/**
 * scale: a synthetic library of N photo records with stored 128-d embeddings: time to open the
 * library, to list a page of the grid, to answer "find similar"; memory held. The smallest size is
 * the baseline for the ratios (same run).
 *   --sizes 10000,100000   --queries 50
 */
export async function run(args: string[]): Promise<BenchReport> {
  const sizes = flag(args, 'sizes', '10000,100000').split(',').map(Number);
  const queries = Number(flag(args, 'queries', '50'));
  const results: Array<Record<string, unknown>> = [];
  for (const n of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'lookalike-bench-scale-'));
    try {
      const path = join(dir, 'scale.db');
      process.stderr.write(`scale: building ${n} photos…\n`);
      build(path, n);
      const rssBefore = process.memoryUsage().rss;
      const t0 = performance.now();
      const store = Store.open(path);
      const summary = librarySummary(store, 1);
      const openMs = performance.now() - t0;
      const pageTimes: number[] = [];
      const knnTimes: number[] = [];
      const rng = createRng(5);
      const index = store.vectorIndex(1, 128);
      for (let q = 0; q < queries; q++) {
        const t1 = performance.now();
        store.photos(1, { classId: 1 + (q % 10), offset: Math.floor(rng() * 5000), limit: 200 });
        store.countPhotos(1, 1 + (q % 10));
        pageTimes.push(performance.now() - t1);
        const t2 = performance.now();
        index.knn(randomVector(rng), 30);
        knnTimes.push(performance.now() - t2);
      }
      pageTimes.sort((a, b) => a - b);
      knnTimes.sort((a, b) => a - b);
      results.push({
        n,
        photos: summary.photoCount,
        open_ms: openMs,
        page_p50_ms: percentile(pageTimes, 50),
        similar_p50_ms: percentile(knnTimes, 50),
        similar_p95_ms: percentile(knnTimes, 95),
        rss_held_mb: Math.round((process.memoryUsage().rss - rssBefore) / 2 ** 20),
      });
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const base = results[0];
  for (const r of results) {
    r.similar_ratio_vs_smallest = (r.similar_p50_ms as number) / (base.similar_p50_ms as number);
    r.page_ratio_vs_smallest = (r.page_p50_ms as number) / (base.page_p50_ms as number);
  }
  return { bench: 'scale', results };
}

function randomVector(rng: () => number): Float32Array {
  return Float32Array.from({ length: 128 }, () => rng() * 2 - 1);
}

/** N photo rows in 10 classes and one model's embeddings, written the way the app writes them. */
function build(path: string, n: number): void {
  const store = Store.open(path);
  const lib = store.upsertLibrary('/synthetic');
  const classes = Array.from({ length: 10 }, (_, i) => `class-${i}`);
  const photos = Array.from({ length: n }, (_, i) => ({ relPath: `${classes[i % 10]}/${String(i).padStart(7, '0')}.jpg`, className: classes[i % 10], size: 1000 + i, mtimeMs: 1, hash: `h${i}` }));
  store.syncLibrary(lib, classes, photos);
  const modelId = store.createModel({ libraryId: lib, name: 'synthetic', kind: 'baseline', backbone: 'synthetic', backboneDim: 128, dim: 128, config: {}, runId: null });
  const rng = createRng(1);
  const rows = store.photos(lib);
  for (let start = 0; start < rows.length; start += 5000) {
    store.putEmbeddings(modelId, 128, rows.slice(start, start + 5000).map((p) => ({ photoId: p.id, hash: p.hash, vector: randomVector(rng) })));
  }
  store.close();
}

if (import.meta.url === `file://${process.argv[1]}`) printReport(await run(process.argv.slice(2)), process.argv.includes('--json'));
