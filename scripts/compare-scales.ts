// One-off: multi-scale features (several depths of the built-in backbone, each L2-normalised, then
// concatenated) against today's pooled features, on a library's own split, several seeds, using the
// cache written by scripts/multiscale-features.ts (the library's photos must all be in it).
//   npx tsx scripts/compare-scales.ts <library> <db> <cache prefix> <sets,…> [seeds e.g. 1,2]
// A set is layer short names joined by '+' (5a 6e 9a 10e 12a 13e 15a 16e 16p pool), optionally
// followed by flags: ':mirror' (average each photo's features with its mirror's), ':centre' (each layer
// minus its training mean, as the app's centred head does), ':centre-joined' (the joined vector minus its
// mean instead), ':eN' epochs, ':dN' embedding size, ':lrX' learning rate, ':tN' triplets per training
// photo, ':bN' batch size, ':hN' hidden width, ':gX' gap.
import { readFileSync } from 'node:fs';
import { openLibrary } from '../src/engine/jobs/library/library-sync.js';
import { labelledFeatures } from '../src/engine/jobs/training/labelled-features.js';
import { selectBackend } from '../src/engine/ml/runtime/compute-backend.js';
import { evaluateDetailed, type LabelledVectors } from '../src/engine/ml/training/retrieval-metrics.js';
import { normalizeVector } from '../src/engine/ml/training/head.js';
import { trainHead } from '../src/engine/ml/training/trainer.js';
import { Store } from '../src/engine/store/store.js';

const SHORT: Record<string, string> = {
  '5a': 'expanded_conv_5/add', '6e': 'expanded_conv_6/expand/Relu6', '9a': 'expanded_conv_9/add', '10e': 'expanded_conv_10/expand/Relu6',
  '12a': 'expanded_conv_12/add', '13e': 'expanded_conv_13/expand/Relu6', '15a': 'expanded_conv_15/add', '16e': 'expanded_conv_16/expand/Relu6',
  '16p': 'expanded_conv_16/project/BatchNorm/FusedBatchNormV3', pool: 'Logits/AvgPool',
};
const [library, db, cache, setList = 'pool', seedList = '1,2'] = process.argv.slice(2);
const meta = JSON.parse(readFileSync(`${cache}.json`, 'utf8')) as { paths: string[]; layers: string[]; dims: number[]; views: string[] };
const flat = new Float32Array(readFileSync(`${cache}.f32`).buffer.slice(0));
const perView = meta.dims.reduce((a, b) => a + b, 0);
const perPhoto = perView * meta.views.length;
const row = new Map(meta.paths.map((p, i) => [p, i]));
const layerAt = (photo: number, view: number, layer: number) => {
  const start = photo * perPhoto + view * perView + meta.dims.slice(0, layer).reduce((a, b) => a + b, 0);
  return flat.subarray(start, start + meta.dims[layer]);
};

await selectBackend();
const store = Store.open(db);
const { libraryId } = await openLibrary({ store }, library);
labelledFeatures(store, libraryId, 'none', 0.2, 1); // assigns the split exactly as training does
const photos = store.photos(libraryId).filter((p) => p.classId !== null && p.split);
const classNames = new Map(store.classes(libraryId).map((c) => [c.id, c.name]));
const k = 30;

/** Per-layer training means of the current set (':centre'), or null. */
let layerMeans: Map<number, Float64Array> | null = null;
function meansOf(layers: number[]) {
  const out = new Map<number, Float64Array>();
  const trainRows = photos.filter((p) => p.split === 'train').map((p) => row.get(p.relPath)!);
  for (const l of layers) {
    const m = new Float64Array(meta.dims[l]);
    for (const i of trainRows) normalizeVector(Float32Array.from(layerAt(i, 0, l))).forEach((x, j) => (m[j] += x / trainRows.length));
    out.set(l, m);
  }
  return out;
}
function vectorsFor(layers: number[], mirror: boolean) {
  const sets: { train: LabelledVectors; validation: LabelledVectors } = { train: { vectors: [], classIds: [] }, validation: { vectors: [], classIds: [] } };
  for (const p of photos) {
    const i = row.get(p.relPath);
    if (i === undefined) throw new Error(`${p.relPath} is not in the cache`);
    const parts = layers.map((l) => {
      const v = Float32Array.from(layerAt(i, 0, l));
      if (mirror) layerAt(i, 1, l).forEach((x, j) => (v[j] = (v[j] + x) / 2));
      if (!layerMeans) return normalizeVector(v);
      const mean = layerMeans.get(l)!;
      return normalizeVector(Float32Array.from(normalizeVector(v), (x, j) => x - mean[j]));
    });
    const joined = new Float32Array(parts.reduce((a, v) => a + v.length, 0));
    let o = 0;
    for (const part of parts) {
      joined.set(part, o);
      o += part.length;
    }
    sets[p.split!].vectors.push(normalizeVector(joined));
    sets[p.split!].classIds.push(p.classId!);
  }
  return sets;
}

function centreJoined(sets: { train: LabelledVectors; validation: LabelledVectors }) {
  const n = sets.train.vectors[0].length;
  const mean = new Float64Array(n);
  for (const v of sets.train.vectors) v.forEach((x, j) => (mean[j] += x / sets.train.vectors.length));
  for (const list of [sets.train.vectors, sets.validation.vectors]) list.forEach((v, i) => (list[i] = normalizeVector(Float32Array.from(v, (x, j) => x - mean[j]))));
}
const pool = meta.layers.indexOf(SHORT.pool);
const reference = vectorsFor([pool], false);
const baseline = await evaluateDetailed(reference.validation, reference.train, k);
console.log(`baseline (pool, untrained) P@30 ${baseline.scores.precision_at_k.toFixed(4)} mAP@R ${baseline.scores.map_at_r.toFixed(4)} (${baseline.scores.queries} queries)`);
// Per class, each set is held against the old default (random triplets, last epoch, pooled features) of the same seed.
const oldDefault = new Map<number, Map<number, number>>();
for (const seed of seedList.split(',').map(Number)) {
  const outcome = await trainHead(reference, { inputDim: 1792, dim: 128, hidden: 0, normalize: true }, { epochs: 5, batchSize: 32, learningRate: 0.001, gap: 1, seed, tripletsPerEpoch: reference.train.vectors.length * 8, k, sampling: 'random' });
  const trained = await evaluateDetailed({ vectors: await outcome.head.embed(reference.validation.vectors), classIds: reference.validation.classIds }, { vectors: await outcome.head.embed(reference.train.vectors), classIds: reference.train.classIds }, k);
  outcome.head.dispose();
  oldDefault.set(seed, new Map(trained.perClass.map((c) => [c.classId, c.map_at_r])));
  console.log(`old default seed ${seed}: P@30 ${trained.scores.precision_at_k.toFixed(4)} mAP@R ${trained.scores.map_at_r.toFixed(4)}`);
}
const summary = [];
for (const name of setList.split(',')) {
  const [layerPart, ...flags] = name.split(':');
  const layers = layerPart.split('+').map((s) => {
    const index = meta.layers.indexOf(SHORT[s] ?? s);
    if (index < 0) throw new Error(`unknown layer ${s}`);
    return index;
  });
  const mirror = flags.includes('mirror');
  const epochs = Number(flags.find((f) => /^e\d+$/.test(f))?.slice(1) ?? 5);
  const num = (prefix: string, dflt: number) => Number(flags.find((f) => new RegExp(`^${prefix}[0-9.]+$`).test(f))?.slice(prefix.length) ?? dflt);
  const dim = num('d', 128), lr = num('lr', 0.001), perPhoto = num('t', 8), batch = num('b', 32), hidden = num('h', 0), gapX = num('g', 1);
  layerMeans = flags.includes('centre') ? meansOf(layers) : null;
  const sets = vectorsFor(layers, mirror);
  if (flags.includes('centre-joined')) centreJoined(sets);
  const untrained = (await evaluateDetailed(sets.validation, sets.train, k)).scores;
  const scores: Array<{ p: number; map: number; seconds: number; kept: number; losers: string[] }> = [];
  for (const seed of seedList.split(',').map(Number)) {
    const started = Date.now();
    const outcome = await trainHead(sets, { inputDim: sets.train.vectors[0].length, dim, hidden, normalize: true }, { epochs, batchSize: batch, learningRate: lr, gap: gapX, seed, tripletsPerEpoch: sets.train.vectors.length * perPhoto, k, sampling: 'semi-hard', keepBest: true });
    const trained = await evaluateDetailed({ vectors: await outcome.head.embed(sets.validation.vectors), classIds: sets.validation.classIds }, { vectors: await outcome.head.embed(sets.train.vectors), classIds: sets.train.classIds }, k);
    outcome.head.dispose();
    const seconds = (Date.now() - started) / 1000;
    const baseByClass = oldDefault.get(seed)!;
    const losers = trained.perClass.filter((c) => c.map_at_r < baseByClass.get(c.classId)! - 1e-9).map((c) => `${classNames.get(c.classId)} ${baseByClass.get(c.classId)!.toFixed(3)}→${c.map_at_r.toFixed(3)}`);
    scores.push({ p: trained.scores.precision_at_k, map: trained.scores.map_at_r, seconds, kept: outcome.keptEpoch, losers });
    console.log(`${name} (${sets.train.vectors[0].length}-d) seed ${seed}: P@30 ${trained.scores.precision_at_k.toFixed(4)} mAP@R ${trained.scores.map_at_r.toFixed(4)} kept ${outcome.keptEpoch}/${epochs} ${seconds.toFixed(0)} s; below the old default: ${losers.join(', ') || 'none'}`);
  }
  const mean = (f: (s: (typeof scores)[number]) => number) => scores.reduce((a, s) => a + f(s), 0) / scores.length;
  summary.push({ set: name, dim: sets.train.vectors[0].length, untrained_p: untrained.precision_at_k, untrained_map: untrained.map_at_r, p_at_30: mean((s) => s.p), map_at_r: mean((s) => s.map), min_p: Math.min(...scores.map((s) => s.p)), max_p: Math.max(...scores.map((s) => s.p)), seconds: mean((s) => s.seconds), losers: scores.map((s) => s.losers.length) });
}
store.close();
console.log(JSON.stringify({ library, baseline: baseline.scores, summary }));
