import { describe, expect, it } from 'vitest';
import { createRng } from '../../common/rng.js';
import { nearWithin } from './near-pairs.js';

const DIM = 64;
const RADIUS = 0.6;

function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

/**
 * Unit vectors whose variance lies in `rank` directions (like real embeddings; rank = DIM: none
 * preferred), every 10th a near copy of the one before at a distance from 0 to about 0.7 (some
 * beyond the radius), and one group of five copies.
 */
function library(count: number, rank: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const all = new Float32Array(count * DIM);
  for (let i = 0; i < count; i++) {
    const v = all.subarray(i * DIM, (i + 1) * DIM);
    if (i % 10 === 9) {
      const noise = 0.12 * (i % 60) / 9;
      for (let d = 0; d < DIM; d++) v[d] = all[(i - 1) * DIM + d] + (noise * gaussian(rng)) / Math.sqrt(DIM);
    } else if (i > 500 && i <= 504) v.set(all.subarray(500 * DIM, 501 * DIM));
    else for (let d = 0; d < rank; d++) v[d] = gaussian(rng) + (d === 0 ? 0.5 : 0);
    const norm = Math.hypot(...v);
    for (let d = 0; d < DIM; d++) v[d] /= norm;
  }
  return all;
}

/** Each vector's k nearest others within the radius by a double loop (ties by position). */
function bruteForce(all: Float32Array, count: number, k: number): Array<Array<[number, number]>> {
  return Array.from({ length: count }, (_, i) => {
    const near: Array<[number, number]> = [];
    for (let j = 0; j < count; j++) {
      if (j === i) continue;
      let sum = 0;
      for (let d = 0; d < DIM; d++) sum += (all[i * DIM + d] - all[j * DIM + d]) ** 2;
      if (Math.sqrt(sum) <= RADIUS) near.push([j, Math.sqrt(sum)]);
    }
    return near.sort((a, b) => a[1] - b[1] || a[0] - b[0]).slice(0, k);
  });
}

async function expectBruteForce(all: Float32Array, count: number, k: number) {
  const reads: Array<[number, number]> = [];
  const got = await nearWithin(count, DIM, k, RADIUS, (start, end) => (reads.push([start, end]), all.slice(start * DIM, end * DIM)), { block: 256, projectFrom: 0 });
  const expected = bruteForce(all, count, k);
  let pairs = 0;
  for (let i = 0; i < count; i++) {
    const found = [...got.index.subarray(i * k, (i + 1) * k)].filter((j) => j >= 0);
    expect(found, `neighbours of ${i}`).toEqual(expected[i].map(([j]) => j));
    expected[i].forEach(([, distance], n) => expect(got.distance[i * k + n]).toBeCloseTo(distance, 5));
    pairs += found.length;
  }
  expect(reads.every(([start, end]) => end - start <= 256)).toBe(true); // a block at a time (and single sample rows)
  return { projectedDim: got.projectedDim, pairs };
}

describe('nearest others within a radius, by blocks', () => {
  it('finds exactly what a double loop finds where the variance lies in few directions, on a shorter projection', async () => {
    const count = 1100;
    const { projectedDim, pairs } = await expectBruteForce(library(count, 12, 1), count, 4);
    expect(projectedDim).toBeLessThan(DIM);
    expect(pairs).toBeGreaterThan(150);
  });

  it('finds exactly what a double loop finds where no direction is preferred (uneven blocks)', async () => {
    const count = 901;
    const { pairs } = await expectBruteForce(library(count, DIM, 2), count, 3);
    expect(pairs).toBeGreaterThan(100);
  });
});
