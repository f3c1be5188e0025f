/**
 * Every vector's k nearest among all of them, a block of rows against a block of columns at a
 * time: one matrix product per pair of blocks on ONNX Runtime (squared distances as |a|² + |b|² −
 * 2a·b, then TopK along both axes; the exact distances of the candidates are computed again), each pair of blocks once. Only two blocks of vectors and the
 * running k best per vector are held; the candidates' distances are computed again exactly.
 */
import { loadOnnxRuntime, type OnnxRuntime, type OnnxSession } from '../backbone/onnx-backbone.js';
import { encodeModel, type OnnxModel } from '../runtime/onnx-proto.js';

export interface AllNearest {
  /** Position of each vector's j-th nearest other vector at [i·k + j] (−1: none), nearest first. */
  index: Int32Array;
  /** Its Euclidean distance. */
  distance: Float32Array;
}

export interface BlockKnnOptions {
  /** Rows per block (the last block takes the remainder). */
  block?: number;
  onProgress?: (done: number, total: number) => void;
}

/** 4096 × 4096 distances (64 MB per intermediate) keep ONNX Runtime's peak memory near 300 MB. */
export const DEFAULT_BLOCK = 4096;

/**
 * The k nearest other vectors of each of `count` vectors of `dim` values; `read(start, end)` gives
 * those at positions start..end−1, row after row. Needs at least k + 1 vectors.
 */
export async function allNearest(count: number, dim: number, k: number, read: (start: number, end: number) => Float32Array, options: BlockKnnOptions = {}): Promise<AllNearest> {
  if (count <= k) throw new RangeError(`${count} vectors: need more than k = ${k}`);
  const bounds = blockBounds(count, Math.max(options.block ?? DEFAULT_BLOCK, k + 1), k + 1);
  const ort = await loadOnnxRuntime();
  const session = await ort.InferenceSession.create(encodeModel(pairModel(dim, k + 1)), { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential' });
  const best = new RunningBest(count, k);
  const pairs = (bounds.length * (bounds.length + 1)) / 2;
  let done = 0;
  try {
    for (let i = 0; i < bounds.length; i++) {
      const [rowStart, rowEnd] = bounds[i];
      const rows = read(rowStart, rowEnd);
      for (let j = i; j < bounds.length; j++) {
        const [colStart, colEnd] = bounds[j];
        const cols = j === i ? rows : read(colStart, colEnd);
        const out = await nearestPairs(ort, session, rows, rowEnd - rowStart, cols, colEnd - colStart, dim);
        const nearest = k + 1;
        // Rows: each row's nearest among the columns; columns: each column's nearest among the rows.
        for (let r = 0; r < rowEnd - rowStart; r++) {
          for (let n = 0; n < nearest; n++) {
            const c = out.rowIndex[r * nearest + n];
            best.offer(rowStart + r, colStart + c, distanceBetween(rows, r, cols, c, dim));
          }
        }
        if (j !== i) {
          for (let c = 0; c < colEnd - colStart; c++) {
            for (let n = 0; n < nearest; n++) {
              const r = out.colIndex[c * nearest + n];
              best.offer(colStart + c, rowStart + r, distanceBetween(rows, r, cols, c, dim));
            }
          }
        }
        options.onProgress?.(++done, pairs);
        await new Promise((resolve) => setImmediate(resolve)); // let calls in between
      }
    }
  } finally {
    await session.release();
  }
  return best.result();
}

/** Blocks of `size` positions; a last block shorter than `least` joins the one before. */
export function blockBounds(count: number, size: number, least: number): Array<[number, number]> {
  const bounds: Array<[number, number]> = [];
  for (let start = 0; start < count; start += size) bounds.push([start, Math.min(start + size, count)]);
  if (bounds.length > 1 && bounds.at(-1)![1] - bounds.at(-1)![0] < least) {
    const [, end] = bounds.pop()!;
    bounds[bounds.length - 1][1] = end;
  }
  return bounds;
}

async function nearestPairs(ort: OnnxRuntime, session: OnnxSession, rows: Float32Array, rowCount: number, cols: Float32Array, colCount: number, dim: number) {
  const out = await session.run({
    rows: new ort.Tensor('float32', rows, [rowCount, dim]),
    cols_t: new ort.Tensor('float32', transpose(cols, colCount, dim), [dim, colCount]),
  });
  return { rowIndex: out.row_index.data as Float32Array, colIndex: out.col_index.data as Float32Array };
}

/** Squared distances of a block of rows to a block of columns (given transposed), and the `nearest` smallest along each axis. */
function pairModel(dim: number, nearest: number): OnnxModel {
  const topk = (input: string, output: string): OnnxModel['nodes'] => [
    { opType: 'TopK', inputs: [input, 'nearest'], outputs: [`${output}_d2`, `${output}_i64`], attributes: [{ name: 'axis', value: { int: 1 } }, { name: 'largest', value: { int: 0 } }, { name: 'sorted', value: { int: 1 } }] },
    // Positions within a block are far below 2^24: exact as float, the one output type the writer knows.
    { opType: 'Cast', inputs: [`${output}_i64`], outputs: [`${output}_index`], attributes: [{ name: 'to', value: { int: 1 } }] },
  ];
  return {
    opset: 13,
    producer: 'lookalike',
    graphName: 'block_knn',
    nodes: [
      { opType: 'ReduceSumSquare', inputs: ['rows'], outputs: ['row_norm2'], attributes: [{ name: 'axes', value: { ints: [1] } }, { name: 'keepdims', value: { int: 1 } }] },
      { opType: 'ReduceSumSquare', inputs: ['cols_t'], outputs: ['col_norm2'], attributes: [{ name: 'axes', value: { ints: [0] } }, { name: 'keepdims', value: { int: 1 } }] },
      // |b|² − 2a·b in one Gemm: a row's order by it is its order by distance (|a|² is the same along the row).
      { opType: 'Gemm', inputs: ['rows', 'cols_t', 'col_norm2'], outputs: ['row_order'], attributes: [{ name: 'alpha', value: { float: -2 } }] },
      { opType: 'Add', inputs: ['row_order', 'row_norm2'], outputs: ['dist2'] },
      ...topk('row_order', 'row'),
      // TopK along rows of the transposed matrix: far faster than along its columns.
      { opType: 'Transpose', inputs: ['dist2'], outputs: ['dist2_t'], attributes: [{ name: 'perm', value: { ints: [1, 0] } }] },
      ...topk('dist2_t', 'col'),
    ],
    initializers: [
      { name: 'nearest', dims: [1], data: { int64: [nearest] } },
    ],
    inputs: [
      { name: 'rows', shape: ['rows', dim] },
      { name: 'cols_t', shape: [dim, 'cols'] },
    ],
    outputs: [
      { name: 'row_index', shape: ['rows', nearest] },
      { name: 'col_index', shape: ['cols', nearest] },
    ],
  };
}

export function transpose(values: Float32Array, count: number, dim: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < count; i++) for (let d = 0; d < dim; d++) out[d * count + i] = values[i * dim + d];
  return out;
}

/** Exact Euclidean distance (the matrix form loses precision for near-identical vectors). */
export function distanceBetween(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): number {
  let sum = 0;
  for (let d = 0; d < dim; d++) {
    const diff = a[i * dim + d] - b[j * dim + d];
    sum += diff * diff;
  }
  return Math.sqrt(sum);
}

/** The k nearest others seen so far per position, kept sorted (insertion into k slots). */
export class RunningBest {
  private readonly index: Int32Array;
  private readonly distance: Float32Array;

  constructor(
    count: number,
    private readonly k: number,
  ) {
    this.index = new Int32Array(count * k).fill(-1);
    this.distance = new Float32Array(count * k).fill(Infinity);
  }

  offer(at: number, other: number, exact: number): void {
    if (other === at) return;
    const distance = Math.fround(exact); // compared with what the float32 slots hold
    const base = at * this.k;
    const last = base + this.k - 1;
    if (distance > this.distance[last] || (distance === this.distance[last] && other >= this.index[last] && this.index[last] !== -1)) return;
    for (let slot = base; slot <= last; slot++) if (this.index[slot] === other) return;
    let slot = last;
    while (slot > base && (this.distance[slot - 1] > distance || (this.distance[slot - 1] === distance && this.index[slot - 1] > other))) {
      this.distance[slot] = this.distance[slot - 1];
      this.index[slot] = this.index[slot - 1];
      slot--;
    }
    this.distance[slot] = distance;
    this.index[slot] = other;
  }

  result(): AllNearest {
    return { index: this.index, distance: this.distance };
  }
}
