import { createRng, type Rng } from '../../common/rng.js';

/** A linear map to fewer dimensions: x → (x − mean) · directions, the first direction of most variance. */
export interface PcaBasis {
  inputDim: number;
  outputDim: number;
  mean: Float32Array;
  /** outputDim rows of inputDim values. */
  directions: Float32Array;
}

/** Extra random directions beyond those kept: the range finder's oversampling. */
const OVERSAMPLE = 8;

/**
 * The `outputDim` principal directions of `rows` (count × dim, one row after another), found by a
 * randomised range finder with one power iteration (Halko et al.): the work is a few products with
 * thin matrices, never the dim × dim covariance (1792² for the backbone's features).
 */
export function fitPca(rows: Float32Array, count: number, dim: number, outputDim: number, seed = 1): PcaBasis {
  const kept = Math.min(outputDim, dim, count);
  const mean = new Float32Array(dim);
  for (let i = 0; i < count; i++) for (let d = 0; d < dim; d++) mean[d] += rows[i * dim + d] / count;
  const centred = new Float64Array(count * dim);
  for (let i = 0; i < count; i++) for (let d = 0; d < dim; d++) centred[i * dim + d] = rows[i * dim + d] - mean[d];
  const width = Math.min(kept + OVERSAMPLE, dim, count);
  const rng = createRng(seed);
  // Y = X Ω, then one power iteration Y = X (Xᵀ Y), orthonormalised: an orthonormal basis Q of X's leading range.
  let y = multiply(centred, count, dim, gaussian(rng, dim * width), width);
  y = multiply(centred, count, dim, multiplyTransposed(centred, count, dim, orthonormalise(y, count, width), width), width);
  const q = orthonormalise(y, count, width);
  // B = Qᵀ X (width × dim); the eigenvectors of B Bᵀ give X's principal directions as Bᵀ u / √λ.
  const b = multiplyTransposed(q, count, width, centred, dim);
  const gram = new Float64Array(width * width);
  for (let i = 0; i < width; i++) for (let j = i; j < width; j++) gram[i * width + j] = gram[j * width + i] = dot(b, i * dim, b, j * dim, dim);
  const { values, vectors } = symmetricEigen(gram, width);
  const order = [...values.keys()].sort((x, z) => values[z] - values[x]).slice(0, kept);
  const directions = new Float32Array(kept * dim);
  order.forEach((e, row) => {
    const scale = values[e] > 1e-12 ? 1 / Math.sqrt(values[e]) : 0;
    for (let d = 0; d < dim; d++) {
      let sum = 0;
      for (let i = 0; i < width; i++) sum += b[i * dim + d] * vectors[i * width + e];
      directions[row * dim + d] = sum * scale;
    }
  });
  return { inputDim: dim, outputDim: kept, mean, directions };
}

/** `count` rows projected on the basis, into `out` from row `at` on. */
export function applyPca(basis: PcaBasis, rows: Float32Array, count: number, out: Float32Array, at: number): void {
  const { inputDim: dim, outputDim, mean, directions } = basis;
  const centred = new Float32Array(dim);
  for (let i = 0; i < count; i++) {
    for (let d = 0; d < dim; d++) centred[d] = rows[i * dim + d] - mean[d];
    for (let o = 0; o < outputDim; o++) {
      let sum = 0;
      const base = o * dim;
      for (let d = 0; d < dim; d++) sum += centred[d] * directions[base + d];
      out[(at + i) * outputDim + o] = sum;
    }
  }
}

function gaussian(rng: Rng, size: number): Float64Array {
  const values = new Float64Array(size);
  for (let i = 0; i < size; i++) values[i] = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  return values;
}

/** (rows × inner) · (inner × cols). */
function multiply(a: Float64Array, rows: number, inner: number, b: Float64Array, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let k = 0; k < inner; k++) {
      const value = a[i * inner + k];
      if (value === 0) continue;
      for (let j = 0; j < cols; j++) out[i * cols + j] += value * b[k * cols + j];
    }
  }
  return out;
}

/** (rows × aCols)ᵀ · (rows × bCols). */
function multiplyTransposed(a: Float64Array, rows: number, aCols: number, b: Float64Array, bCols: number): Float64Array {
  const out = new Float64Array(aCols * bCols);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < aCols; i++) {
      const value = a[r * aCols + i];
      if (value === 0) continue;
      for (let j = 0; j < bCols; j++) out[i * bCols + j] += value * b[r * bCols + j];
    }
  }
  return out;
}

/** Modified Gram-Schmidt on the columns; a column that vanishes stays zero. */
function orthonormalise(m: Float64Array, rows: number, cols: number): Float64Array {
  const q = Float64Array.from(m);
  for (let j = 0; j < cols; j++) {
    for (let p = 0; p < j; p++) {
      let projection = 0;
      for (let i = 0; i < rows; i++) projection += q[i * cols + j] * q[i * cols + p];
      for (let i = 0; i < rows; i++) q[i * cols + j] -= projection * q[i * cols + p];
    }
    let norm = 0;
    for (let i = 0; i < rows; i++) norm += q[i * cols + j] ** 2;
    norm = Math.sqrt(norm);
    for (let i = 0; i < rows; i++) q[i * cols + j] = norm > 1e-12 ? q[i * cols + j] / norm : 0;
  }
  return q;
}

function dot(a: Float64Array, aAt: number, b: Float64Array, bAt: number, length: number): number {
  let sum = 0;
  for (let i = 0; i < length; i++) sum += a[aAt + i] * b[bAt + i];
  return sum;
}

/** Cyclic Jacobi rotations: eigenvalues and eigenvectors (columns) of a small symmetric matrix. */
export function symmetricEigen(matrix: Float64Array, n: number): { values: number[]; vectors: Float64Array } {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}
