import { describe, expect, it } from 'vitest';
import { decodeActivations, encodeActivations, writeActivations } from './activation-codec.js';

/** A 3×4×2 map whose channels have very different ranges, as real activations do. */
function sampleMap(): Float32Array {
  const values = new Float32Array(3 * 4 * 2);
  for (let i = 0; i < values.length; i++) values[i] = i % 2 === 0 ? Math.sin(i) * 0.1 : 20 + Math.cos(i) * 15;
  return values;
}

describe('cut activations stored as one byte per value', () => {
  it('round-trips within half a quantisation step of each channel, at about a quarter of float32', () => {
    const values = sampleMap();
    const blob = encodeActivations(values, [3, 4, 2]);
    expect(blob.length).toBe(8 + 2 * 8 + 24);
    const map = decodeActivations(blob);
    expect(map.shape).toEqual([3, 4, 2]);
    const out = new Float32Array(values.length);
    writeActivations(map, out, 0);
    for (let i = 0; i < values.length; i++) expect(Math.abs(out[i] - values[i])).toBeLessThanOrEqual(map.step[i % 2] / 2 + 1e-6);
    // The narrow channel keeps its own fine step instead of the wide one's.
    expect(map.step[0]).toBeLessThan(map.step[1] / 50);
  });

  it('crops and mirrors the map: rows and columns move, channels stay together', () => {
    const values = Float32Array.from({ length: 3 * 4 * 2 }, (_, i) => i);
    const map = decodeActivations(encodeActivations(values, [3, 4, 2]));
    const out = new Float32Array(2 * 2 * 2);
    writeActivations(map, out, 0, { top: 1, left: 1, size: 2, flip: true });
    // Row 1, columns 2 then 1 (mirrored); row 2 likewise. Value at (y, x, c) is (y*4 + x)*2 + c.
    const expected = [(4 + 2) * 2, (4 + 2) * 2 + 1, (4 + 1) * 2, (4 + 1) * 2 + 1, (8 + 2) * 2, (8 + 2) * 2 + 1, (8 + 1) * 2, (8 + 1) * 2 + 1];
    out.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 0));
    expect(() => writeActivations(map, out, 0, { top: 2, left: 0, size: 2, flip: false })).toThrow(/does not fit a 3x4 map/);
  });

  it('refuses a blob that is not stored activations, or is cut short', () => {
    expect(() => decodeActivations(Buffer.from('not activations at all'))).toThrow(/not in the expected format/);
    const blob = encodeActivations(sampleMap(), [3, 4, 2]);
    expect(() => decodeActivations(blob.subarray(0, blob.length - 1))).toThrow(/expected 48/);
    expect(() => encodeActivations(new Float32Array(5), [3, 4, 2])).toThrow(/5 values, expected 3x4x2/);
  });
});
