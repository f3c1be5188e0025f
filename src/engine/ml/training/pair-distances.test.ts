import { describe, expect, it } from 'vitest';
import { createRng } from '../../common/rng.js';
import { pairDistances, squaredDistance } from './pair-distances.js';

const randomVectors = (count: number, dim: number, seed: number) => {
  const random = createRng(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: dim }, () => random() * 2 - 1));
};

describe('pair distances: a block of queries against a gallery', () => {
  // 5,000 gallery vectors: more than one chunk of the matrix product.
  const gallery = randomVectors(5000, 48, 1);
  const queries = randomVectors(37, 48, 2);

  it('ONNX Runtime and the JavaScript loop give every squared distance, row by row', async () => {
    const product = await pairDistances(gallery, 'onnxruntime');
    const loop = await pairDistances(gallery, 'js');
    expect([product.runtime, loop.runtime]).toEqual(['onnxruntime', 'js']);
    const [fast, slow] = [await product.rows(queries), await loop.rows(queries)];
    expect(fast.length).toBe(queries.length * gallery.length);
    let worst = 0;
    for (let q = 0; q < queries.length; q++) {
      for (let i = 0; i < gallery.length; i += 7) {
        const exact = squaredDistance(queries[q], gallery[i]);
        expect(slow[q * gallery.length + i]).toBeCloseTo(exact, 4);
        worst = Math.max(worst, Math.abs(fast[q * gallery.length + i] - exact) / Math.max(1, exact));
      }
    }
    expect(worst).toBeLessThan(1e-5);
  });

  it('a photo against itself is at distance 0, never below', async () => {
    const product = await pairDistances(gallery.slice(0, 300), 'onnxruntime');
    const rows = await product.rows(gallery.slice(0, 3));
    for (let q = 0; q < 3; q++) {
      expect(rows[q * 300 + q]).toBeGreaterThanOrEqual(0);
      expect(rows[q * 300 + q]).toBeLessThan(1e-4);
    }
    expect(Math.min(...rows)).toBeGreaterThanOrEqual(0);
  });

  it('refuses vectors of another length by name', async () => {
    const product = await pairDistances(gallery.slice(0, 10), 'onnxruntime');
    await expect(product.rows([new Float32Array(5)])).rejects.toThrow(/5 and 48 values/);
  });
});
