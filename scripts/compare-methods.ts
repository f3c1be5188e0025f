// One-off: each training method against today's head on the same split, several seeds.
//   npx tsx scripts/compare-methods.ts <library> <db> [variants,…] [seeds e.g. 1,2,3]
// Prints one line per run and, last, a JSON array of per-variant means.
import { openLibrary } from '../src/engine/jobs/library/library-sync.js';
import { cacheFeatures } from '../src/engine/jobs/library/feature-cache.js';
import { labelledFeatures } from '../src/engine/jobs/training/labelled-features.js';
import { selectBackend } from '../src/engine/ml/runtime/compute-backend.js';
import { evaluateRetrieval } from '../src/engine/ml/training/retrieval-metrics.js';
import { parseBackboneSpec, describeSpec } from '../src/engine/ml/backbone/backbone.js';
import { trainHead, type TrainerSettings } from '../src/engine/ml/training/trainer.js';
import type { HeadConfig } from '../src/engine/ml/training/head.js';
import { Store } from '../src/engine/store/store.js';

interface Variant {
  trainer: Partial<TrainerSettings>;
  head?: Partial<HeadConfig>;
}
const VARIANTS: Record<string, Variant> = {
  random: { trainer: { sampling: 'random' } },
  balanced: { trainer: { sampling: 'balanced' } },
  'semi-hard': { trainer: { sampling: 'semi-hard' } },
  'in-class': { trainer: { sampling: 'in-class' } },
  'random-best10': { trainer: { sampling: 'random', epochs: 10, keepBest: true } },
  'balanced-best10': { trainer: { sampling: 'balanced', epochs: 10, keepBest: true } },
  'semi-hard-best10': { trainer: { sampling: 'semi-hard', epochs: 10, keepBest: true } },
  'balanced-mlp512': { trainer: { sampling: 'balanced' }, head: { hidden: 512 } },
  'semi-hard-mlp512': { trainer: { sampling: 'semi-hard' }, head: { hidden: 512 } },
  'balanced-dim256': { trainer: { sampling: 'balanced' }, head: { dim: 256 } },
};

const [library, db, variantList = 'random,balanced,semi-hard,in-class', seedList = '1,2,3'] = process.argv.slice(2);
await selectBackend();
const store = Store.open(db);
const { libraryId } = await openLibrary({ store }, library);
const spec = parseBackboneSpec('nsfwjs-mobilenetv2-1.4');
await cacheFeatures({ store }, libraryId, spec);
const sets = labelledFeatures(store, libraryId, describeSpec(spec), 0.2, 1);
const k = 30;
const baseline = await evaluateRetrieval(sets.validation, sets.train, k);
console.log(`baseline P@30 ${baseline.precision_at_k.toFixed(4)} mAP@R ${baseline.map_at_r.toFixed(4)} (${baseline.queries} queries, ${baseline.database} photos)`);
const summary = [];
for (const name of variantList.split(',')) {
  const variant = VARIANTS[name];
  if (!variant) throw new Error(`unknown variant ${name}`);
  const scores: Array<{ p: number; map: number; seconds: number; kept: number }> = [];
  for (const seed of seedList.split(',').map(Number)) {
    const started = Date.now();
    const settings: TrainerSettings = { epochs: 5, batchSize: 32, learningRate: 0.001, gap: 1, seed, tripletsPerEpoch: sets.train.vectors.length * 8, k, ...variant.trainer };
    const headConfig: HeadConfig = { inputDim: sets.train.vectors[0].length, dim: 128, hidden: 0, normalize: true, ...variant.head };
    const outcome = await trainHead(sets, headConfig, settings);
    const embed = (v: Float32Array[]) => outcome.head.embed(v);
    const trained = await evaluateRetrieval({ vectors: await embed(sets.validation.vectors), classIds: sets.validation.classIds }, { vectors: await embed(sets.train.vectors), classIds: sets.train.classIds }, k);
    outcome.head.dispose();
    const seconds = (Date.now() - started) / 1000;
    scores.push({ p: trained.precision_at_k, map: trained.map_at_r, seconds, kept: outcome.keptEpoch });
    console.log(`${name} seed ${seed}: P@30 ${trained.precision_at_k.toFixed(4)} mAP@R ${trained.map_at_r.toFixed(4)} kept epoch ${outcome.keptEpoch} ${seconds.toFixed(1)} s`);
  }
  const mean = (f: (s: (typeof scores)[number]) => number) => scores.reduce((a, s) => a + f(s), 0) / scores.length;
  summary.push({ variant: name, seeds: scores.length, p_at_30: mean((s) => s.p), map_at_r: mean((s) => s.map), seconds: mean((s) => s.seconds), min_p: Math.min(...scores.map((s) => s.p)), max_p: Math.max(...scores.map((s) => s.p)) });
}
store.close();
console.log(JSON.stringify({ library, baseline: { p_at_30: baseline.precision_at_k, map_at_r: baseline.map_at_r }, summary }));
