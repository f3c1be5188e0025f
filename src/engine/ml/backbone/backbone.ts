import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { loadLayersModel, model as functionalModel, type LayersModel, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import { selectBackend } from '../runtime/compute-backend.js';
import { l2Normalize, normalizeVector } from '../training/head.js';
import { downloadModel } from './model-download.js';
import { calibrationFile, calibrationFor, type CalibrationOutcome } from './int8-calibration.js';
import { calibrateOnnx, openOnnxRunner, preferredPrecision, preferredRuntime, type ByteScaling, type RuntimeHost } from './onnx-backbone.js';
import { userCacheDir } from '../../common/paths.js';
import { BUILTIN_BACKBONE, type BuiltinScale } from '../../../shared/builtin-backbone.js';
import { SettingsError, type BackbonePrecision } from '../../../shared/settings.js';

/** How a backbone wants its RGB input scaled. */
export type InputRange = '0,1' | '-1,1' | '0,255';

export type BackboneSpec =
  /** `scales`: earlier layers pooled beside the final features (multi-scale features, see BUILTIN_BACKBONE.scales). */
  | { kind: 'builtin'; id: typeof BUILTIN_BACKBONE.id; scales?: readonly BuiltinScale[] }
  /** A TF.js model folder (model.json + weight shards), layers or graph format. */
  | { kind: 'folder'; path: string; output?: string; inputRange: InputRange; inputSize: number }
  /** Downloaded on first use into the cache, checked against its sha256 (see model-download.ts). */
  | { kind: 'url'; url: string; sha256: string; output?: string; inputRange: InputRange; inputSize: number };

export interface Backbone {
  /** Stable key for caches and the models table, e.g. "nsfwjs-mobilenetv2-1.4" or "folder:/path#out_relu". */
  key: string;
  /** What to show a person. */
  description: string;
  dim: number;
  inputSize: number;
  /** What computes the features: "onnxruntime", or "tfjs-" and the TF.js backend, e.g. "tfjs-wasm". */
  runtime: string;
  /** Why a faster runtime was passed over, when one was. */
  runtimeNote?: string;
  /** Pooled features of a batch of decoded RGB images (inputSize^2 x 3 bytes each). */
  embed(images: Uint8Array[]): Promise<Float32Array[]>;
  dispose(): void;
}

/**
 * Multi-scale features end with the final pool, L2-normalised: the plain backbone's features up to
 * scale, which every consumer normalises anyway. Null for a spec without extra scales.
 */
export function finalPartOf(spec: BackboneSpec): { spec: BackboneSpec; dim: number } | null {
  if (spec.kind !== 'builtin' || !spec.scales?.length) return null;
  return { spec: { kind: 'builtin', id: spec.id }, dim: BUILTIN_BACKBONE.featureDim };
}

/**
 * The widths of the layers whose pooled features a spec's vector joins, in order (each is
 * L2-normalised on its own): the scales, then the final pool; one segment for a single-layer backbone.
 */
export function featureSegments(spec: BackboneSpec, dim: number): number[] {
  if (spec.kind !== 'builtin' || !spec.scales?.length) return [dim];
  const segments = builtinSegments(spec.scales);
  if (segments.reduce((a, b) => a + b, 0) !== dim) throw new Error(`features of ${describeSpec(spec)} have ${dim} values, not the ${segments.join(' + ')} of their layers`);
  return segments;
}

/** Widths of the built-in backbone's pooled layers: the scales, then the final pool (their sum is its feature size). */
export function builtinSegments(scales: readonly BuiltinScale[] = []): number[] {
  return [...scales.map((scale) => BUILTIN_BACKBONE.scales[scale].width), BUILTIN_BACKBONE.featureDim];
}

/** The backbone a training's settings ask for, its multi-scale features included (settings stored before them had none). */
export function trainingBackboneSpec(settings: { backbone: string; features?: string }): BackboneSpec {
  const spec = parseBackboneSpec(settings.backbone);
  return settings.features === 'multi-scale' && spec.kind === 'builtin' ? { ...spec, scales: BUILTIN_BACKBONE.multiScale } : spec;
}

/** The cache key names the scales, so features of each layer set are kept apart and older caches stay valid. */
export function describeSpec(spec: BackboneSpec): string {
  if (spec.kind === 'builtin') return [spec.id, ...(spec.scales ?? [])].join('+');
  const at = spec.output ? `#${spec.output}` : '';
  return spec.kind === 'folder' ? `folder:${spec.path}${at}` : `url:${spec.url}${at}=sha256:${spec.sha256}`;
}

/** How the built-in backbone may be quantised (see int8-calibration.ts). */
export interface LoadOptions {
  /** Default: LOOKALIKE_BACKBONE_PRECISION, else the settings' default. */
  precision?: BackbonePrecision;
  /** Photos to calibrate int8 on when no calibration is cached yet. */
  calibrationPhotos?: readonly string[];
  /** Where the calibration is cached; default the user's cache folder. */
  cacheDir?: string;
}

export async function loadBackbone(spec: BackboneSpec = { kind: 'builtin', id: BUILTIN_BACKBONE.id }, options: LoadOptions = {}): Promise<Backbone> {
  const backend = await selectBackend();
  if (spec.kind === 'builtin') {
    if (spec.id !== BUILTIN_BACKBONE.id) throw new Error(`unknown built-in backbone "${spec.id}"`);
    const artifacts = await readBuiltinArtifacts();
    const scales = spec.scales ?? [];
    for (const scale of scales) if (!Object.hasOwn(BUILTIN_BACKBONE.scales, scale)) throw new Error(`the built-in backbone has no layer "${scale}" to pool`);
    const graph = await loadGraphModel(tf.io.fromMemory(artifacts));
    return await fromGraph(graph, artifacts, backend, {
      key: describeSpec(spec),
      description: `${BUILTIN_BACKBONE.name}, ${BUILTIN_BACKBONE.inputSize}x${BUILTIN_BACKBONE.inputSize}, global-average-pool features${scales.length ? ` with ${scales.join(', ')} beside them` : ''}`,
      output: scales.length ? [...scales.map((scale) => BUILTIN_BACKBONE.scales[scale].node), BUILTIN_BACKBONE.featureNode] : BUILTIN_BACKBONE.featureNode,
      inputRange: BUILTIN_BACKBONE.inputRange,
      inputSize: BUILTIN_BACKBONE.inputSize,
      ...((options.precision ?? preferredPrecision()) === 'int8' ? { int8: { photos: options.calibrationPhotos ?? [], cacheDir: options.cacheDir ?? userCacheDir() } } : {}),
    });
  }
  const folder = spec.kind === 'folder' ? spec.path : await downloadModel(spec.url, spec.sha256, join(userCacheDir(), 'backbones'));
  const artifacts = await readFolderArtifacts(folder);
  const common = { key: describeSpec(spec), inputRange: spec.inputRange, inputSize: spec.inputSize };
  if (artifacts.format === 'graph-model') {
    if (!spec.output) throw new Error(`${folder}: a graph model needs its feature node named (FOLDER#NODE)`);
    const graph = await loadGraphModel(tf.io.fromMemory(artifacts));
    return await fromGraph(graph, artifacts, backend, { ...common, output: spec.output, description: `graph model ${folder} at ${spec.output}` });
  }
  const layers = await loadLayersModel(tf.io.fromMemory(artifacts));
  return fromLayers(layers, spec.output, { ...common, description: `layers model ${folder}${spec.output ? ` at ${spec.output}` : ''}` });
}

interface Wiring {
  key: string;
  description: string;
  inputRange: InputRange;
  inputSize: number;
}

/**
 * Graph models run on ONNX Runtime where that is the faster choice (see onnx-backbone.ts), else on
 * TF.js. A graph the exporter cannot express falls back to TF.js, which computes the same features.
 * Several output nodes give multi-scale features: each pooled and L2-normalised, then concatenated.
 */
async function fromGraph(graph: GraphModel, artifacts: tf.io.ModelArtifacts, host: RuntimeHost, graphWiring: GraphWiring): Promise<Backbone> {
  const { int8, ...wiring } = graphWiring;
  let onnxFailure: string | undefined;
  if (preferredRuntime(host) === 'onnxruntime') {
    try {
      const calibration = int8 ? await builtinCalibration(graph, artifacts, int8) : null;
      const ranges = calibration?.ranges ?? undefined;
      const runner = await openOnnxRunner(graph, artifacts, wiring.output, { int8: ranges, byteInput: byteScaling(wiring.inputRange) });
      // Probe before letting go of the TF.js graph: if ONNX Runtime cannot run it, TF.js still can.
      const dims = await runner.runEach(new Uint8Array(wiring.inputSize * wiring.inputSize * 3), 1, wiring.inputSize).then(
        (probe) => probe.map((part) => part.length),
        async (error: unknown) => {
          await runner.dispose();
          throw error;
        },
      );
      graph.dispose();
      const dim = dims.reduce((a, b) => a + b, 0);
      return {
        ...wiring,
        dim,
        runtime: ranges ? 'onnxruntime-int8' : 'onnxruntime',
        ...(calibration && !calibration.ranges ? { runtimeNote: calibration.reason } : {}),
        async embed(images) {
          if (images.length === 0) return [];
          const parts = await runner.runEach(joinPixels(images, wiring.inputSize), images.length, wiring.inputSize);
          if (parts.length === 1) return images.map((_, i) => parts[0].slice(i * dim, (i + 1) * dim));
          return images.map((_, i) => joinScales(parts.map((part, p) => part.subarray(i * dims[p], (i + 1) * dims[p]))));
        },
        dispose: () => void runner.dispose(),
      };
    } catch (error) {
      if (process.env.LOOKALIKE_BACKBONE_RUNTIME === 'onnxruntime') throw error;
      // Not exportable or ONNX Runtime missing: TF.js below gives the same features, only slower.
      onnxFailure = (error as Error).message.split('\n')[0];
    }
  }
  const outputs = wiring.output;
  const run = (batch: tf.Tensor4D) =>
    typeof outputs === 'string'
      ? pool(graph.execute(batch, outputs) as tf.Tensor)
      : tf.concat((graph.execute(batch, outputs) as tf.Tensor[]).map((map) => l2Normalize(pool(map))), 1);
  const backbone = finish(wiring, run, () => graph.dispose());
  return onnxFailure ? { ...backbone, runtimeNote: `ONNX Runtime not used: ${onnxFailure}` } : backbone;
}

interface GraphWiring extends Wiring {
  output: string | string[];
  /** Quantise to int8 (built-in backbone only): calibration photos and where the calibration is cached. */
  int8?: { photos: readonly string[]; cacheDir: string };
}

/** Every layer the built-in graph can output: calibrated once for all, so one cached calibration serves each feature setting. */
export const BUILTIN_OUTPUTS = [...Object.values(BUILTIN_BACKBONE.scales).map((scale) => scale.node), BUILTIN_BACKBONE.featureNode];

function builtinCalibration(graph: GraphModel, artifacts: tf.io.ModelArtifacts, int8: { photos: readonly string[]; cacheDir: string }): Promise<CalibrationOutcome> {
  return calibrationFor({
    file: calibrationFile(int8.cacheDir, BUILTIN_BACKBONE.id),
    backboneKey: BUILTIN_BACKBONE.id,
    photos: int8.photos,
    inputSize: BUILTIN_BACKBONE.inputSize,
    scale: (images) => scalePixels(images, BUILTIN_BACKBONE.inputSize, BUILTIN_BACKBONE.inputRange),
    calibrate: (batches) => calibrateOnnx(graph, artifacts, BUILTIN_OUTPUTS, batches, 224),
  });
}

function fromLayers(layers: LayersModel, output: string | undefined, wiring: Wiring): Backbone {
  let truncated: LayersModel;
  try {
    truncated = output ? truncateAt(layers, output) : layers;
  } catch (error) {
    layers.dispose(); // a layer name that is not there: the loaded weights go with the refusal
    throw error;
  }
  const run = (batch: tf.Tensor4D) => pool(truncated.predict(batch) as tf.Tensor);
  const variables = layers.weights.map((weight) => weight.read());
  return finish(wiring, run, () => {
    layers.dispose();
    // A Sequential model counts its layers twice (itself and its inner model): dispose() can leave weights alive.
    for (const variable of variables) if (!variable.isDisposed) variable.dispose();
  });
}

function finish(wiring: Wiring, run: (batch: tf.Tensor4D) => tf.Tensor2D, dispose: () => void): Backbone {
  const probe = tf.tidy(() => run(tf.zeros([1, wiring.inputSize, wiring.inputSize, 3])));
  const dim = probe.shape[1];
  probe.dispose();
  return {
    ...wiring,
    dim,
    runtime: `tfjs-${tf.getBackend()}`,
    async embed(images) {
      if (images.length === 0) return [];
      const batch = tf.tensor4d(scalePixels(images, wiring.inputSize, wiring.inputRange), [images.length, wiring.inputSize, wiring.inputSize, 3]);
      const features = tf.tidy(() => run(batch));
      batch.dispose();
      const flat = (await features.data()) as Float32Array;
      features.dispose();
      return images.map((_, i) => flat.slice(i * dim, (i + 1) * dim));
    },
    dispose,
  };
}

/** How RGB bytes map onto the model's input range: (x - shift) / divisor. */
export function byteScaling(range: InputRange): ByteScaling {
  return range === '0,1' ? { shift: 0, divisor: 255 } : range === '-1,1' ? { shift: 127.5, divisor: 127.5 } : { shift: 0, divisor: 1 };
}

/** RGB bytes -> NHWC floats in the model's input range. */
export function scalePixels(images: Uint8Array[], size: number, range: InputRange): Float32Array {
  const { shift, divisor } = byteScaling(range);
  const bytes = joinPixels(images, size);
  const pixels = new Float32Array(bytes.length);
  for (let j = 0; j < bytes.length; j++) pixels[j] = (bytes[j] - shift) / divisor;
  return pixels;
}

/** A batch of RGB images (size x size x 3 bytes each) in one NHWC byte array. */
export function joinPixels(images: Uint8Array[], size: number): Uint8Array {
  const length = size * size * 3;
  const pixels = new Uint8Array(images.length * length);
  images.forEach((image, i) => {
    if (image.length !== length) throw new Error(`image ${i} has ${image.length} bytes, expected ${length}`);
    pixels.set(image, i * length);
  });
  return pixels;
}

/** Multi-scale features of one photo: each scale's pooled vector L2-normalised, then concatenated in order. */
export function joinScales(parts: Float32Array[]): Float32Array {
  const joined = new Float32Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    joined.set(normalizeVector(part), offset);
    offset += part.length;
  }
  return joined;
}

/** Feature maps (NHWC) are global-average-pooled; vectors pass through flattened. */
function pool(output: tf.Tensor): tf.Tensor2D {
  if (output.rank === 4) return tf.mean(output, [1, 2]) as tf.Tensor2D;
  return tf.reshape(output, [output.shape[0], -1]) as tf.Tensor2D;
}

/** A sub-model from the image input to the named layer, found in nested models too. */
function truncateAt(root: LayersModel, layerName: string): LayersModel {
  const path = findLayerPath(root, layerName);
  if (!path) throw new Error(`no layer named "${layerName}" in the model`);
  const container = path.length > 1 ? (path[path.length - 2] as unknown as LayersModel) : root;
  const target = path[path.length - 1];
  return functionalModel({ inputs: container.inputs, outputs: target.output as SymbolicTensor });
}

interface NamedLayer {
  name: string;
  output: SymbolicTensor | SymbolicTensor[];
  layers?: NamedLayer[];
}

function findLayerPath(container: { layers?: NamedLayer[] }, name: string): NamedLayer[] | undefined {
  for (const layer of container.layers ?? []) {
    if (layer.name === name) return [layer];
    const inner = findLayerPath(layer, name);
    if (inner) return [layer, ...inner];
  }
  return undefined;
}

/** The nsfwjs package ships its graph model as modules holding the model JSON and base64 weight shards. */
export async function readBuiltinArtifacts(): Promise<tf.io.ModelArtifacts> {
  const { MobileNetV2MidModel } = (await import('nsfwjs/models/mobilenet_v2_mid')) as unknown as { MobileNetV2MidModel: BundledModel };
  const modelJson = unwrap<tf.io.ModelJSON>(await MobileNetV2MidModel.modelJson());
  const shards = await Promise.all(MobileNetV2MidModel.weightBundles.map(async (load) => Buffer.from(unwrap<string>(await load()), 'base64')));
  return toArtifacts(modelJson, shards);
}

interface BundledModel {
  modelJson: () => Promise<unknown>;
  weightBundles: Array<() => Promise<unknown>>;
}

/** A CommonJS module imported from ESM arrives as { default: module.exports }. */
function unwrap<T>(imported: unknown): T {
  const value = imported as { default?: unknown };
  return (typeof value === 'object' && value !== null && 'default' in value ? value.default : value) as T;
}

async function readFolderArtifacts(folder: string): Promise<tf.io.ModelArtifacts> {
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')) as tf.io.ModelJSON;
  } catch (error) {
    throw new Error(`${join(folder, 'model.json')}: cannot read a TF.js model (${(error as Error).message})`);
  }
  const shards = await Promise.all(modelJson.weightsManifest.flatMap((group) => group.paths).map((path) => readFile(join(folder, path))));
  return toArtifacts(modelJson, shards);
}

function toArtifacts(modelJson: tf.io.ModelJSON, shards: Buffer[]): tf.io.ModelArtifacts {
  const weightData = new Uint8Array(shards.reduce((total, shard) => total + shard.length, 0));
  let offset = 0;
  for (const shard of shards) {
    weightData.set(shard, offset);
    offset += shard.length;
  }
  const format = modelJson.format ?? (JSON.stringify(modelJson.modelTopology).includes('"class_name"') ? 'layers-model' : 'graph-model');
  return {
    modelTopology: modelJson.modelTopology,
    format,
    weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights),
    weightData: weightData.buffer,
    signature: modelJson.signature,
    userDefinedMetadata: modelJson.userDefinedMetadata,
    modelInitializer: modelJson.modelInitializer,
  };
}

/**
 * A backbone named in one string, as settings and the CLI carry it: the built-in id, or a TF.js
 * model folder with the feature layer/node after '#' and the input range after '@', e.g.
 * `models/mobilenetv2-0.35#out_relu@-1,1`.
 */
export function parseBackboneSpec(text: string, inputSize = 224): BackboneSpec {
  if (text === BUILTIN_BACKBONE.id || text === '') return { kind: 'builtin', id: BUILTIN_BACKBONE.id };
  const match = /^(?<path>[^#@=]+)(?:#(?<output>[^@=]+))?(?:@(?<range>[^=]+))?(?:=sha256:(?<sha256>.*))?$/.exec(text);
  if (!match?.groups) throw new SettingsError(`cannot read backbone "${text}" (expected ${BUILTIN_BACKBONE.id}, FOLDER[#LAYER][@RANGE] or URL[#LAYER][@RANGE]=sha256:HEX)`);
  const range = (match.groups.range ?? '0,1') as InputRange;
  if (!['0,1', '-1,1', '0,255'].includes(range)) throw new SettingsError(`backbone input range must be 0,1 or -1,1 or 0,255 (got "${range}")`);
  const { path, output, sha256 } = match.groups;
  if (/^https?:\/\//.test(path)) {
    if (!sha256) throw new SettingsError(`${path}: a downloaded backbone needs its checksum (URL…=sha256:HEX)`);
    return { kind: 'url', url: path, sha256, output, inputRange: range, inputSize };
  }
  return { kind: 'folder', path, output, inputRange: range, inputSize };
}
