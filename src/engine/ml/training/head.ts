import * as tf from '@tensorflow/tfjs-core';

/**
 * The embedding head f = head(backbone(x)). One set of weights serves the query, positive and
 * negative branches: the three are the same function applied to three batches.
 */
export interface HeadConfig {
  inputDim: number;
  /** Embedding size. */
  dim: number;
  /** Width of a hidden ReLU layer; 0 for a linear projection. */
  hidden: number;
  /** L2-normalise the output, so distances live in [0, 2] whatever the weights' scale. */
  normalize: boolean;
  /**
   * Centre the input on the training photos' mean feature before the first layer: each segment (one
   * backbone layer's pooled features, widths summing to inputDim) minus its mean, L2-normalised on its
   * own, then all scaled to unit length together. The mean travels with the weights (`head_centre`).
   * Absent in models stored before it (docs/measurements.md, "Centred features").
   */
  centre?: { segments: number[] };
}

/** Name of the stored mean feature of a centred head; not trained. */
export const CENTRE_WEIGHT = 'head_centre';

export class EmbeddingHead {
  private constructor(
    readonly config: HeadConfig,
    /** The trained weights, in layer order (what an optimiser updates). */
    readonly variables: tf.Variable[],
    /** The mean input feature of a centred head (not trained); null when the config has no centre. */
    private readonly centreVector: tf.Variable | null,
    /** The same mean as plain numbers, for centring a training set once (centreInputs). */
    private readonly centreValues: Float32Array | null,
  ) {}

  /** A new head; a centred config needs `centre`, the mean of the training features (see meanVector). */
  static create(config: HeadConfig, seed: number, centre?: Float32Array): EmbeddingHead {
    checkConfig(config);
    const shapes = layerShapes(config);
    const centreVector = config.centre ? tf.tidy(() => tf.variable(checkedCentre(config, centre), false)) : null;
    // Variables stay unnamed (TF.js names must be unique per process; several heads may be alive).
    // tidy frees the initial values: a variable keeps its own reference to the data.
    const variables = tf.tidy(() => shapes.map(([rows, cols], i) => tf.variable(cols === undefined ? tf.zeros([rows]) : glorotUniform(rows, cols, seed + i), true)));
    return new EmbeddingHead(config, variables, centreVector, centreVector ? Float32Array.from(centre!) : null);
  }

  static fromWeights(config: HeadConfig, weights: tf.NamedTensorMap): EmbeddingHead {
    checkConfig(config);
    const shapes = layerShapes(config);
    const expectShape = (name: string, expected: number[]) => {
      const tensor = weights[name];
      if (!tensor) throw new Error(`checkpoint lacks ${name}`);
      if (tensor.shape.join('x') !== expected.join('x')) throw new Error(`${name} has shape ${tensor.shape.join('x')}, expected ${expected.join('x')}`);
      return tensor;
    };
    const centreVector = config.centre ? tf.variable(expectShape(CENTRE_WEIGHT, [config.inputDim]), false) : null;
    const variables = shapes.map((shape, i) => tf.variable(expectShape(weightName(shape, i), shape.filter((n) => n !== undefined)), true));
    return new EmbeddingHead(config, variables, centreVector, centreVector ? (centreVector.dataSync() as Float32Array).slice() : null);
  }

  /** A head from a stored blob (packTensors); the unpacked tensors are freed once copied into variables. */
  static fromPacked(config: HeadConfig, blob: Buffer): EmbeddingHead {
    const weights = unpackTensors(blob);
    try {
      return EmbeddingHead.fromWeights(config, weights);
    } finally {
      tf.dispose(Object.values(weights));
    }
  }

  apply(features: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.applyToCentred(this.centreVector ? centreSegments(features, this.centreVector as tf.Tensor1D, this.config.centre!.segments) : features));
  }

  /**
   * The layers alone, for inputs already centred by centreInputs: training centres its set once
   * instead of at every step (on wasm, centring at every step made a flowers17 run 1.6× as long).
   */
  applyToCentred(centred: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      let x: tf.Tensor2D = centred;
      for (let i = 0; i < this.variables.length; i += 2) {
        const w = this.variables[i] as tf.Tensor2D;
        x = tf.add(tf.getBackend() === 'wasm' ? linear(x, w) : tf.matMul(x, w), this.variables[i + 1]);
        if (i + 2 < this.variables.length) x = tf.relu(x);
      }
      return this.config.normalize ? l2Normalize(x) : x;
    });
  }

  /** What apply does to an input before the layers, on plain vectors: the identity without a centre. */
  centreInputs(vectors: Float32Array[]): Float32Array[] {
    const centre = this.centreValues;
    if (!centre) return vectors;
    const segments = this.config.centre!.segments;
    const scale = 1 / Math.sqrt(segments.length);
    return vectors.map((vector) => {
      const out = new Float32Array(vector.length);
      let start = 0;
      for (const width of segments) {
        let sum = 0;
        for (let i = start; i < start + width; i++) sum += (out[i] = vector[i] - centre[i]) ** 2;
        const factor = scale / (Math.sqrt(sum) + 1e-12);
        for (let i = start; i < start + width; i++) out[i] *= factor;
        start += width;
      }
      return out;
    });
  }

  /**
   * Embeds plain vectors in batches (`centred`: already through centreInputs); no tensors outlive the
   * call. Read back asynchronously: WebGPU in Node cannot read synchronously.
   */
  async embed(vectors: Float32Array[], batchSize = 256, centred = false): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let start = 0; start < vectors.length; start += batchSize) {
      const batch = vectors.slice(start, start + batchSize);
      const result = tf.tidy(() => (centred ? this.applyToCentred(stack(batch, this.config.inputDim)) : this.apply(stack(batch, this.config.inputDim))));
      const flat = (await result.data()) as Float32Array;
      result.dispose();
      for (let i = 0; i < batch.length; i++) out.push(flat.slice(i * this.config.dim, (i + 1) * this.config.dim));
    }
    return out;
  }

  /** Every weight by its stored name, the centre of a centred head included. */
  namedWeights(): tf.NamedTensorMap {
    const shapes = layerShapes(this.config);
    const named: tf.NamedTensorMap = Object.fromEntries(this.variables.map((v, i) => [weightName(shapes[i], i), v]));
    if (this.centreVector) named[CENTRE_WEIGHT] = this.centreVector;
    return named;
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
    this.centreVector?.dispose();
  }
}

/** The mean of equal-length vectors (a centred head's centre: the training photos' features). */
export function meanVector(vectors: Float32Array[]): Float32Array {
  if (vectors.length === 0) throw new Error('the mean of no vectors is undefined');
  const sum = new Float64Array(vectors[0].length);
  for (const vector of vectors) vector.forEach((value, i) => (sum[i] += value));
  return Float32Array.from(sum, (value) => value / vectors.length);
}

/** Each segment of x minus its mean, L2-normalised on its own; the whole then scaled to unit length. */
function centreSegments(x: tf.Tensor2D, centre: tf.Tensor1D, segments: number[]): tf.Tensor2D {
  return tf.tidy(() => {
    const shifted = tf.sub(x, centre);
    const parts = segments.length === 1 ? [shifted] : tf.split(shifted, segments, 1);
    const joined = tf.concat(parts.map((part) => l2Normalize(part)), 1) as tf.Tensor2D;
    return tf.mul(joined, 1 / Math.sqrt(segments.length));
  });
}

function checkedCentre(config: HeadConfig, centre: Float32Array | undefined): tf.Tensor1D {
  if (!centre || centre.length !== config.inputDim) throw new RangeError(`a centred head needs the mean of its ${config.inputDim}-value training features (got ${centre ? centre.length : 'none'})`);
  return tf.tensor1d(centre);
}

/**
 * x·w with its gradient written out: TF.js derives matMul's gradients with transposed-operand
 * matMuls, which the wasm backend runs about 10x slower than an explicit transpose and a plain one.
 * Used on wasm only: the plain cpu backend is faster with its own gradient.
 */
export const linear = tf.customGrad((x, w, save) => {
  const [input, weights] = [x as tf.Tensor2D, w as tf.Tensor2D];
  (save as tf.GradSaveFunc)([input, weights]);
  return {
    value: tf.matMul(input, weights),
    gradFunc: (dy: tf.Tensor, [savedInput, savedWeights]: tf.Tensor[]) => [
      tf.matMul(dy as tf.Tensor2D, tf.transpose(savedWeights as tf.Tensor2D)),
      tf.matMul(tf.transpose(savedInput as tf.Tensor2D), dy as tf.Tensor2D),
    ],
  };
}) as (x: tf.Tensor2D, w: tf.Tensor) => tf.Tensor2D;

export function l2Normalize<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => tf.div(x, tf.add(tf.norm(x, 'euclidean', -1, true), 1e-12)) as T);
}

export function normalizeVector(vector: Float32Array): Float32Array {
  return normalizeInPlace(vector.slice());
}

/** As normalizeVector, dividing the vector's own values. */
export function normalizeInPlace(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const v of vector) sum += v * v;
  const norm = Math.sqrt(sum) || 1;
  for (let i = 0; i < vector.length; i++) vector[i] /= norm;
  return vector;
}

export function stack(vectors: Float32Array[], dim: number): tf.Tensor2D {
  const flat = new Float32Array(vectors.length * dim);
  vectors.forEach((vector, i) => {
    if (vector.length !== dim) throw new Error(`vector ${i} has ${vector.length} values, expected ${dim}`);
    flat.set(vector, i * dim);
  });
  return tf.tensor2d(flat, [vectors.length, dim]);
}

function weightName(shape: [number, number?], index: number): string {
  return shape[1] === undefined ? `head_b${index}` : `head_w${index}`;
}

function layerShapes(config: HeadConfig): Array<[number, number?]> {
  const widths = config.hidden > 0 ? [config.inputDim, config.hidden, config.dim] : [config.inputDim, config.dim];
  const shapes: Array<[number, number?]> = [];
  for (let i = 0; i + 1 < widths.length; i++) shapes.push([widths[i], widths[i + 1]], [widths[i + 1]]);
  return shapes;
}

function glorotUniform(rows: number, cols: number, seed: number): tf.Tensor2D {
  const limit = Math.sqrt(6 / (rows + cols));
  return tf.randomUniform([rows, cols], -limit, limit, 'float32', seed);
}

function checkConfig(config: HeadConfig): void {
  for (const key of ['inputDim', 'dim'] as const) {
    if (!(Number.isInteger(config[key]) && config[key] > 0)) throw new RangeError(`${key} must be a positive whole number (got ${config[key]})`);
  }
  if (!(Number.isInteger(config.hidden) && config.hidden >= 0)) throw new RangeError(`hidden must be 0 or a positive whole number (got ${config.hidden})`);
  if (config.centre) {
    const { segments } = config.centre;
    const valid = Array.isArray(segments) && segments.length > 0 && segments.every((n) => Number.isInteger(n) && n > 0);
    if (!valid || segments.reduce((a, b) => a + b, 0) !== config.inputDim) throw new RangeError(`centre segments must be positive widths summing to inputDim ${config.inputDim} (got ${JSON.stringify(segments)})`);
  }
}

/** Tensors to one Buffer: a JSON header (names, shapes) then float32 data. For checkpoints and stored models. */
export async function packTensors(tensors: tf.NamedTensorMap | Array<{ name: string; tensor: tf.Tensor }>): Promise<Buffer> {
  const entries = Array.isArray(tensors) ? tensors : Object.entries(tensors).map(([name, tensor]) => ({ name, tensor }));
  const header = JSON.stringify(entries.map(({ name, tensor }) => ({ name, shape: tensor.shape })));
  const headerBytes = Buffer.from(header, 'utf8');
  const parts = await Promise.all(entries.map(async ({ tensor }) => Buffer.from(((await tensor.data()) as Float32Array).slice().buffer)));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(headerBytes.length);
  return Buffer.concat([length, headerBytes, ...parts]);
}

/** The names in a packTensors blob, read from its header alone (no tensors made). */
export function packedNames(blob: Buffer): string[] {
  const header = JSON.parse(blob.subarray(4, 4 + blob.readUInt32LE(0)).toString('utf8')) as Array<{ name: string }>;
  return header.map((entry) => entry.name);
}

export function unpackTensors(blob: Buffer): tf.NamedTensorMap {
  const headerLength = blob.readUInt32LE(0);
  const header = JSON.parse(blob.subarray(4, 4 + headerLength).toString('utf8')) as Array<{ name: string; shape: number[] }>;
  let offset = 4 + headerLength;
  const out: tf.NamedTensorMap = {};
  for (const { name, shape } of header) {
    const count = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(count);
    new Uint8Array(values.buffer).set(blob.subarray(offset, offset + count * 4));
    offset += count * 4;
    out[name] = tf.tensor(values, shape);
  }
  return out;
}
