/**
 * Every vector's k nearest others within a radius, the duplicate finder's question, by blocks of
 * vectors against blocks on ONNX Runtime like block-knn.ts, but without its TopK along both axes of
 * every 4096 × 4096 block (three quarters of its time): one Gemm, then per row the smallest
 * `|b|² − 2a·b`, so that only rows with some column inside the radius are looked at here: their
 * columns inside it on the projection, then those pairs' exact distances (their vectors read one
 * by one: few are).
 *
 * The Gemm runs on a projection onto the leading principal directions when that loses (almost)
 * nothing: an orthonormal projection never lengthens a difference, so no pair within the radius is
 * missed whatever the projection; a projection too short only makes more rows come back. Its length
 * is the shortest (a multiple of 16) at which the pairs of a sample of 2048 vectors brought inside
 * the radius from outside it foretell fewer than one such pair per SPURIOUS_PER photos in all.
 */
import { blockBounds, distanceBetween, RunningBest, transpose, type AllNearest, type BlockKnnOptions } from './block-knn.js';
import { loadOnnxRuntime, type OnnxRuntime, type OnnxSession } from '../backbone/onnx-backbone.js';
import { encodeModel, type OnnxModel } from '../runtime/onnx-proto.js';
import { applyPca, fitPca } from './pca.js';

const DEFAULT_BLOCK = 4096;
/**
 * Below this many vectors the Gemms take less than choosing a projection does (a sample of 2048
 * read one by one, 2M pairs compared): measured 10.5 s with it against 3.0 s for the TopK finder at 10k.
 */
export const PROJECT_FROM = 50_000;
const SAMPLE = 2048;
const STEP = 16;
/** Each pair brought inside costs a row compared exactly with a block (~0.3 ms): one per this many photos is cheap. */
const SPURIOUS_PER = 20;
/** Added to the diagonal of a block against itself, so that no vector is its own neighbour. */
const SELF = 1e30;

interface Projection {
  dim: number;
  project(rows: Float32Array, count: number): Float32Array;
}
const noProjection = (dim: number): Projection => ({ dim, project: (rows) => rows });

export async function nearWithin(
  count: number,
  dim: number,
  k: number,
  radius: number,
  read: (start: number, end: number) => Float32Array,
  options: BlockKnnOptions & { projectFrom?: number } = {},
): Promise<AllNearest & { projectedDim: number }> {
  const bounds = blockBounds(count, Math.max(options.block ?? DEFAULT_BLOCK, k + 1), k + 1);
  const projection: Projection = count >= (options.projectFrom ?? PROJECT_FROM) ? chooseProjection(count, dim, radius, read) : noProjection(dim);
  const m = projection.dim;
  const projected = bounds.map(([start, end]) => projection.project(read(start, end), end - start));
  const projectedT = projected.map((rows, b) => transpose(rows, bounds[b][1] - bounds[b][0], m));
  const ort = await loadOnnxRuntime();
  const sessionOptions = { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential' as const };
  const across = await ort.InferenceSession.create(encodeModel(rowMinModel(m, false)), sessionOptions);
  const within = await ort.InferenceSession.create(encodeModel(rowMinModel(m, true)), sessionOptions);
  const best = new RunningBest(count, k);
  const pairs = (bounds.length * (bounds.length + 1)) / 2;
  let done = 0;
  try {
    for (let i = 0; i < bounds.length; i++) {
      const [rowStart, rowEnd] = bounds[i];
      const rowCount = rowEnd - rowStart;
      const limit = limits(projected[i], rowCount, m, radius);
      for (let j = i; j < bounds.length; j++) {
        const [colStart, colEnd] = bounds[j];
        const colCount = colEnd - colStart;
        const rowMin = await smallestPerRow(ort, j === i ? within : across, projected[i], rowCount, projectedT[j], colCount, m);
        for (let r = 0; r < rowCount; r++) {
          if (!(rowMin[r] < limit[r])) continue;
          const row = read(rowStart + r, rowStart + r + 1);
          for (const c of insideOnProjection(projected[i], r, projected[j], j === i ? r + 1 : 0, colCount, m, limit[r])) {
            const distance = distanceBetween(row, 0, read(colStart + c, colStart + c + 1), 0, dim);
            if (distance > radius) continue;
            best.offer(rowStart + r, colStart + c, distance);
            best.offer(colStart + c, rowStart + r, distance);
          }
        }
        options.onProgress?.(++done, pairs);
        await new Promise((resolve) => setImmediate(resolve)); // let calls in between
      }
    }
  } finally {
    await across.release();
    await within.release();
  }
  return { ...best.result(), projectedDim: m };
}

/** Columns from..count−1 of `cols` whose |b|² − 2a·b with row r of `rows` is under `limit` (the Gemm's test, in doubles). */
function insideOnProjection(rows: Float32Array, r: number, cols: Float32Array, from: number, count: number, m: number, limit: number): number[] {
  const inside: number[] = [];
  for (let c = from; c < count; c++) {
    let value = 0;
    for (let d = 0; d < m; d++) value += cols[c * m + d] * (cols[c * m + d] - 2 * rows[r * m + d]);
    if (value < limit) inside.push(c);
  }
  return inside;
}

/** Per row, radius² (with room for the Gemm's rounding) − |a|²: a column is inside when |b|² − 2a·b < it. */
function limits(rows: Float32Array, count: number, m: number, radius: number): Float32Array {
  const limit = new Float32Array(count);
  for (let r = 0; r < count; r++) {
    let norm = 0;
    for (let d = 0; d < m; d++) norm += rows[r * m + d] ** 2;
    limit[r] = radius * radius + 1e-4 * (1 + norm) - norm;
  }
  return limit;
}

async function smallestPerRow(ort: OnnxRuntime, session: OnnxSession, rows: Float32Array, rowCount: number, colsT: Float32Array, colCount: number, m: number) {
  const out = await session.run({
    rows: new ort.Tensor('float32', rows, [rowCount, m]),
    cols_t: new ort.Tensor('float32', colsT, [m, colCount]),
  });
  return out.row_min.data as Float32Array;
}

/** min over columns of |b|² − 2a·b (the diagonal pushed out of reach for a block against itself). */
function rowMinModel(m: number, againstItself: boolean): OnnxModel {
  const self: OnnxModel['nodes'] = [
    { opType: 'EyeLike', inputs: ['partial'], outputs: ['eye'] },
    { opType: 'Mul', inputs: ['eye', 'self'], outputs: ['pushed'] },
    { opType: 'Add', inputs: ['partial', 'pushed'], outputs: ['order'] },
  ];
  return {
    opset: 13,
    producer: 'lookalike',
    graphName: 'near_pairs',
    nodes: [
      { opType: 'ReduceSumSquare', inputs: ['cols_t'], outputs: ['col_norm2'], attributes: [{ name: 'axes', value: { ints: [0] } }, { name: 'keepdims', value: { int: 1 } }] },
      { opType: 'Gemm', inputs: ['rows', 'cols_t', 'col_norm2'], outputs: ['partial'], attributes: [{ name: 'alpha', value: { float: -2 } }] },
      ...(againstItself ? self : []),
      { opType: 'ReduceMin', inputs: [againstItself ? 'order' : 'partial'], outputs: ['row_min'], attributes: [{ name: 'axes', value: { ints: [1] } }, { name: 'keepdims', value: { int: 0 } }] },
    ],
    initializers: againstItself ? [{ name: 'self', dims: [1], data: Float32Array.of(SELF) }] : [],
    inputs: [
      { name: 'rows', shape: ['rows', m] },
      { name: 'cols_t', shape: [m, 'cols'] },
    ],
    outputs: [{ name: 'row_min', shape: ['rows'] }],
  };
}

/** The shortest projection at which the sample foretells few pairs brought inside the radius from outside it; none if that is the full length. */
export function chooseProjection(count: number, dim: number, radius: number, read: (start: number, end: number) => Float32Array): Projection {
  const identity = noProjection(dim);
  const sampleCount = Math.min(SAMPLE, count);
  if (dim <= 2 * STEP || sampleCount < 2) return identity;
  const sample = new Float32Array(sampleCount * dim);
  for (let s = 0; s < sampleCount; s++) {
    const at = Math.floor((s * count) / sampleCount);
    sample.set(read(at, at + 1), s * dim);
  }
  const basis = orthonormalRows(fitPca(sample, sampleCount, dim, dim));
  const width = basis.outputDim;
  const coords = new Float32Array(sampleCount * width);
  applyPca(basis, sample, sampleCount, coords, 0);
  const steps = Math.floor((width - 1) / STEP); // projections of STEP, 2·STEP, … values, shorter than the full length
  const brought = new Array<number>(steps).fill(0);
  const r2 = radius * radius;
  for (let a = 0; a < sampleCount; a++) {
    for (let b = a + 1; b < sampleCount; b++) {
      if (distanceBetween(sample, a, sample, b, dim) <= radius) continue;
      let sum = 0;
      for (let s = 0; s < steps; s++) {
        for (let d = s * STEP; d < (s + 1) * STEP; d++) sum += (coords[a * width + d] - coords[b * width + d]) ** 2;
        if (sum <= r2) brought[s]++;
        else break; // longer projections only lengthen it
      }
    }
  }
  // brought / (sampled pairs) × (all pairs) <= count / SPURIOUS_PER
  const allowed = (sampleCount * (sampleCount - 1)) / (SPURIOUS_PER * (count - 1));
  const shortest = brought.findIndex((n) => n <= allowed);
  if (shortest < 0) return identity;
  const kept = (shortest + 1) * STEP;
  const short = { ...basis, outputDim: kept, directions: basis.directions.subarray(0, kept * dim) };
  return {
    dim: kept,
    project(rows, rowCount) {
      const out = new Float32Array(rowCount * kept);
      applyPca(short, rows, rowCount, out, 0);
      return out;
    },
  };
}

/** The basis's directions made exactly orthonormal (Gram–Schmidt in doubles): what makes the projection never lengthen a difference. */
function orthonormalRows<T extends { inputDim: number; outputDim: number; directions: Float32Array }>(basis: T): T {
  const { inputDim: dim, outputDim } = basis;
  const rows = Array.from({ length: outputDim }, (_, o) => Float64Array.from(basis.directions.subarray(o * dim, (o + 1) * dim)));
  const kept: Float64Array[] = [];
  for (const row of rows) {
    for (const done of kept) {
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += row[d] * done[d];
      for (let d = 0; d < dim; d++) row[d] -= dot * done[d];
    }
    const norm = Math.hypot(...row);
    if (norm < 1e-6) continue;
    for (let d = 0; d < dim; d++) row[d] /= norm;
    kept.push(row);
  }
  const directions = new Float32Array(kept.length * dim);
  kept.forEach((row, o) => directions.set(row, o * dim));
  return { ...basis, outputDim: kept.length, directions };
}
