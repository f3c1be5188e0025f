import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradients of the ops around ours (mean, add)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scalePixels } from './backbone.js';
import { selectBackend } from '../runtime/compute-backend.js';
import { decodeForModel } from '../../library/image.js';
import { FLOWERS17, photosOf } from '../../testing/test-photos.js';
import { BuiltinGraph } from './trainable-backbone.js';

const haveFlowers = existsSync(FLOWERS17);
if (!haveFlowers) console.warn(`skipping the trainable backbone tests: ${FLOWERS17} is missing`);

function relativeError(got: Float32Array, expected: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (got[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

describe.skipIf(!haveFlowers)('the built-in MobileNetV2-1.4 rebuilt as trainable blocks', () => {
  let graph: BuiltinGraph;
  let images: Uint8Array[];

  beforeAll(async () => {
    await selectBackend();
    graph = await BuiltinGraph.load();
    const files = [...photosOf('sunflower').slice(0, 2), ...photosOf('snowdrop').slice(0, 1)];
    images = await Promise.all(files.map(async (f, i) => (await decodeForModel(join(FLOWERS17, i < 2 ? 'sunflower' : 'snowdrop', f), 224)).pixels));
  });
  afterAll(() => graph?.dispose());

  it('has the 17 inverted-residual blocks of MobileNetV2, and refuses a cut outside them', () => {
    expect(graph.blockCount).toBe(17);
    expect(graph.cutPoint(0).shape).toEqual([7, 7, 448]);
    expect(graph.cutPoint(2).shape).toEqual([7, 7, 224]);
    expect(() => graph.cutPoint(18)).toThrow(/from 0 to 17/);
    expect(() => graph.cutPoint(-1)).toThrow(/from 0 to 17/);
  });

  it.each([0, 1, 3, 5])('from the input of block %i from the end it gives the graph features (relative error < 1e-3)', async (blocks) => {
    const cut = graph.cutPoint(blocks);
    const expected = await graph.features(images);
    const activations = await graph.activations(images, cut);
    const blocksNet = graph.trainable(cut);
    const before = tf.memory().numTensors;
    const pooled = tf.tidy(() => blocksNet.apply(tf.tensor4d(concat(activations), [images.length, ...cut.shape])));
    const got = pooled.dataSync() as Float32Array;
    pooled.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(got.length).toBe(images.length * 1792);
    for (let i = 0; i < images.length; i++) expect(relativeError(got.subarray(i * 1792, (i + 1) * 1792), expected[i])).toBeLessThan(1e-3);
    blocksNet.dispose();
  });

  it('from the graph\'s input (the whole network, "full") it gives the graph features, and refuses a side under 32', async () => {
    const cut = graph.inputCut();
    expect(cut).toMatchObject({ blocks: 17, shape: [224, 224, 3] });
    expect(() => graph.inputCut(16)).toThrow(/at least 32 pixels/);
    const expected = await graph.features(images);
    const net = graph.trainable(cut);
    // The stem (a 3×3 convolution of the photo) trains too; the input's rescaling does not.
    expect(Object.keys(net.namedWeights()).some((name) => name.includes('MobilenetV2/Conv/'))).toBe(true);
    const before = tf.memory().numTensors;
    const pooled = tf.tidy(() => net.apply(tf.tensor4d(scalePixels(images, 224, '0,1'), [images.length, 224, 224, 3])));
    const got = pooled.dataSync() as Float32Array;
    pooled.dispose();
    expect(tf.memory().numTensors).toBe(before);
    for (let i = 0; i < images.length; i++) expect(relativeError(got.subarray(i * 1792, (i + 1) * 1792), expected[i])).toBeLessThan(1e-3);
    net.dispose();
  });

  it('loads saved weights by name and refuses ones of the wrong shape', () => {
    const cut = graph.cutPoint(1);
    const net = graph.trainable(cut);
    const saved = net.namedWeights();
    const [firstName] = Object.keys(saved);
    const changed = tf.tidy(() => ({ ...saved, [firstName]: tf.add(saved[firstName], 1) }));
    const reloaded = graph.trainable(cut, changed);
    expect(tf.sub(reloaded.namedWeights()[firstName], saved[firstName]).dataSync()[0]).toBeCloseTo(1, 5);
    const wrong = { ...saved, [firstName]: tf.zeros([2, 2]) };
    expect(() => graph.trainable(cut, wrong)).toThrow(/has shape 2x2, expected/);
    tf.dispose([changed[firstName], wrong[firstName]]);
    net.dispose();
    reloaded.dispose();
  });
});

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
