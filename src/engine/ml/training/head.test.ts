import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers TF.js's own gradients, the reference below
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../runtime/compute-backend.js';
import { CENTRE_WEIGHT, EmbeddingHead, linear, meanVector, normalizeVector, packTensors, unpackTensors } from './head.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';

expectNoTensorLeaks();

beforeAll(async () => {
  await selectBackend();
});

describe('embedding head', () => {
  const config = { inputDim: 6, dim: 3, hidden: 0, normalize: true };

  it('maps features to unit-length embeddings of the configured size', async () => {
    const head = EmbeddingHead.create(config, 1);
    const out = await head.embed([Float32Array.from([1, 2, 3, 4, 5, 6]), Float32Array.from([0, 1, 0, 1, 0, 1])]);
    expect(out).toHaveLength(2);
    for (const v of out) {
      expect(v).toHaveLength(3);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    }
    head.dispose();
  });

  it('has the gradients TF.js itself derives (its hand-written x·w gradient), through a hidden layer too', () => tf.tidy(() => {
    const head = EmbeddingHead.create({ ...config, hidden: 4 }, 3);
    const x = tf.tensor2d(Array.from({ length: 5 * 6 }, (_, i) => Math.sin(i)), [5, 6]);
    const target = tf.tensor2d(Array.from({ length: 5 * 3 }, (_, i) => Math.cos(i)), [5, 3]);
    const [w0, b0, w1, b1] = head.variables;
    const reference = () => {
      const hidden = tf.relu(tf.add(tf.matMul(x, w0 as tf.Tensor2D), b0));
      const out = tf.add(tf.matMul(hidden, w1 as tf.Tensor2D), b1);
      return tf.sum(tf.mul(tf.div(out, tf.norm(out, 'euclidean', -1, true)), target)) as tf.Scalar;
    };
    const ours = () => tf.sum(tf.mul(head.apply(x), target)) as tf.Scalar;
    const expected = tf.variableGrads(reference, head.variables);
    const got = tf.variableGrads(ours, head.variables);
    expect(got.value.dataSync()[0]).toBeCloseTo(expected.value.dataSync()[0], 5);
    for (const name of Object.keys(expected.grads)) {
      const [e, g] = [expected.grads[name].dataSync(), got.grads[name].dataSync()];
      expect(Math.max(...e.map(Math.abs))).toBeGreaterThan(1e-4);
      e.forEach((v, i) => expect(g[i]).toBeCloseTo(v, 5));
    }
    head.dispose();
  }));

  it('computes x·w and its gradients as tf.matMul does, whichever backend runs here (the head uses it on wasm)', () =>
    tf.tidy(() => {
      const x = tf.tensor2d(Array.from({ length: 5 * 6 }, (_, i) => Math.sin(i + 1)), [5, 6]);
      const w = tf.tensor2d(Array.from({ length: 6 * 3 }, (_, i) => Math.cos(i * 0.7)), [6, 3]);
      const target = tf.tensor2d(Array.from({ length: 5 * 3 }, (_, i) => Math.sin(i * 1.3)), [5, 3]);
      const objective = (product: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D) => (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.square(product(a as tf.Tensor2D, b as tf.Tensor2D)), target));
      const ours = tf.grads(objective(linear))([x, w]);
      const reference = tf.grads(objective((a, b) => tf.matMul(a, b)))([x, w]);
      expect(Array.from(linear(x, w).dataSync())).toEqual(Array.from(tf.matMul(x, w).dataSync()).map((v) => expect.closeTo(v, 5)));
      for (const [i, expected] of reference.entries()) {
        const [e, g] = [expected.dataSync(), ours[i].dataSync()];
        expect(Math.max(...e.map(Math.abs))).toBeGreaterThan(1e-3);
        e.forEach((v, j) => expect(g[j]).toBeCloseTo(v, 4));
      }
    }));

  it('is one function: the same input gives the same embedding (shared weights across branches)', async () => {
    const head = EmbeddingHead.create({ ...config, hidden: 4 }, 2);
    const x = Float32Array.from([0.3, -0.2, 0.9, 0.1, 0, 0.5]);
    const [a, b] = await head.embed([x, x]);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(head.variables).toHaveLength(4);
    head.dispose();
  });

  it('round-trips its weights through the stored blob, and refuses weights of the wrong shape', async () => {
    const head = EmbeddingHead.create(config, 3);
    const blob = await packTensors(head.namedWeights());
    const restored = EmbeddingHead.fromPacked(config, blob);
    const x = [Float32Array.from([1, 0, 0, 0, 0, 1])];
    expect(Array.from((await restored.embed(x))[0])).toEqual(Array.from((await head.embed(x))[0]));
    expect(() => EmbeddingHead.fromPacked({ ...config, dim: 4 }, blob)).toThrow(/head_w0 has shape 6x3, expected 6x4/);
    const unpacked = unpackTensors(blob);
    expect(Object.keys(unpacked).sort()).toEqual(['head_b1', 'head_w0']);
    tf.dispose(Object.values(unpacked));
    head.dispose();
    restored.dispose();
  });

  describe('centred on the training mean, one layer segment at a time', () => {
    const centred = { ...config, centre: { segments: [2, 4] } };
    const training = [Float32Array.from([1, 0, 0.5, 0.5, 0.5, 0.5]), Float32Array.from([0, 1, 0, 1, 0, 0]), Float32Array.from([0.6, 0.8, 0, 0, 1, 0])];
    const centre = meanVector(training);

    it('takes the mean of the training features', () => {
      expect(Array.from(centre)).toEqual([1.6 / 3, 1.8 / 3, 0.5 / 3, 1.5 / 3, 1.5 / 3, 0.5 / 3].map((v) => expect.closeTo(v, 6)));
    });

    it('embeds each segment minus its mean, L2-normalised on its own, as a head without centring would embed that vector', async () => {
      const head = EmbeddingHead.create(centred, 4, centre);
      const plain = EmbeddingHead.fromWeights(config, head.namedWeights());
      const x = Float32Array.from([0.2, 0.9, 0.1, 0.3, 0.7, 0.4]);
      const unit = (v: number[]) => Array.from(normalizeVector(Float32Array.from(v)));
      const byHand = [...unit([0.2 - centre[0], 0.9 - centre[1]]), ...unit([0.1 - centre[2], 0.3 - centre[3], 0.7 - centre[4], 0.4 - centre[5]])].map((v) => v / Math.SQRT2);
      const [got] = await head.embed([x]);
      const [expected] = await plain.embed([Float32Array.from(byHand)]);
      expect(Array.from(got)).toEqual(Array.from(expected).map((v) => expect.closeTo(v, 5)));
      // Without the centre the same weights answer otherwise: the centring is not a no-op here.
      const [uncentred] = await plain.embed([x]);
      expect(Math.max(...Array.from(got, (v, i) => Math.abs(v - uncentred[i])))).toBeGreaterThan(0.01);
      head.dispose();
      plain.dispose();
    });

    it('centres plain vectors as apply does, so training can centre its set once', async () => {
      const head = EmbeddingHead.create(centred, 6, centre);
      const restored = EmbeddingHead.fromWeights(centred, head.namedWeights());
      const xs = [Float32Array.from([0.2, 0.9, 0.1, 0.3, 0.7, 0.4]), Float32Array.from([1, 0, 0, 0, 0, 1])];
      const whole = await head.embed(xs);
      for (const h of [head, restored]) {
        const viaInputs = await h.embed(h.centreInputs(xs), undefined, true);
        viaInputs.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(whole[i]).map((w) => expect.closeTo(w, 5))));
      }
      const plain = EmbeddingHead.create(config, 6);
      expect(plain.centreInputs(xs)).toBe(xs);
      for (const h of [head, restored, plain]) h.dispose();
    });

    it('keeps the centre with its weights, untrained, and refuses a missing or mis-sized one', async () => {
      const head = EmbeddingHead.create(centred, 5, centre);
      expect(head.variables).toHaveLength(2); // what an optimiser updates: the centre is not among them
      const blob = await packTensors(head.namedWeights());
      const restored = EmbeddingHead.fromPacked(centred, blob);
      const x = [Float32Array.from([0.5, 0.1, 0.2, 0.9, 0.3, 0.3])];
      expect(Array.from((await restored.embed(x))[0])).toEqual(Array.from((await head.embed(x))[0]));
      const unpacked = unpackTensors(blob);
      expect(Array.from(unpacked[CENTRE_WEIGHT].dataSync())).toEqual(Array.from(centre));
      tf.dispose(Object.values(unpacked));
      const plain = EmbeddingHead.fromWeights(config, head.namedWeights());
      const plainBlob = await packTensors(plain.namedWeights());
      plain.dispose();
      expect(() => EmbeddingHead.fromPacked(centred, plainBlob)).toThrow(/checkpoint lacks head_centre/);
      expect(() => EmbeddingHead.create(centred, 1)).toThrow(/needs the mean of its 6-value training features/);
      expect(() => EmbeddingHead.create(centred, 1, new Float32Array(5))).toThrow(/got 5/);
      expect(() => EmbeddingHead.create({ ...config, centre: { segments: [2, 3] } }, 1, centre)).toThrow(/summing to inputDim 6/);
      head.dispose();
      restored.dispose();
    });
  });

  it('refuses a bad configuration', () => {
    expect(() => EmbeddingHead.create({ ...config, dim: 0 }, 1)).toThrow(/dim must be a positive whole number/);
    expect(() => EmbeddingHead.create({ ...config, hidden: -1 }, 1)).toThrow(/hidden must be 0 or a positive/);
  });

  it('normalises plain vectors and leaves the zero vector at zero', () => {
    expect(Array.from(normalizeVector(Float32Array.from([3, 4])))).toEqual([0.6000000238418579, 0.800000011920929]);
    expect(Array.from(normalizeVector(new Float32Array(2)))).toEqual([0, 0]);
  });
});
