import { describe, expect, it } from 'vitest';
import { createRng } from '../common/rng.js';
import { Int8Codes, kernelCache, scanShare, type ScanShare } from './int8-codes.js';

function randomCodes(count: number, dim: number, seed: number): Int8Array[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => Int8Array.from({ length: dim }, () => Math.round(rng() * 254 - 127)));
}

const l2 = (a: Int8Array, b: Int8Array) => a.reduce((sum, v, j) => sum + (v - b[j]) ** 2, 0);

/** The `wanted` smallest scores of the live codes by a plain JS scan, ties in any order: compared as sorted scores. */
function expectedScores(codes: Map<number, Int8Array>, query: Int8Array, wanted: number): number[] {
  return [...codes.values()].map((code) => l2(code, query)).sort((a, b) => a - b).slice(0, wanted);
}

describe('Int8Codes: the SIMD int8 L2 scan over codes in shared memory', () => {
  it('scores every code exactly as a JS loop does, at a dimension that is not a multiple of 16, extreme values included', () => {
    const dim = 37;
    const codes = new Int8Codes(dim);
    const all = new Map(randomCodes(3000, dim, 1).map((code, i) => [i + 10, code]));
    all.set(5, new Int8Array(dim).fill(127));
    all.set(6, new Int8Array(dim).fill(-127));
    for (const [id, code] of all) codes.set(id, code);
    for (const query of [...randomCodes(5, dim, 2), new Int8Array(dim).fill(-127)]) {
      const found = codes.nearest(query, 40);
      expect(found.map((f) => f.score)).toEqual(expectedScores(all, query, 40));
      for (const { id, score } of found) expect(score).toBe(l2(all.get(id)!, query));
    }
    expect(codes.nearest(new Int8Array(dim).fill(127), 1)).toEqual([{ id: 5, score: 0 }]);
  });

  it('forgets deleted ids, reuses their slots, replaces on set, and keeps every code when it grows', () => {
    const dim = 16;
    const codes = new Int8Codes(dim, 1024);
    const all = new Map(randomCodes(5000, dim, 3).map((code, i) => [i + 1, code])); // past 1024: grows three times
    for (const [id, code] of all) codes.set(id, code);
    for (let id = 1; id <= 5000; id += 2) {
      codes.delete(id);
      all.delete(id);
    }
    const moved = randomCodes(1, dim, 4)[0];
    codes.set(2, moved);
    all.set(2, moved);
    for (const [i, code] of randomCodes(100, dim, 5).entries()) {
      codes.set(10_000 + i, code); // into freed slots
      all.set(10_000 + i, code);
    }
    expect(codes.size).toBe(all.size);
    for (const query of randomCodes(5, dim, 6)) {
      const found = codes.nearest(query, 25);
      expect(found.map((f) => f.score)).toEqual(expectedScores(all, query, 25));
      for (const { id } of found) expect(all.has(id)).toBe(true);
    }
    expect(codes.nearest(moved, 1)).toEqual([{ id: 2, score: 0 }]);
  });

  it('splits the scan with another scanner of the same memory and answers as one scan does', () => {
    const dim = 64;
    const codes = new Int8Codes(dim);
    for (const [i, code] of randomCodes(4000, dim, 7).entries()) codes.set(i + 1, code);
    codes.delete(3);
    const kernelFor = kernelCache(); // what the worker thread keeps
    const shares: ScanShare[] = [];
    const offload = (share: ScanShare) => {
      shares.push(share);
      return () => scanShare(kernelFor(share), share);
    };
    for (const query of randomCodes(5, dim, 8)) {
      const alone = codes.nearest(query, 30);
      const split = codes.nearest(query, 30, offload);
      expect(split.map((f) => f.score)).toEqual(alone.map((f) => f.score));
    }
    expect(shares[0]).toMatchObject({ from: 2000, to: 4000, wanted: 30 });
    expect(codes.nearest(randomCodes(1, dim, 9)[0], 30, () => () => undefined)).toHaveLength(30); // a failed share: scanned here
  });
});
