import { describe, expect, it } from 'vitest';
import { createRng } from '../../common/rng.js';
import { fitClassGaussians, unsortedNeighbours } from './novelty.js';
import { binomialTail, quantile } from './suggest.js';

describe('novelty in the untrained features', () => {
  it('scores a photo of a kind with no class above the photos of the classes (relative Mahalanobis distance)', () => {
    const rng = createRng(2);
    const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    // Three classes at 4 on their own axis of 5, spread 1; a new kind on the fourth axis.
    const at = (axis: number) => Float32Array.from({ length: 5 }, (_, d) => (d === axis ? 4 : 0) + normal());
    const photos = [0, 1, 2].flatMap((classId) => Array.from({ length: 40 }, () => ({ classId, vector: at(classId) })));
    const gaussians = fitClassGaussians(photos)!;
    const known = [0, 1, 2].flatMap((axis) => Array.from({ length: 10 }, () => gaussians.score(at(axis))));
    const strangers = Array.from({ length: 10 }, () => gaussians.score(at(3)));
    expect(quantile(strangers, 0.5)).toBeGreaterThan(quantile(known, 0.9));
    expect(gaussians.project(at(0))).toHaveLength(5);
  });

  it('needs two photos', () => {
    expect(fitClassGaussians([{ classId: 1, vector: Float32Array.of(1, 2) }])).toBeNull();
  });

  it('counts the unsorted photos among each photo\'s nearest others', () => {
    // On a line: labelled at 0, 1, 2; unsorted at 10, 11, 12 and 3.
    const photo = (id: number, x: number, unsorted: boolean) => ({ id, vector: Float64Array.of(x), unsorted });
    const counts = unsortedNeighbours([photo(1, 0, false), photo(2, 1, false), photo(3, 2, false), photo(4, 10, true), photo(5, 11, true), photo(6, 12, true), photo(7, 3, true)], 2);
    expect(counts.get(1)).toBe(0); // 1 and 2
    expect(counts.get(3)).toBe(1); // 1 and 3
    expect(counts.get(5)).toBe(2); // 10 and 12
    expect(counts.get(7)).toBe(0); // 2 and 1
  });

  it('gives the binomial tail', () => {
    expect(binomialTail(10, 10, 0.5)).toBeCloseTo(1 / 1024, 10);
    expect(binomialTail(10, 9, 0.5)).toBeCloseTo(11 / 1024, 10);
    expect(binomialTail(10, 0, 0.3)).toBe(1);
    expect(binomialTail(10, 1, 0)).toBe(0);
    expect(binomialTail(10, 3, 1)).toBe(1);
  });
});
