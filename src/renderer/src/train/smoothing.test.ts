import { describe, expect, it } from 'vitest';
import { smooth } from './smoothing';

describe('smooth', () => {
  it('returns the values unchanged at weight 0', () => {
    expect(smooth([3, 1, 2], 0)).toEqual([3, 1, 2]);
  });

  it('starts at the first value instead of being pulled towards zero', () => {
    const out = smooth([10, 10, 10, 10], 0.9);
    for (const v of out) expect(v).toBeCloseTo(10, 10);
  });

  it('follows a step change gradually, more slowly with more weight', () => {
    const values = [1, 1, 1, 1, 0, 0, 0, 0];
    const light = smooth(values, 0.3);
    const heavy = smooth(values, 0.9);
    expect(light[4]).toBeLessThan(heavy[4]);
    expect(heavy[4]).toBeLessThan(1);
    expect(heavy[4]).toBeGreaterThan(0);
    expect(heavy.slice(4)).toEqual([...heavy.slice(4)].sort((a, b) => b - a));
  });

  it('passes non-finite points through without poisoning the rest', () => {
    const out = smooth([1, Number.NaN, 1], 0.5);
    expect(Number.isNaN(out[1])).toBe(true);
    expect(out[2]).toBeCloseTo(1, 10);
  });
});
