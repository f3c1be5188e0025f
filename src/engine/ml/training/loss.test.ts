import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { tripletLoss, tripletLosses } from './loss.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';

const t2 = (rows: number[][]) => tf.tensor2d(rows);

expectNoTensorLeaks();

describe('deep-ranking loss', () => {
  it('matches hand-computed values of max(0, g + D(q,p) - D(q,n)) with Euclidean D', () =>
    tf.tidy(() => {
      // Row 1: D(q,p) = 5 (3-4-5 triangle), D(q,n) = 1 -> 1 + 5 - 1 = 5.
      // Row 2: D(q,p) = 0, D(q,n) = 2 -> max(0, 1 + 0 - 2) = 0 (easy triplet, no loss).
      // Row 3: D(q,p) = 1, D(q,n) = sqrt(2) -> 1 + 1 - 1.41421356 = 0.58578644.
      const q = t2([[0, 0], [1, 1], [0, 0]]);
      const p = t2([[3, 4], [1, 1], [1, 0]]);
      const n = t2([[1, 0], [1, 3], [1, 1]]);
      const losses = Array.from(tripletLosses(q, p, n, 1).dataSync());
      expect(losses[0]).toBeCloseTo(5, 5);
      expect(losses[1]).toBeCloseTo(0, 5);
      expect(losses[2]).toBeCloseTo(2 - Math.SQRT2, 5);
      expect(tripletLoss(q, p, n, 1).dataSync()[0]).toBeCloseTo((5 + 0 + 2 - Math.SQRT2) / 3, 5);
    }));

  it('uses the distance, not its square', () =>
    tf.tidy(() => {
      const q = t2([[0, 0]]);
      const p = t2([[2, 0]]);
      const n = t2([[3, 0]]);
      // Euclidean: 0.5 + 2 - 3 = -0.5 -> 0. Squared would give 0.5 + 4 - 9 < 0 too, so check a case where they differ:
      expect(tripletLosses(q, p, n, 0.5).dataSync()[0]).toBeCloseTo(0, 6);
      expect(tripletLosses(q, p, n, 1.5).dataSync()[0]).toBeCloseTo(0.5, 5); // squared would give 1.5 + 4 - 9 -> 0
    }));

  it('scales with the gap g', () =>
    tf.tidy(() => {
      const q = t2([[0, 0]]);
      const p = t2([[1, 0]]);
      const n = t2([[0, 1]]);
      expect(tripletLosses(q, p, n, 0.25).dataSync()[0]).toBeCloseTo(0.25, 5);
      expect(tripletLosses(q, p, n, 2).dataSync()[0]).toBeCloseTo(2, 5);
    }));

  it('has a finite gradient when query and positive coincide', () =>
    tf.tidy(() => {
      const q = t2([[1, 2]]);
      const grad = tf.grad((x: tf.Tensor) => tripletLoss(x as tf.Tensor2D, t2([[1, 2]]), t2([[1, 2.5]]), 1))(q);
      expect(Array.from(grad.dataSync()).every(Number.isFinite)).toBe(true);
    }));

  it('frees every intermediate tensor', () =>
    tf.tidy(() => {
      const q = t2([[0, 0]]);
      const before = tf.memory().numTensors;
      tripletLoss(q, q, q, 1).dispose();
      expect(tf.memory().numTensors).toBe(before);
    }));
});
