/**
 * Cut activations as stored per photo: [h, w, c] floats quantised to one byte each, with a minimum
 * and a step per channel (channels differ in range by an order of magnitude; one scale for all
 * would waste most of the 256 levels on the widest). 7×7×224 floats: 43.9 KB as float32, 12.8 KB here.
 *
 * Layout: 'A8' magic, h, w, c as uint16 LE, then c float32 minimums, c float32 steps, then h·w·c bytes.
 */
const MAGIC = 0x3841; // 'A8'
const HEADER = 8;

export function encodeActivations(values: Float32Array, shape: readonly [number, number, number]): Buffer {
  const [h, w, c] = shape;
  if (values.length !== h * w * c) throw new Error(`activations have ${values.length} values, expected ${h}x${w}x${c}`);
  const min = new Float32Array(c).fill(Infinity);
  const max = new Float32Array(c).fill(-Infinity);
  for (let i = 0; i < values.length; i++) {
    const ch = i % c;
    if (values[i] < min[ch]) min[ch] = values[i];
    if (values[i] > max[ch]) max[ch] = values[i];
  }
  const step = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) step[ch] = (max[ch] - min[ch]) / 255 || 1;
  const out = Buffer.alloc(HEADER + c * 8 + values.length);
  out.writeUInt16LE(MAGIC, 0);
  out.writeUInt16LE(h, 2);
  out.writeUInt16LE(w, 4);
  out.writeUInt16LE(c, 6);
  Buffer.from(min.buffer).copy(out, HEADER);
  Buffer.from(step.buffer).copy(out, HEADER + c * 4);
  const codes = HEADER + c * 8;
  for (let i = 0; i < values.length; i++) {
    const ch = i % c;
    out[codes + i] = Math.round((values[i] - min[ch]) / step[ch]);
  }
  return out;
}

/** A decoded map: shape, and per-channel dequantisation, read lazily by the batch builder. */
export interface ActivationMap {
  shape: [number, number, number];
  min: Float32Array;
  step: Float32Array;
  codes: Uint8Array;
}

export function decodeActivations(blob: Buffer): ActivationMap {
  if (blob.length < HEADER || blob.readUInt16LE(0) !== MAGIC) throw new Error('stored activations are not in the expected format');
  const shape: [number, number, number] = [blob.readUInt16LE(2), blob.readUInt16LE(4), blob.readUInt16LE(6)];
  const c = shape[2];
  const expected = HEADER + c * 8 + shape[0] * shape[1] * c;
  if (blob.length !== expected) throw new Error(`stored activations have ${blob.length} bytes, expected ${expected}`);
  const floats = new Float32Array(c * 2);
  new Uint8Array(floats.buffer).set(blob.subarray(HEADER, HEADER + c * 8));
  return { shape, min: floats.subarray(0, c), step: floats.subarray(c), codes: new Uint8Array(blob.subarray(HEADER + c * 8)) };
}

/**
 * Writes the map (or a crop of it, optionally mirrored left-right) as floats into `out` at `offset`:
 * rows top..top+size, columns left..left+size.
 */
export function writeActivations(map: ActivationMap, out: Float32Array, offset: number, crop?: { top: number; left: number; size: number; flip: boolean }): void {
  const [h, w, c] = map.shape;
  const { top, left, size, flip } = crop ?? { top: 0, left: 0, size: -1, flip: false };
  const rows = crop ? size : h;
  const cols = crop ? size : w;
  if (top + rows > h || left + cols > w) throw new Error(`crop ${rows}x${cols} at ${top},${left} does not fit a ${h}x${w} map`);
  let o = offset;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const sourceX = left + (flip ? cols - 1 - x : x);
      const base = ((top + y) * w + sourceX) * c;
      for (let ch = 0; ch < c; ch++) out[o++] = map.min[ch] + map.codes[base + ch] * map.step[ch];
    }
  }
}
