// One embed measurement in a fresh process (so peak RSS is this configuration's own):
// files -> decode (sharp) -> backbone -> head -> stored embedding, on a temp database.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// The built engine where there is one (what the app runs: its feature threads start without tsx
// compiling them, about half a second each), else the TypeScript sources.
const built = existsSync(resolve(import.meta.dirname, '../out/node/engine/jobs/library/feature-cache.js'));
const load = <T>(path: string): Promise<T> => import(resolve(import.meta.dirname, built ? '../out/node' : '../src', built ? path : path.replace(/\.js$/, '.ts'))) as Promise<T>;
const { selectBackend } = await load<typeof import('../src/engine/ml/runtime/compute-backend.js')>('engine/ml/runtime/compute-backend.js');
const { BUILTIN_BACKBONE } = await load<typeof import('../src/shared/builtin-backbone.js')>('shared/builtin-backbone.js');
const { parseBackboneSpec } = await load<typeof import('../src/engine/ml/backbone/backbone.js')>('engine/ml/backbone/backbone.js');
const { cacheFeatures } = await load<typeof import('../src/engine/jobs/library/feature-cache.js')>('engine/jobs/library/feature-cache.js');
const { ensureBaselineModel } = await load<typeof import('../src/engine/jobs/library/indexing.js')>('engine/jobs/library/indexing.js');
const { openLibrary } = await load<typeof import('../src/engine/jobs/library/library-sync.js')>('engine/jobs/library/library-sync.js');
const { Store } = await load<typeof import('../src/engine/store/store.js')>('engine/store/store.js');

const [root, workers] = [process.argv[2], Number(process.argv[3])];
const dir = mkdtempSync(join(tmpdir(), 'lookalike-bench-embed-'));
const store = Store.open(join(dir, 'bench.db'));
try {
  const backend = await selectBackend();
  const started = performance.now();
  const { libraryId, summary } = await openLibrary({ store }, root);
  const spec = parseBackboneSpec(BUILTIN_BACKBONE.id);
  const features = await cacheFeatures({ store }, libraryId, spec, workers);
  const modelId = await ensureBaselineModel({ store }, libraryId, spec);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(
    JSON.stringify({
      backend: backend.name,
      engine: built ? 'built (out/node)' : 'TypeScript sources (tsx)',
      runtime: features.runtime,
      workers,
      photos: summary.photoCount,
      embedded: store.embeddingCount(modelId),
      failed: features.failed,
      seconds,
      photos_per_s: summary.photoCount / seconds,
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    }),
  );
} finally {
  store.close();
  rmSync(dir, { recursive: true, force: true });
}
