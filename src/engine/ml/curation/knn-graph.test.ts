import { describe, expect, it } from 'vitest';
import { createRng } from '../../common/rng.js';
import { knnGraph } from './knn-graph.js';

describe('the k-nearest-neighbour graph', () => {
  it('through random-projection trees and NN-descent finds nearly all the exact neighbours', () => {
    const count = 6000;
    const dim = 12;
    const k = 10;
    const rng = createRng(9);
    const points = Float32Array.from({ length: count * dim }, () => rng());
    const approximate = knnGraph(points, count, dim, k, { exactUpTo: 0 });
    const exact = knnGraph(points, count, dim, k, { exactUpTo: count });
    let found = 0;
    for (let i = 0; i < count; i++) {
      const truth = new Set(exact.index.subarray(i * k, (i + 1) * k));
      for (const j of approximate.index.subarray(i * k, (i + 1) * k)) if (truth.has(j)) found++;
    }
    // Uniform random points, the hardest case (no clusters to follow): 0.95-0.97 measured.
    expect(found / (count * k)).toBeGreaterThan(0.94);
    // Nearest first, never itself, squared distances that match the points.
    for (const i of [0, 1234, 5999]) {
      const row = [...approximate.distance.subarray(i * k, (i + 1) * k)];
      expect(row).toEqual([...row].sort((a, b) => a - b));
      expect([...approximate.index.subarray(i * k, (i + 1) * k)]).not.toContain(i);
      const j = approximate.index[i * k];
      const d = Array.from({ length: dim }, (_, c) => (points[i * dim + c] - points[j * dim + c]) ** 2).reduce((a, b) => a + b);
      expect(approximate.distance[i * k]).toBeCloseTo(d, 5);
    }
  });

  it('gives every point k others when there are more than k, identical points included', () => {
    const points = new Float32Array(50 * 4).fill(1);
    const graph = knnGraph(points, 50, 4, 5, { exactUpTo: 0, leafSize: 8 });
    expect(graph.index.every((j) => j >= 0)).toBe(true);
  });
});
