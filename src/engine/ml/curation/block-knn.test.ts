import { describe, expect, it } from 'vitest';
import { createRng } from '../../common/rng.js';
import { allNearest, blockBounds } from './block-knn.js';

const DIM = 16;

function vectors(count: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: count * DIM }, () => rng() * 2 - 1);
}

/** The k nearest others of every vector by plain double loops (ties by position). */
function bruteForce(all: Float32Array, count: number, k: number): number[][] {
  return Array.from({ length: count }, (_, i) => {
    const others: Array<[number, number]> = [];
    for (let j = 0; j < count; j++) {
      if (j === i) continue;
      let sum = 0;
      for (let d = 0; d < DIM; d++) sum += (all[i * DIM + d] - all[j * DIM + d]) ** 2;
      others.push([Math.sqrt(sum), j]);
    }
    return others.sort((a, b) => a[0] - b[0] || a[1] - b[1]).slice(0, k).map(([, j]) => j);
  });
}

describe('every vector’s nearest by blocks', () => {
  it('finds the same neighbours and distances as a double loop, across uneven blocks', async () => {
    const count = 301;
    const all = vectors(count, 3);
    // A planted exact copy and a near copy.
    all.copyWithin(200 * DIM, 7 * DIM, 8 * DIM);
    for (let d = 0; d < DIM; d++) all[250 * DIM + d] = all[42 * DIM + d] + 0.001;
    const reads: Array<[number, number]> = [];
    const got = await allNearest(count, DIM, 5, (start, end) => (reads.push([start, end]), all.slice(start * DIM, end * DIM)), { block: 64 });
    const expected = bruteForce(all, count, 5);
    for (let i = 0; i < count; i++) expect([...got.index.subarray(i * 5, i * 5 + 5)], `${i} ${[...got.distance.subarray(i * 5, i * 5 + 5)]}`).toEqual(expected[i]);
    expect(got.index[200 * 5]).toBe(7);
    expect(got.distance[200 * 5]).toBe(0);
    expect(got.index[250 * 5]).toBe(42);
    expect(got.distance[250 * 5]).toBeCloseTo(0.001 * Math.sqrt(DIM), 5);
    // Blocks of 64, the last 45 rows their own block: each block pair once, never the whole set at once.
    expect(reads.every(([start, end]) => end - start <= 64)).toBe(true);
    expect(reads.length).toBe(5 + 4 + 3 + 2 + 1);
  });

  it('joins a last block with fewer than k + 1 rows to the one before', () => {
    expect(blockBounds(130, 64, 6)).toEqual([
      [0, 64],
      [64, 130],
    ]);
    expect(blockBounds(140, 64, 6)).toEqual([
      [0, 64],
      [64, 128],
      [128, 140],
    ]);
  });
});
