import { describe, expect, it } from 'vitest';
import { createRng } from '../../common/rng.js';
import { applyPca, fitPca } from './pca.js';

describe('PCA by a randomised range finder', () => {
  it('finds planted directions of most variance, in order, and projects on them', () => {
    const dim = 300;
    const count = 800;
    const rng = createRng(3);
    // Variance 25 along axis 7, 4 along axis 100, 0.01 elsewhere; the mean is 3 on every axis.
    const rows = new Float32Array(count * dim);
    for (let i = 0; i < count; i++) {
      for (let d = 0; d < dim; d++) rows[i * dim + d] = 3 + (rng() - 0.5) * Math.sqrt(12 * 0.01);
      rows[i * dim + 7] = 3 + (rng() - 0.5) * Math.sqrt(12 * 25);
      rows[i * dim + 100] = 3 + (rng() - 0.5) * Math.sqrt(12 * 4);
    }
    const basis = fitPca(rows, count, dim, 2);
    expect(basis.outputDim).toBe(2);
    expect(Math.abs(basis.directions[7])).toBeGreaterThan(0.99);
    expect(Math.abs(basis.directions[dim + 100])).toBeGreaterThan(0.99);
    expect(basis.mean[50]).toBeCloseTo(3, 1);
    const projected = new Float32Array(count * 2);
    applyPca(basis, rows, count, projected, 0);
    const variance = (axis: number) => projected.filter((_, i) => i % 2 === axis).reduce((sum, v) => sum + v * v, 0) / count;
    expect(variance(0)).toBeCloseTo(25, -1);
    expect(variance(1)).toBeCloseTo(4, 0);
  });

  it('keeps no more directions than the data has dimensions or rows', () => {
    const rows = Float32Array.from({ length: 5 * 3 }, (_, i) => i % 7);
    expect(fitPca(rows, 5, 3, 48).outputDim).toBe(3);
  });
});
