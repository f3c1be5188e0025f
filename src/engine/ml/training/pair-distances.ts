/**
 * Squared Euclidean distances from a block of queries to every vector of a gallery, one row per
 * query: the inner loop of scoring a held-out split. ONNX Runtime's matrix product computes
 * −2 q·g for a block of queries against a chunk of the gallery at a time (|q|² and |g|² are added
 * here); where ONNX Runtime is not installed, a JavaScript loop computes the same distances.
 */
import { availableParallelism } from 'node:os';
import { loadOnnxRuntime, type OnnxRuntime, type OnnxSession } from '../backbone/onnx-backbone.js';
import { encodeModel, type OnnxModel } from '../runtime/onnx-proto.js';

export type DistanceRuntime = 'onnxruntime' | 'js';

export interface PairDistances {
  readonly runtime: DistanceRuntime;
  /** Squared distances of these queries to the gallery, [queries.length × gallery size], row-major. */
  rows(queries: Float32Array[]): Promise<Float32Array>;
}

/** Gallery vectors packed into one matrix for a product: about 30 MB at 1,792 values. */
const GALLERY_CHUNK = 4096;

/** The distances to `gallery`, through ONNX Runtime where it loads (or as `runtime` says). */
export async function pairDistances(gallery: Float32Array[], runtime?: DistanceRuntime): Promise<PairDistances> {
  const products = runtime === 'js' ? null : await productSession();
  if (runtime === 'onnxruntime' && !products) throw new Error('ONNX Runtime is not installed');
  const norms = Float32Array.from(gallery, squaredNorm);
  return products ? productDistances(gallery, norms, products) : loopDistances(gallery);
}

function loopDistances(gallery: Float32Array[]): PairDistances {
  return {
    runtime: 'js',
    async rows(queries) {
      const out = new Float32Array(queries.length * gallery.length);
      queries.forEach((query, q) => {
        const row = q * gallery.length;
        for (let i = 0; i < gallery.length; i++) out[row + i] = squaredDistance(query, gallery[i]);
      });
      return out;
    },
  };
}

function productDistances(gallery: Float32Array[], norms: Float32Array, { ort, session }: ProductSession): PairDistances {
  const dim = gallery[0]?.length ?? 0;
  return {
    runtime: 'onnxruntime',
    async rows(queries) {
      const n = gallery.length;
      const out = new Float32Array(queries.length * n);
      if (queries.length === 0 || n === 0) return out;
      const packedQueries = pack(queries, 0, queries.length, dim);
      const queryTensor = new ort.Tensor('float32', packedQueries, [queries.length, dim]);
      for (let start = 0; start < n; start += GALLERY_CHUNK) {
        const count = Math.min(GALLERY_CHUNK, n - start);
        const chunk = new ort.Tensor('float32', pack(gallery, start, count, dim), [count, dim]);
        const products = (await session.run({ queries: queryTensor, gallery: chunk })).products.data as Float32Array;
        queries.forEach((query, q) => {
          const queryNorm = squaredNorm(query);
          const row = q * n + start;
          for (let i = 0; i < count; i++) out[row + i] = Math.max(0, queryNorm + norms[start + i] + products[q * count + i]);
        });
      }
      return out;
    },
  };
}

function pack(vectors: Float32Array[], start: number, count: number, dim: number): Float32Array {
  const packed = new Float32Array(count * dim);
  for (let i = 0; i < count; i++) {
    const vector = vectors[start + i];
    if (vector.length !== dim) throw new Error(`vectors of ${vector.length} and ${dim} values cannot be compared`);
    packed.set(vector, i * dim);
  }
  return packed;
}

export function squaredDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

function squaredNorm(vector: Float32Array): number {
  let sum = 0;
  for (const v of vector) sum += v * v;
  return sum;
}

interface ProductSession {
  ort: OnnxRuntime;
  session: OnnxSession;
}

let opened: Promise<ProductSession | null> | undefined;

/** One session for the process (its shapes vary per call); null where ONNX Runtime is not installed. */
function productSession(): Promise<ProductSession | null> {
  opened ??= (async () => {
    let ort: OnnxRuntime;
    try {
      ort = await loadOnnxRuntime();
    } catch {
      return null;
    }
    const session = await ort.InferenceSession.create(encodeModel(productModel()), {
      intraOpNumThreads: availableParallelism(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    return { ort, session };
  })();
  return opened;
}

/** products = −2 · queries · galleryᵀ, for any number of queries and gallery vectors of one length. */
function productModel(): OnnxModel {
  return {
    opset: 13,
    producer: 'lookalike',
    graphName: 'pair_products',
    nodes: [{ opType: 'Gemm', inputs: ['queries', 'gallery'], outputs: ['products'], attributes: [{ name: 'alpha', value: { float: -2 } }, { name: 'transB', value: { int: 1 } }] }],
    initializers: [],
    inputs: [
      { name: 'queries', shape: ['queries', 'dim'] },
      { name: 'gallery', shape: ['gallery', 'dim'] },
    ],
    outputs: [{ name: 'products', shape: ['queries', 'gallery'] }],
  };
}
