// One-off: pooled features of several depths of the built-in backbone (and of each photo's mirror)
// for every photo under a library folder, into one binary cache for the multi-scale experiments.
//   npx tsx scripts/multiscale-features.ts [library] [out prefix]
// Writes <out>.json (paths, layer names and widths) and <out>.f32 (per photo, per view, per layer).
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { BUILTIN_BACKBONE } from '../src/shared/builtin-backbone.js';
import { readBuiltinArtifacts, scalePixels } from '../src/engine/ml/backbone/backbone.js';
import { selectBackend } from '../src/engine/ml/runtime/compute-backend.js';
import { openOnnxRunner } from '../src/engine/ml/backbone/onnx-backbone.js';
import { decodeForModel } from '../src/engine/library/image.js';

const root = process.argv[2] ?? '../shared/datasets/flowers17';
const out = process.argv[3] ?? '/tmp/ms-flowers17';
const SIDE = BUILTIN_BACKBONE.inputSize;
const PREFIX = BUILTIN_BACKBONE.featureNode.replace(/Logits\/AvgPool$/, '');
const LAYERS = [
  'expanded_conv_5/add',
  'expanded_conv_6/expand/Relu6',
  'expanded_conv_9/add',
  'expanded_conv_10/expand/Relu6',
  'expanded_conv_12/add',
  'expanded_conv_13/expand/Relu6',
  'expanded_conv_15/add',
  'expanded_conv_16/expand/Relu6',
  'expanded_conv_16/project/BatchNorm/FusedBatchNormV3',
  'Logits/AvgPool',
];
await selectBackend();
const artifacts = await readBuiltinArtifacts();
const graph = await loadGraphModel(tf.io.fromMemory(artifacts));
const runner = await openOnnxRunner(graph, artifacts, LAYERS.map((l) => PREFIX + l), { threads: 2 });
const paths = readdirSync(root).sort().flatMap((c) => readdirSync(join(root, c)).sort().map((f) => `${c}/${f}`));
const mirror = (px: Uint8Array, size: number) => {
  const m = new Uint8Array(px.length);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) m.set(px.subarray((y * size + x) * 3, (y * size + x) * 3 + 3), (y * size + size - 1 - x) * 3);
  return m;
};
let dims: number[] = [];
const chunks: Float32Array[] = [];
const started = Date.now();
const BATCH = 8;
for (let i = 0; i < paths.length; i += BATCH) {
  const batch = paths.slice(i, i + BATCH);
  const images = await Promise.all(batch.map(async (p) => (await decodeForModel(join(root, p), SIDE, p)).pixels));
  const views = [images, images.map((im) => mirror(im, SIDE))];
  const outs = [];
  for (const view of views) outs.push(await runner.runEach(scalePixels(view, SIDE, BUILTIN_BACKBONE.inputRange), view.length, SIDE));
  dims = outs[0].map((o) => o.length / batch.length);
  for (let b = 0; b < batch.length; b++) for (const o of outs) for (const [l, d] of dims.entries()) chunks.push(o[l].slice(b * d, (b + 1) * d));
  if (i % 200 === 0) console.error(i, paths.length, ((Date.now() - started) / 1000).toFixed(0), 's');
}
await runner.dispose();
const total = chunks.reduce((a, c) => a + c.length, 0);
const flat = new Float32Array(total);
let offset = 0;
for (const c of chunks) {
  flat.set(c, offset);
  offset += c.length;
}
writeFileSync(`${out}.f32`, flat);
writeFileSync(`${out}.json`, JSON.stringify({ root, paths, layers: LAYERS, dims, views: ['plain', 'mirror'] }));
console.error(`${paths.length} photos, dims ${dims.join(',')}, ${((Date.now() - started) / 1000).toFixed(0)} s`);
