import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers TF.js's own gradients, the reference below
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depthwiseConv, inputConv, pointwiseConv, samePadding, type Activation } from './gradients.js';

/** Deterministic values in [-scale, scale]: different per seed, no RNG state shared between tests. */
function values(shape: number[], seed: number, scale = 1): tf.Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: count }, (_, i) => scale * Math.sin(seed * 12.9898 + i * 78.233)), shape);
}

function relativeError(got: tf.Tensor, expected: tf.Tensor): number {
  const diff = tf.norm(tf.sub(got, expected)).dataSync()[0];
  return diff / Math.max(tf.norm(expected).dataSync()[0], 1e-12);
}

function withActivation(z: tf.Tensor4D, activation: Activation): tf.Tensor4D {
  return activation === 'relu6' ? tf.relu6(z) : z;
}

/** TF.js's own ops, whose gradients TF.js derives: the reference. */
const reference = {
  pointwise: (x: tf.Tensor4D, f: tf.Tensor2D, b: tf.Tensor1D, activation: Activation) =>
    withActivation(tf.add(tf.conv2d(x, tf.reshape(f, [1, 1, ...f.shape]) as tf.Tensor4D, 1, 'same'), b), activation),
  depthwise: (x: tf.Tensor4D, f: tf.Tensor4D, b: tf.Tensor1D, stride: 1 | 2, activation: Activation) =>
    withActivation(tf.add(tf.depthwiseConv2d(x, f, stride, 'same'), b), activation),
};

/** Gradients of sum(op(x, f, b) · target) with respect to x, f and b, and the value itself. */
function gradsOf(op: (x: tf.Tensor4D, f: tf.Tensor, b: tf.Tensor1D) => tf.Tensor4D, x: tf.Tensor, f: tf.Tensor, b: tf.Tensor, target: tf.Tensor) {
  const loss = (xi: tf.Tensor, fi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(op(xi as tf.Tensor4D, fi, bi as tf.Tensor1D), target));
  const { value, grads } = tf.valueAndGrads(loss)([x, f, b]);
  return { value, grads };
}

describe('hand-written convolution gradients against TF.js on the cpu backend', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it.each([
    { shape: [3, 5, 7, 6], out: 9, activation: 'relu6' as const },
    { shape: [2, 7, 7, 11], out: 4, activation: 'linear' as const },
  ])('1x1 conv $shape -> $out channels, $activation', ({ shape, out, activation }) => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const [x, f, b] = [values(shape, 1, 6), values([shape[3], out], 2, 2), values([out], 3)];
      const target = values([...shape.slice(0, 3), out], 4);
      const ours = gradsOf((xi, fi, bi) => pointwiseConv(xi, fi as tf.Tensor2D, bi, activation), x, f, b, target);
      const theirs = gradsOf((xi, fi, bi) => reference.pointwise(xi, fi as tf.Tensor2D, bi, activation), x, f, b, target);
      expect(relativeError(ours.value, theirs.value)).toBeLessThan(1e-5);
      ours.grads.forEach((g, i) => expect(relativeError(g, theirs.grads[i]), `input ${i}`).toBeLessThan(1e-4));
      // ReLU6 must cut both ends for the test to mean anything.
      if (activation === 'relu6') {
        const y = pointwiseConv(x as tf.Tensor4D, f as tf.Tensor2D, b as tf.Tensor1D, activation);
        expect(tf.sum(tf.cast(tf.equal(y, 0), 'int32')).dataSync()[0]).toBeGreaterThan(0);
        expect(tf.sum(tf.cast(tf.equal(y, 6), 'int32')).dataSync()[0]).toBeGreaterThan(0);
      }
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    { shape: [2, 7, 7, 5], k: 3, stride: 1 as const, multiplier: 1, activation: 'relu6' as const },
    { shape: [2, 7, 9, 5], k: 3, stride: 2 as const, multiplier: 1, activation: 'relu6' as const },
    { shape: [3, 8, 6, 4], k: 3, stride: 2 as const, multiplier: 1, activation: 'linear' as const },
    { shape: [1, 11, 5, 3], k: 5, stride: 2 as const, multiplier: 1, activation: 'relu6' as const },
    { shape: [2, 5, 6, 3], k: 3, stride: 1 as const, multiplier: 2, activation: 'linear' as const },
  ])('depthwise $k x $k stride $stride on $shape, multiplier $multiplier, $activation', ({ shape, k, stride, multiplier, activation }) => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const channels = shape[3] * multiplier;
      const [x, f, b] = [values(shape, 5, 4), values([k, k, shape[3], multiplier], 6), values([channels], 7)];
      const rows = samePadding(shape[1], k, stride).out;
      const cols = samePadding(shape[2], k, stride).out;
      const target = values([shape[0], rows, cols, channels], 8);
      const ours = gradsOf((xi, fi, bi) => depthwiseConv(xi, fi as tf.Tensor4D, bi, stride, activation), x, f, b, target);
      const theirs = gradsOf((xi, fi, bi) => reference.depthwise(xi, fi as tf.Tensor4D, bi, stride, activation), x, f, b, target);
      expect(ours.value.shape).toEqual([]);
      expect(relativeError(ours.value, theirs.value)).toBeLessThan(1e-5);
      ours.grads.forEach((g, i) => {
        expect(g.shape, `input ${i}`).toEqual(theirs.grads[i].shape);
        expect(relativeError(g, theirs.grads[i]), `input ${i}`).toBeLessThan(1e-4);
      });
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each([
    { shape: [2, 9, 7, 3], k: 3, stride: 2, out: 5, activation: 'relu6' as const },
    { shape: [3, 8, 8, 3], k: 3, stride: 2, out: 4, activation: 'linear' as const },
    { shape: [1, 7, 11, 2], k: 5, stride: 1, out: 3, activation: 'relu6' as const },
  ])('input conv $k x $k stride $stride on $shape -> $out, $activation: filter and bias gradients', ({ shape, k, stride, out, activation }) => {
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const [x, f, b] = [values(shape, 21, 3) as tf.Tensor4D, values([k, k, shape[3], out], 22), values([out], 23)];
      const target = values([shape[0], samePadding(shape[1], k, stride).out, samePadding(shape[2], k, stride).out, out], 24);
      const lossOf = (op: (fi: tf.Tensor4D, bi: tf.Tensor1D) => tf.Tensor4D) => (fi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(op(fi as tf.Tensor4D, bi as tf.Tensor1D), target));
      // x is computed inside (as the network's rescaled photo is, in a tidy that frees it): the op must keep it.
      const ours = tf.valueAndGrads(lossOf((fi, bi) => tf.tidy(() => inputConv(tf.mul(x, 1), fi, bi, stride, activation))))([f, b]);
      const theirs = tf.valueAndGrads(lossOf((fi, bi) => withActivation(tf.add(tf.conv2d(x, fi, stride, 'same'), bi), activation)))([f, b]);
      expect(relativeError(ours.value, theirs.value)).toBeLessThan(1e-5);
      ours.grads.forEach((g, i) => {
        expect(g.shape, `input ${i}`).toEqual(theirs.grads[i].shape);
        expect(relativeError(g, theirs.grads[i]), `input ${i}`).toBeLessThan(1e-4);
      });
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('tells a filter of the wrong size from a right one', () => {
    const x = tf.zeros([1, 3, 3, 4]) as tf.Tensor4D;
    expect(() => pointwiseConv(x, tf.zeros([5, 2]), tf.zeros([2]), 'linear')).toThrow(/4 channels, filter expects 5/);
    expect(() => depthwiseConv(x, tf.zeros([3, 3, 2, 1]), tf.zeros([2]), 1, 'linear')).toThrow(/4 channels, filter expects 2/);
    tf.disposeVariables();
  });
});

describe('on the wasm backend (which has no convolution backward kernels)', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it('one Adam step on a depthwise + 1x1 block lowers the loss, without leaking tensors', () => {
    const dw = tf.variable(values([3, 3, 6, 1], 11, 0.5)) as tf.Variable<tf.Rank.R4>;
    const dwBias = tf.variable(tf.zeros([6])) as tf.Variable<tf.Rank.R1>;
    const pw = tf.variable(values([6, 4], 12, 0.5)) as tf.Variable<tf.Rank.R2>;
    const pwBias = tf.variable(tf.zeros([4])) as tf.Variable<tf.Rank.R1>;
    const x = values([4, 9, 9, 6], 13, 2) as tf.Tensor4D;
    const target = values([4, 5, 5, 4], 14);
    const loss = () => tf.tidy(() => tf.mean(tf.square(tf.sub(pointwiseConv(depthwiseConv(x, dw, dwBias, 2, 'relu6'), pw, pwBias, 'linear'), target))) as tf.Scalar);
    const optimizer = tf.train.adam(0.01);
    const first = loss();
    // Adam makes its moment slots on the first step; after that no step may leave a tensor behind.
    tf.dispose(optimizer.minimize(loss, true) ?? []);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) tf.dispose(optimizer.minimize(loss, true) ?? []);
    expect(tf.memory().numTensors).toBe(before);
    const last = loss();
    expect(tf.getBackend()).toBe('wasm');
    expect(last.dataSync()[0]).toBeLessThan(first.dataSync()[0]);
    tf.dispose([first, last, x, target]);
    optimizer.dispose();
    tf.dispose([dw, dwBias, pw, pwBias]);
  });
});
