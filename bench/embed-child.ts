// One embed measurement in a fresh process (so peak RSS is this configuration's own):
// files -> decode (sharp) -> backbone -> head -> stored embedding, on a temp database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/engine/ml/runtime/compute-backend.js';
import { BUILTIN_BACKBONE } from '../src/shared/builtin-backbone.js';
import { parseBackboneSpec } from '../src/engine/ml/backbone/backbone.js';
import { cacheFeatures } from '../src/engine/jobs/library/feature-cache.js';
import { ensureBaselineModel } from '../src/engine/jobs/library/indexing.js';
import { openLibrary } from '../src/engine/jobs/library/library-sync.js';
import { Store } from '../src/engine/store/store.js';

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
