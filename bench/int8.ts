import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { flag, type BenchReport } from './report.js';
import { BUILTIN_OUTPUTS, joinScales, readBuiltinArtifacts, scalePixels } from '../src/engine/ml/backbone/backbone.js';
import { selectBackend } from '../src/engine/ml/runtime/compute-backend.js';
import { evaluateRetrieval, type LabelledVectors } from '../src/engine/ml/training/retrieval-metrics.js';
import { normalizeVector } from '../src/engine/ml/training/head.js';
import { calibrationFile, calibrationFor } from '../src/engine/ml/backbone/int8-calibration.js';
import { calibrateOnnx, openOnnxRunner, type OnnxFeatureRunner } from '../src/engine/ml/backbone/onnx-backbone.js';
import { stratifiedSplit } from '../src/engine/ml/training/split.js';
import { decodeForModel } from '../src/engine/library/image.js';
import { BUILTIN_BACKBONE } from '../src/shared/builtin-backbone.js';
import { DEFAULT_K, DEFAULT_SETTINGS } from '../src/shared/settings.js';

const FLOWERS = resolve(import.meta.dirname, '../../shared/datasets/flowers17');

/**
 * int8: does the quantised built-in backbone keep retrieval quality? Untrained features of every
 * flowers17 photo, float and int8 (calibrated as the app does, on 256 photos of the library), scored
 * on the standard split (validation 0.2, seed 1; P@30 and mAP@R of validation queries against the
 * training photos), for the final pool and the multi-scale features (each layer L2-normalised,
 * concatenated); the same for the uneven cut of flowers17; and how close the vectors are (cosine).
 *   --uneven DIR   the uneven library (default /tmp/flowers17-uneven; scripts/make-uneven-library.ts makes it)
 *   --photos N     photos per class of flowers17 (default all 80)
 */
export async function run(args: string[]): Promise<BenchReport> {
  const unevenRoot = flag(args, 'uneven', '/tmp/flowers17-uneven');
  const perClass = Number(flag(args, 'photos', '80'));
  await selectBackend();
  const classes = readdirSync(FLOWERS).sort();
  const photos = classes.flatMap((cls, classId) => readdirSync(join(FLOWERS, cls)).sort().slice(0, perClass).map((file) => ({ path: `${cls}/${file}`, classId })));
  const loadBefore = loadavg()[0];
  const artifacts = await readBuiltinArtifacts();
  const graph = await loadGraphModel(tf.io.fromMemory(artifacts));
  const cache = mkdtempSync(join(tmpdir(), 'lookalike-bench-int8-'));
  const runners: OnnxFeatureRunner[] = [];
  try {
    const started = performance.now();
    const calibration = await calibrationFor({
      file: calibrationFile(cache, BUILTIN_BACKBONE.id),
      backboneKey: BUILTIN_BACKBONE.id,
      photos: photos.map((p) => join(FLOWERS, p.path)),
      inputSize: 224,
      scale: (images) => scalePixels(images, 224, '0,1'),
      calibrate: (batches) => calibrateOnnx(graph, artifacts, BUILTIN_OUTPUTS, batches, 224),
    });
    if (!calibration.ranges) throw new Error(calibration.reason);
    const calibrationSeconds = (performance.now() - started) / 1000;
    runners.push(await openOnnxRunner(graph, artifacts, BUILTIN_OUTPUTS), await openOnnxRunner(graph, artifacts, BUILTIN_OUTPUTS, { int8: calibration.ranges }));
    const features = { fp32: [] as Float32Array[][], int8: [] as Float32Array[][] };
    const seconds = { fp32: 0, int8: 0 };
    for (let i = 0; i < photos.length; i += 8) {
      const batch = photos.slice(i, i + 8);
      const pixels = scalePixels(await Promise.all(batch.map(async (p) => (await decodeForModel(join(FLOWERS, p.path), 224)).pixels)), 224, '0,1');
      for (const [precision, runner] of [['fp32', runners[0]], ['int8', runners[1]]] as const) {
        const t = performance.now();
        const parts = await runner.runEach(pixels, batch.length, 224);
        seconds[precision] += (performance.now() - t) / 1000;
        batch.forEach((_, j) => features[precision].push(parts.map((part) => part.slice((j * part.length) / batch.length, ((j + 1) * part.length) / batch.length))));
      }
    }
    const results: Array<Record<string, unknown>> = [];
    const uneven = existsSync(unevenRoot) ? new Set(readdirSync(unevenRoot).flatMap((cls) => readdirSync(join(unevenRoot, cls)).map((file) => `${cls}/${file}`))) : null;
    const sets = [{ name: 'flowers17', indices: photos.map((_, i) => i) }, ...(uneven ? [{ name: 'uneven', indices: photos.flatMap((p, i) => (uneven.has(p.path) ? [i] : [])) }] : [])];
    for (const set of sets) {
      for (const layers of ['final', 'multi-scale'] as const) {
        const scores = [];
        for (const precision of ['fp32', 'int8'] as const) {
          const vector = (i: number) => (layers === 'final' ? normalizeVector(features[precision][i].at(-1)!) : joinScales(features[precision][i]));
          scores.push({ precision, ...(await score(set.indices.map((i) => ({ vector: vector(i), classId: photos[i].classId })))) });
        }
        for (const s of scores) results.push({ set: set.name, photos: set.indices.length, features: layers, ...s });
        results.push({ set: set.name, features: layers, precision: 'int8 - fp32', p_at_30: scores[1].p_at_30 - scores[0].p_at_30, map_at_r: scores[1].map_at_r - scores[0].map_at_r });
      }
    }
    const cosines = BUILTIN_OUTPUTS.map((_, layer) => photos.map((_, i) => cosine(features.fp32[i][layer], features.int8[i][layer])).sort((a, b) => a - b));
    const notes = [
      ...BUILTIN_OUTPUTS.map((node, layer) => `cosine fp32 vs int8 at ${node.replace(/.*MobilenetV2\//, '')}: mean ${mean(cosines[layer]).toFixed(5)}, min ${cosines[layer][0].toFixed(5)} over ${photos.length} photos`),
      `calibration on ${calibration.measuredOn} photos: ${calibrationSeconds.toFixed(1)} s; backbone alone, one thread, batches of 8: fp32 ${((1000 * seconds.fp32) / photos.length).toFixed(1)} ms/photo, int8 ${((1000 * seconds.int8) / photos.length).toFixed(1)} ms/photo (x${(seconds.fp32 / seconds.int8).toFixed(2)})`,
      `load average (1 min) ${loadBefore.toFixed(1)} before, ${loadavg()[0].toFixed(1)} after`,
      ...(uneven ? [] : [`${unevenRoot} not found: the uneven set was not scored (npx tsx scripts/make-uneven-library.ts makes it)`]),
    ];
    return { bench: 'int8', results, notes };
  } finally {
    for (const runner of runners) await runner.dispose();
    graph.dispose();
    rmSync(cache, { recursive: true, force: true });
  }
}

/** The standard split's validation photos as queries against its training photos. */
async function score(items: Array<{ vector: Float32Array; classId: number }>): Promise<{ p_at_30: number; map_at_r: number }> {
  const split = stratifiedSplit(items.map((item, id) => ({ id, classId: item.classId })), DEFAULT_SETTINGS.validationFraction, DEFAULT_SETTINGS.seed);
  const pick = (ids: number[]): LabelledVectors => ({ vectors: ids.map((id) => items[id].vector), classIds: ids.map((id) => items[id].classId) });
  const scores = await evaluateRetrieval(pick(split.validation), pick(split.train), DEFAULT_K);
  return { p_at_30: scores.precision_at_k, map_at_r: scores.map_at_r };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let [dot, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) [dot, aa, bb] = [dot + a[i] * b[i], aa + a[i] * a[i], bb + b[i] * b[i]];
  return dot / Math.sqrt(aa * bb);
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
