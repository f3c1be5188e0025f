/**
 * Runs a TF.js graph backbone on ONNX Runtime's CPU engine: exported once at load (onnx-export.ts),
 * then several times faster per photo than TF.js wasm on the same core, with the same features.
 * Used where no native TensorFlow backend is installed; LOOKALIKE_BACKBONE_RUNTIME=tfjs turns it off.
 * With calibrated activation ranges the export is quantised to int8 (onnx-quantize.ts) first.
 */
import { availableParallelism } from 'node:os';
import type { GraphModel } from '@tensorflow/tfjs-converter';
import type { io } from '@tensorflow/tfjs-core';
import { exportGraphToOnnx, type TfNode } from '../export/tfjs-to-onnx.js';
import { encodeModel, type OnnxModel, type OnnxNode } from '../runtime/onnx-proto.js';
import { parseBackbonePrecision, type BackbonePrecision } from '../../../shared/settings.js';
import { quantisationPoints, quantiseModel, recordRange, withCalibrationTaps, type ActivationRanges } from './onnx-quantize.js';

export type BackboneRuntime = 'onnxruntime' | 'tfjs';

/** The part of onnxruntime-node used here, typed locally: the package is optional and may be absent at build time. */
export interface OnnxRuntime {
  InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OnnxSession> };
  Tensor: new (type: 'float32' | 'uint8', data: Float32Array | Uint8Array, dims: readonly number[]) => OnnxTensor;
}
export interface OnnxSession {
  run(feeds: Record<string, OnnxTensor>): Promise<Record<string, OnnxTensor>>;
  release(): Promise<void>;
}
export interface OnnxTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
}

/** onnxruntime-node, imported by a computed name so the build does not need it installed. */
export async function loadOnnxRuntime(): Promise<OnnxRuntime> {
  const specifier = 'onnxruntime-node';
  return (await import(specifier)) as OnnxRuntime;
}

export interface OnnxFeatureRunner {
  /**
   * Pooled features, [batch, dim] row-major (or NHWC maps with pool: false), of NHWC input: floats
   * already scaled to the model's range, or RGB bytes for a runner opened with `byteInput`.
   */
  run(pixels: Float32Array | Uint8Array, batch: number, size: number): Promise<Float32Array>;
  /** The same for a runner opened on several nodes: one [batch, dim_i] array per node, in the order named. */
  runEach(pixels: Float32Array | Uint8Array, batch: number, size: number): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

/** The TF.js backend in use, and whether it runs on a real GPU (see compute-backend.ts). */
export interface RuntimeHost {
  tfBackend: string;
  gpu: boolean;
}

/**
 * The runtime asked for: LOOKALIKE_BACKBONE_RUNTIME if set, else ONNX Runtime unless TF.js itself
 * runs on native TensorFlow (tfjs-node or tfjs-node-gpu) or on a real GPU through WebGPU, which are as
 * fast or faster. WebGPU on a software adapter (SwiftShader) keeps ONNX Runtime.
 */
export function preferredRuntime(host: RuntimeHost, forced: string | undefined = process.env.LOOKALIKE_BACKBONE_RUNTIME): BackboneRuntime {
  if (forced === 'onnxruntime' || forced === 'tfjs') return forced;
  if (forced) throw new Error(`unknown backbone runtime "${forced}" (choose onnxruntime or tfjs)`);
  return host.tfBackend === 'tensorflow' || (host.tfBackend === 'webgpu' && host.gpu) ? 'tfjs' : 'onnxruntime';
}

/** int8 or fp32 for the built-in backbone on ONNX Runtime: LOOKALIKE_BACKBONE_PRECISION (the CLI's --precision sets it), else the default. */
export function preferredPrecision(text: string | undefined = process.env.LOOKALIKE_BACKBONE_PRECISION): BackbonePrecision {
  return parseBackbonePrecision(text);
}

/** The runtime graph backbones will run on here: ONNX Runtime where preferred and installed, else TF.js. */
export async function expectedRuntime(host: RuntimeHost): Promise<string> {
  const fallback = `tfjs-${host.tfBackend}`;
  try {
    if (preferredRuntime(host) === 'tfjs') return fallback;
    await loadOnnxRuntime();
    return 'onnxruntime';
  } catch {
    return fallback;
  }
}

/** The graph up to the output node(s), exported to a float ONNX model (onnx-export.ts). */
export function exportBackbone(graph: GraphModel, artifacts: io.ModelArtifacts, outputNodes: string | readonly string[], options: { pool?: boolean } = {}): OnnxModel {
  const nodes = (artifacts.modelTopology as { node?: TfNode[] } | undefined)?.node;
  if (!nodes) throw new Error('the graph model has no topology to export');
  const weights = graph.weights;
  const steps = new Map((artifacts.weightSpecs ?? []).flatMap((spec) => (spec.quantization?.scale ? [[spec.name, spec.quantization.scale] as const] : [])));
  return exportGraphToOnnx(
    nodes,
    (name) => {
      const tensor = weights[name]?.[0];
      return tensor && tensor.dtype === 'float32' ? { shape: tensor.shape, values: tensor.dataSync() as Float32Array, step: steps.get(name) } : undefined;
    },
    outputNodes,
    options,
  );
}

/** One intra-op thread by default: the callers are the feature threads, one per core. */
async function openSession(ort: OnnxRuntime, model: OnnxModel, threads: number): Promise<OnnxSession> {
  return await ort.InferenceSession.create(encodeModel(model), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
}

export interface OnnxRunnerOptions {
  pool?: boolean;
  /** Quantise to int8 (onnx-quantize.ts) with these calibrated activation ranges; float without. */
  int8?: ActivationRanges;
  threads?: number;
  /** Feed RGB bytes: the model casts and scales them ((x - shift) / divisor) itself. */
  byteInput?: ByteScaling;
}

/** RGB bytes x become (x - shift) / divisor: two correctly rounded steps, so the graph and JavaScript (scalePixels) agree to the bit. */
export interface ByteScaling {
  shift: number;
  divisor: number;
}

/**
 * The model with a uint8 input in front: Cast, then Sub and Div into the float input it had.
 * ONNX Runtime does that in a vectorised pass; a JavaScript loop over the same bytes cost about
 * 0.7 ms a photo on the feature thread, a tenth of the int8 backbone's own time.
 */
export function withByteInput(model: OnnxModel, { shift, divisor }: ByteScaling): OnnxModel {
  const [input, ...rest] = model.inputs;
  const name = (suffix: string) => `${input.name}_${suffix}`;
  const nodes: OnnxNode[] = [
    { opType: 'Cast', inputs: [name('bytes')], outputs: [name('cast')], attributes: [{ name: 'to', value: { int: 1 } }] },
    { opType: 'Sub', inputs: [name('cast'), name('byte_shift')], outputs: [name('shifted')] },
    { opType: 'Div', inputs: [name('shifted'), name('byte_divisor')], outputs: [input.name] },
  ];
  return {
    ...model,
    nodes: [...nodes, ...model.nodes],
    initializers: [
      ...model.initializers,
      { name: name('byte_shift'), dims: [], data: Float32Array.of(shift) },
      { name: name('byte_divisor'), dims: [], data: Float32Array.of(divisor) },
    ],
    inputs: [{ ...input, name: name('bytes'), type: 'uint8' }, ...rest],
  };
}

/** Exports the graph up to the output node(s), quantised when asked, and opens it in ONNX Runtime. */
export async function openOnnxRunner(graph: GraphModel, artifacts: io.ModelArtifacts, outputNodes: string | readonly string[], options: OnnxRunnerOptions = {}): Promise<OnnxFeatureRunner> {
  const ort = await loadOnnxRuntime();
  const float = exportBackbone(graph, artifacts, outputNodes, options);
  const quantised = options.int8 ? quantiseModel(float, options.int8) : float;
  const onnx = options.byteInput ? withByteInput(quantised, options.byteInput) : quantised;
  const session = await openSession(ort, onnx, options.threads ?? 1);
  const inputName = onnx.inputs[0].name;
  const runEach = async (pixels: Float32Array | Uint8Array, batch: number, size: number) => {
    if ((pixels instanceof Uint8Array) !== Boolean(options.byteInput)) throw new Error(`this runner takes ${options.byteInput ? 'RGB bytes' : 'scaled floats'}`);
    const tensor = pixels instanceof Uint8Array ? new ort.Tensor('uint8', pixels, [batch, size, size, 3]) : new ort.Tensor('float32', pixels, [batch, size, size, 3]);
    const results = await session.run({ [inputName]: tensor });
    return onnx.outputs.map((output) => results[output.name].data as Float32Array);
  };
  return {
    run: async (pixels, batch, size) => (await runEach(pixels, batch, size))[0],
    runEach,
    dispose: () => session.release(),
  };
}

/**
 * The range of every activation the int8 model quantises, measured by running the float model on
 * calibration batches (NHWC float input already scaled to the model's range, `size` square).
 */
export async function calibrateOnnx(graph: GraphModel, artifacts: io.ModelArtifacts, outputNodes: string | readonly string[], batches: Iterable<{ pixels: Float32Array; count: number }>, size: number): Promise<ActivationRanges> {
  const ort = await loadOnnxRuntime();
  const float = exportBackbone(graph, artifacts, outputNodes);
  const points = quantisationPoints(float);
  const tapped = withCalibrationTaps(float, points);
  // Calibration runs before the other feature threads start (features.ts): it may use every core they would.
  const session = await openSession(ort, tapped, Math.min(2, availableParallelism()));
  const ranges: ActivationRanges = {};
  try {
    for (const { pixels, count } of batches) {
      const results = await session.run({ [tapped.inputs[0].name]: new ort.Tensor('float32', pixels, [count, size, size, 3]) });
      for (const point of points) recordRange(ranges, point, (results[`${point}_min`].data as Float32Array)[0], (results[`${point}_max`].data as Float32Array)[0]);
    }
  } finally {
    await session.release();
  }
  return ranges;
}
