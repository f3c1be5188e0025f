/**
 * Fine-tuning the backbone with the head. "last-blocks": activations at the cut cached per photo in
 * the store, the blocks above the cut trained on them. "full" (a GPU backend only): the whole
 * network trained from decoded photos, with random crops and mirroring. Both train the head first
 * on pooled features exactly as "head" does, then blocks and head together (block-trainer.ts); the
 * model stores both, and indexing, Find similar and evaluation embed through the fine-tuned network.
 */
import { resolve } from 'node:path';
import { activeClock } from '../common/job-control.js';
import { createThroughput } from '../common/throughput.js';
import type { Problem, RetrievalMetrics, TrainSettings } from '../../shared/api.js';
import { BUILTIN_BACKBONE } from '../../shared/builtin-backbone.js';
import { SettingsError, TRIPLETS_PER_PHOTO, featuresProblem } from '../../shared/settings.js';
import { decodeActivations, encodeActivations, type ActivationMap } from '../ml/backbone/activation-codec.js';
import { describeSpec, parseBackboneSpec, type BackboneSpec } from '../ml/backbone/backbone.js';
import { evaluateDetailed, type DetailedEvaluation } from '../ml/training/retrieval-metrics.js';
import { embedInputs, embedMaps, evaluateNet, loadFineTuned, mapInputs, packFineTuned, trainBlocks, type BlockTrainData, type BlockTrainOutcome, type FineTunedNet, type MapSet } from '../ml/training/block-trainer.js';
import { photoInputs, type PhotoSource } from '../ml/training/decoded-photos.js';
import { decodedInputs } from '../ml/training/pixel-batches.js';
import { selectBackend, type BackendChoice } from '../ml/runtime/compute-backend.js';
import type { HeadConfig } from '../ml/training/head.js';
import { BuiltinGraph, type CutPoint } from '../ml/backbone/trainable-backbone.js';
import { trainHead, type TrainData, type TrainerSettings, type TrainOptions } from '../ml/training/trainer.js';
import { decodeForModel } from '../library/image.js';
import type { ModelRow, PhotoRow, Store } from '../store/store.js';
import type { JobContext } from './job-context.js';

/** What a fine-tuned model records in its config, beside the head. */
export interface FineTuneConfig {
  blocks: number;
  cutNode: string;
  /** Side of the random crops of the cut map (last-blocks); for full, 0: photos are cropped instead (photo-inputs.ts). */
  crop: number;
  mirror: boolean;
  /** Set for full: the side of the photos the whole network trains and embeds at. */
  inputSize?: number;
}

/** Triplets per training photo and epoch for the blocks: each step costs about 100× a head step on CPU. */
export const BLOCK_TRIPLETS_PER_PHOTO = 1;
/** The blocks start pretrained: Adam at a tenth of the head's rate. */
const BLOCK_LEARNING_RATE_FACTOR = 0.1;
/** The head's own schedule, run first (as --fine-tune head with default epochs would). */
const HEAD_FIRST = { epochs: 5, tripletsPerPhoto: 8 };
const DECODE_BATCH = 16;
/**
 * Mirror half of the cut maps in training (with the random crops). On: the configuration measured
 * at N = 1 (docs/measurements.md, "Fine-tuning the last blocks"); its effect apart from the crops is not measured.
 */
const MIRROR_MAPS = true;

/** Refuses, before any work, what this machine or backbone cannot fine-tune, saying why (a SettingsError: a setting, not a failure). */
export function checkFineTune(settings: TrainSettings, spec: BackboneSpec, backend: BackendChoice): void {
  if (settings.fineTune === 'head') return;
  // resolveSettings refuses this too; settings can also arrive stored (a run resumed).
  if (settings.features === 'multi-scale') throw new SettingsError(featuresProblem(settings)!);
  // WebGPU on a software adapter (SwiftShader) is only ever taken when forced: allowed, so the path can be tested.
  if (settings.fineTune === 'full' && !(backend.gpu || backend.name === 'webgpu')) {
    throw new SettingsError(
      `full fine-tuning needs a GPU backend; this machine runs ${backend.name}, where one epoch would take hours: train the last blocks (--fine-tune last-blocks) or the head`,
    );
  }
  if (spec.kind !== 'builtin') {
    throw new SettingsError(`${settings.fineTune} fine-tuning is built for the built-in backbone (${BUILTIN_BACKBONE.id}) only; ${describeSpec(spec)} can train its head (--fine-tune head)`);
  }
}

/** checkFineTune for this machine's backend and the settings' backbone. */
export async function checkFineTuneHere(settings: TrainSettings): Promise<void> {
  checkFineTune(settings, parseBackboneSpec(settings.backbone), await selectBackend());
}

let graphLoading: Promise<BuiltinGraph> | undefined;

/** The built-in graph, loaded once per process (a second or two) and kept for queries. */
export function builtinGraph(): Promise<BuiltinGraph> {
  if (!graphLoading) {
    graphLoading = BuiltinGraph.load();
    graphLoading.catch(() => (graphLoading = undefined));
  }
  return graphLoading;
}

function cutKey(cut: CutPoint): string {
  return `${cut.node}@${BUILTIN_BACKBONE.inputSize}`;
}

/** Computes and stores the cut activations of every photo that has none (photos the backbone could not read are left out). */
export async function cacheCutActivations(ctx: JobContext, libraryId: number, cut: CutPoint, backboneKey: string): Promise<{ computed: number; problems: Problem[] }> {
  const { store } = ctx;
  const graph = await builtinGraph();
  const have = store.cutActivationHashes(backboneKey, cutKey(cut));
  const failed = store.featureFailures(backboneKey);
  const seen = new Set<string>();
  const missing = store.photos(libraryId).filter((p) => !have.has(p.hash) && !failed.has(p.hash) && !seen.has(p.hash) && seen.add(p.hash));
  const root = store.libraryRoot(libraryId);
  const problems: Problem[] = [];
  const pace = createThroughput(activeClock(ctx.control));
  let computed = 0;
  for (let start = 0; start < missing.length; start += DECODE_BATCH) {
    await ctx.control?.checkpoint();
    if (ctx.control?.isStopped) break;
    const batch = missing.slice(start, start + DECODE_BATCH);
    const decoded = await Promise.all(
      batch.map((photo) =>
        decodeForModel(resolve(root, photo.relPath), BUILTIN_BACKBONE.inputSize, photo.relPath).then(
          (image) => ({ photo, pixels: image.pixels }),
          (error: unknown) => {
            problems.push({ path: photo.relPath, reason: `cannot read (${(error as Error).message})` });
            return null;
          },
        ),
      ),
    );
    const readable = decoded.filter((d) => d !== null);
    const maps = await graph.activations(readable.map((d) => d.pixels), cut);
    store.putCutActivations(backboneKey, cutKey(cut), readable.map((d, i) => ({ hash: d.photo.hash, data: encodeActivations(maps[i], cut.shape) })));
    computed += readable.length;
    const done = Math.min(start + DECODE_BATCH, missing.length);
    const runtime = graph.runtime === 'onnxruntime' ? 'ONNX Runtime' : graph.runtime.replace(/^tfjs-/, 'TF.js ');
    const { etaSeconds } = pace(done, missing.length);
    ctx.emit?.({ type: 'progress', kind: 'features', phase: `Computing backbone activations below block ${cut.blocks} from the end (${runtime})`, done, total: missing.length, etaSeconds });
  }
  for (const problem of problems) ctx.emit?.({ type: 'problem', problem });
  return { computed, problems };
}

function loadMaps(store: Store, backboneKey: string, cut: CutPoint, photos: PhotoRow[]): Map<string, ActivationMap> {
  const blobs = store.cutActivations(backboneKey, cutKey(cut), [...new Set(photos.map((p) => p.hash))]);
  return new Map([...blobs].map(([hash, blob]) => [hash, decodeActivations(blob)]));
}

/** Labelled photos with cached maps, on their stored side of the split. */
function labelledMaps(store: Store, libraryId: number, backboneKey: string, cut: CutPoint): Record<'train' | 'validation', MapSet> {
  const photos = store.photos(libraryId).filter((p) => p.classId !== null && p.split !== null);
  const maps = loadMaps(store, backboneKey, cut, photos);
  const sets: Record<'train' | 'validation', MapSet> = { train: { maps: [], classIds: [] }, validation: { maps: [], classIds: [] } };
  for (const photo of photos) {
    const map = maps.get(photo.hash);
    if (!map) continue;
    sets[photo.split!].maps.push(map);
    sets[photo.split!].classIds.push(photo.classId!);
  }
  return sets;
}

/** Triplets per epoch when the settings say 0 (automatic). */
export function autoTriplets(settings: TrainSettings, trainPhotos: number): number {
  if (settings.tripletsPerEpoch) return settings.tripletsPerEpoch;
  return trainPhotos * (settings.fineTune === 'head' ? TRIPLETS_PER_PHOTO : BLOCK_TRIPLETS_PER_PHOTO);
}

/** A finished (or stopped) training of either kind, as the pipeline stores it. */
export interface TrainedOutcome {
  epochsDone: number;
  finalLoss: number | null;
  stopped: boolean;
  /** Set for fine-tuned models: where the cut is. */
  fineTune?: FineTuneConfig;
  /** The epoch whose weights the model keeps. */
  keptEpoch: number;
  /** Validation photos query training photos through the trained model. */
  evaluate(): Promise<DetailedEvaluation>;
  weights(): Promise<Buffer>;
  dispose(): void;
}

/** The "last-blocks" part of the Train button; the caller has cached features, split, and prepared the run. */
export async function trainLastBlocks(
  ctx: JobContext,
  libraryId: number,
  settings: TrainSettings,
  trainer: TrainerSettings,
  headConfig: HeadConfig,
  featureSets: TrainData,
  options: TrainOptions,
): Promise<TrainedOutcome> {
  const graph = await builtinGraph();
  const cut = graph.cutPoint(settings.fineTuneBlocks);
  const backboneKey = describeSpec({ kind: 'builtin', id: BUILTIN_BACKBONE.id });
  await cacheCutActivations(ctx, libraryId, cut, backboneKey);
  if (ctx.control?.isStopped) throw new Error('stopped before training started');
  const maps = labelledMaps(ctx.store, libraryId, backboneKey, cut);
  if (maps.train.maps.length === 0 || maps.validation.maps.length === 0) throw new Error('no labelled photo could be read at the cut; nothing to train on');
  const config: FineTuneConfig = { blocks: cut.blocks, cutNode: cut.node, crop: Math.min(cut.shape[0], cut.shape[1]) - 1 || 1, mirror: MIRROR_MAPS };
  const data = { train: mapInputs(maps.train, { crop: config.crop, mirror: config.mirror }), validation: mapInputs(maps.validation) };
  return trainWithBlocks(ctx, graph, cut, config, data, trainer, headConfig, featureSets, options);
}

/**
 * The "full" part of the Train button: the whole network from decoded photos (no cut cache).
 * `inputSize` is the photo side; less than the backbone's own input size only for tests and the bench (SwiftShader is slow).
 */
export async function trainFull(
  ctx: JobContext,
  libraryId: number,
  trainer: TrainerSettings,
  headConfig: HeadConfig,
  featureSets: TrainData,
  options: TrainOptions,
  inputSize: number = BUILTIN_BACKBONE.inputSize,
): Promise<TrainedOutcome> {
  const graph = await builtinGraph();
  const cut = graph.inputCut(inputSize);
  const photos = labelledPhotos(ctx.store, libraryId, describeSpec({ kind: 'builtin', id: BUILTIN_BACKBONE.id }));
  if (photos.train.sources.length === 0 || photos.validation.sources.length === 0) throw new Error('no labelled photo could be read; nothing to train on');
  const config: FineTuneConfig = { blocks: cut.blocks, cutNode: cut.node, crop: 0, mirror: true, inputSize };
  const inputsOf = (set: LabelledPhotos) => photoInputs(set.sources, set.classIds, inputSize);
  const data = { train: inputsOf(photos.train), validation: inputsOf(photos.validation) };
  return trainWithBlocks(ctx, graph, cut, config, data, trainer, headConfig, featureSets, options);
}

interface LabelledPhotos {
  sources: PhotoSource[];
  classIds: number[];
}

/** Labelled photos on their stored side of the split, leaving out those the backbone could not read. */
function labelledPhotos(store: Store, libraryId: number, backboneKey: string): Record<'train' | 'validation', LabelledPhotos> {
  const failed = store.featureFailures(backboneKey);
  const root = store.libraryRoot(libraryId);
  const sets: Record<'train' | 'validation', LabelledPhotos> = { train: { sources: [], classIds: [] }, validation: { sources: [], classIds: [] } };
  for (const photo of store.photos(libraryId)) {
    if (photo.classId === null || photo.split === null || failed.has(photo.hash)) continue;
    sets[photo.split].sources.push({ image: resolve(root, photo.relPath), label: photo.relPath });
    sets[photo.split].classIds.push(photo.classId);
  }
  return sets;
}

/** The head first (as --fine-tune head would train it), then blocks and head together. */
async function trainWithBlocks(
  ctx: JobContext,
  graph: BuiltinGraph,
  cut: CutPoint,
  config: FineTuneConfig,
  data: BlockTrainData,
  trainer: TrainerSettings,
  headConfig: HeadConfig,
  featureSets: TrainData,
  options: TrainOptions,
): Promise<TrainedOutcome> {
  let startHead: FineTunedNet['head'] | undefined;
  if (!options.resumeFrom) {
    ctx.emit?.({ type: 'progress', kind: 'train', phase: 'Training the head first', done: 0, total: HEAD_FIRST.epochs, etaSeconds: null });
    const head = await trainHead(featureSets, headConfig, { ...trainer, epochs: HEAD_FIRST.epochs, tripletsPerEpoch: featureSets.train.vectors.length * HEAD_FIRST.tripletsPerPhoto }, {
      control: ctx.control,
      onEpoch: (epoch) => ctx.emit?.({ type: 'progress', kind: 'train', phase: 'Training the head first', done: epoch.epoch, total: HEAD_FIRST.epochs, etaSeconds: null }),
    });
    startHead = head.head;
    if (head.stopped) {
      head.head.dispose();
      throw new Error('stopped before training started');
    }
  }
  const outcome: BlockTrainOutcome = await trainBlocks((saved) => graph.trainable(cut, saved), data, headConfig, { ...trainer, blockLearningRate: trainer.learningRate * BLOCK_LEARNING_RATE_FACTOR }, {
    ...options,
    startHead: startHead ? () => startHead : undefined,
  });
  const embed = async (set: BlockTrainData['train']) => ({ vectors: await embedInputs(outcome.net, set, set.classIds.length), classIds: set.classIds });
  return {
    epochsDone: outcome.epochsDone,
    finalLoss: outcome.finalLoss,
    stopped: outcome.stopped,
    keptEpoch: outcome.keptEpoch,
    fineTune: config,
    evaluate: async () => evaluateDetailed(await embed(data.validation), await embed(data.train), trainer.k),
    weights: () => packFineTuned(outcome.net),
    dispose: () => disposeNet(outcome.net),
  };
}

export function fineTuneConfig(model: ModelRow): FineTuneConfig | null {
  return (model.config.fineTune as FineTuneConfig | undefined) ?? null;
}

export function isFineTuned(model: ModelRow): boolean {
  return fineTuneConfig(model) !== null;
}

/** A stored fine-tuned model as a network, with the way it turns photos into its inputs. */
interface OpenNet {
  net: FineTunedNet;
  /** Readies the inputs of the library's photos (caches the cut maps, for last-blocks). */
  prepare(ctx: JobContext): Promise<void>;
  /** Embeddings of these library photos, in order; null where a photo cannot be read (or has no cut map). */
  embedPhotos(photos: PhotoRow[]): Promise<Array<Float32Array | null>>;
  /** The embedding of an image from outside (a file or bytes). */
  embedImage(source: PhotoSource): Promise<Float32Array>;
  /** The library's labelled photos as inputs, on their side of the split. */
  labelled(): BlockTrainData;
}

/** Where a fine-tuned model's network starts: the graph's input (full) or the cut below its last blocks. */
export function cutOf(graph: BuiltinGraph, config: FineTuneConfig): CutPoint {
  return config.inputSize !== undefined ? graph.inputCut(config.inputSize) : graph.cutPoint(config.blocks);
}

/** A stored fine-tuned model as a network on the built-in graph; the caller disposes net.head and net.blocks. */
export async function openFineTuned(store: Store, model: ModelRow): Promise<{ net: FineTunedNet; cut: CutPoint; graph: BuiltinGraph }> {
  const config = fineTuneConfig(model)!;
  const graph = await builtinGraph();
  const cut = cutOf(graph, config);
  if (cut.node !== config.cutNode) throw new Error(`model ${model.id} was fine-tuned above ${config.cutNode}, which this backbone no longer has`);
  const weights = store.modelWeights(model.id);
  if (!weights) throw new Error(`model ${model.id} has no stored weights`);
  return { net: loadFineTuned((saved) => graph.trainable(cut, saved), model.config.head as HeadConfig, weights), cut, graph };
}

async function openNet(store: Store, model: ModelRow): Promise<OpenNet> {
  const config = fineTuneConfig(model)!;
  const { net, cut, graph } = await openFineTuned(store, model);
  const libraryId = model.libraryId;
  if (config.inputSize !== undefined) {
    const size = config.inputSize;
    const root = store.libraryRoot(libraryId);
    return {
      net,
      prepare: async () => {},
      embedPhotos: async (photos) => {
        const decoded = await Promise.all(photos.map((p) => decodeForModel(resolve(root, p.relPath), size, p.relPath).then((d) => d.pixels, () => null)));
        const readable = decoded.filter((d) => d !== null);
        const vectors = await embedInputs(net, decodedInputs(readable, size), readable.length);
        let next = 0;
        return decoded.map((d) => (d === null ? null : vectors[next++]));
      },
      embedImage: async (source) => {
        const { pixels } = await decodeForModel(source.image, size, source.label);
        return (await embedInputs(net, decodedInputs([pixels], size), 1))[0];
      },
      labelled: () => {
        const photos = labelledPhotos(store, libraryId, model.backbone);
        return { train: photoInputs(photos.train.sources, photos.train.classIds, size), validation: photoInputs(photos.validation.sources, photos.validation.classIds, size) };
      },
    };
  }
  return {
    net,
    prepare: async (ctx) => void (await cacheCutActivations(ctx, libraryId, cut, model.backbone)),
    embedPhotos: async (photos) => {
      const maps = loadMaps(store, model.backbone, cut, photos);
      const ready = photos.filter((p) => maps.has(p.hash));
      const vectors = await embedMaps(net, ready.map((p) => maps.get(p.hash)!));
      const byHash = new Map(ready.map((p, i) => [p.hash, vectors[i]]));
      return photos.map((p) => byHash.get(p.hash) ?? null);
    },
    embedImage: async (source) => {
      const decoded = await decodeForModel(source.image, BUILTIN_BACKBONE.inputSize, source.label);
      const [values] = await graph.activations([decoded.pixels], cut);
      // Through the same quantisation as the stored maps, so a photo embeds the same either way.
      return (await embedMaps(net, [decodeActivations(encodeActivations(values, cut.shape))]))[0];
    },
    labelled: () => {
      const maps = labelledMaps(store, libraryId, model.backbone, cut);
      return { train: mapInputs(maps.train), validation: mapInputs(maps.validation) };
    },
  };
}

export function disposeNet(net: FineTunedNet): void {
  net.head.dispose();
  net.blocks.dispose();
}

/** indexLibrary for a fine-tuned model: every photo whose embedding is missing or stale, through the fine-tuned network. */
export async function indexFineTuned(ctx: JobContext, libraryId: number, model: ModelRow): Promise<{ embedded: number; missingFeatures: number }> {
  const { store } = ctx;
  const opened = await openNet(store, model);
  try {
    await opened.prepare(ctx);
    const todo = store.photosToEmbed(libraryId, model.id);
    const batchSize = 256;
    let embedded = 0;
    for (let start = 0; start < todo.length; start += batchSize) {
      await ctx.control?.checkpoint();
      const batch = todo.slice(start, start + batchSize);
      const vectors = await opened.embedPhotos(batch);
      const ready = batch.flatMap((photo, i) => (vectors[i] ? [{ photoId: photo.id, hash: photo.hash, vector: vectors[i] }] : []));
      store.putEmbeddings(model.id, model.dim, ready);
      embedded += ready.length;
      ctx.emit?.({ type: 'progress', kind: 'index', phase: `Indexing with ${model.name}`, done: Math.min(start + batchSize, todo.length), total: todo.length, etaSeconds: null });
    }
    return { embedded, missingFeatures: todo.length - embedded };
  } finally {
    disposeNet(opened.net);
  }
}

/** The embedding of a library photo or of an image from outside, through the fine-tuned network. */
export async function embedQueryFineTuned(store: Store, libraryId: number, model: ModelRow, query: { photo: PhotoRow } | { image: string | Buffer; label: string }): Promise<Float32Array> {
  const opened = await openNet(store, model);
  try {
    const [vector] = 'photo' in query ? await opened.embedPhotos([query.photo]) : [null];
    if (vector) return vector;
    return await opened.embedImage('photo' in query ? { image: resolve(store.libraryRoot(libraryId), query.photo.relPath), label: query.photo.relPath } : query);
  } finally {
    disposeNet(opened.net);
  }
}

/** Embeddings of these library photos through the fine-tuned network, in order; null where a photo has no input (unreadable, or no cut map cached). */
export async function embedPhotosFineTuned(store: Store, model: ModelRow, photos: PhotoRow[]): Promise<Array<Float32Array | null>> {
  const opened = await openNet(store, model);
  try {
    return await opened.embedPhotos(photos);
  } finally {
    disposeNet(opened.net);
  }
}

/** evaluateModel for a fine-tuned model: validation photos query training photos, through the fine-tuned network. */
export async function evaluateFineTuned(store: Store, libraryId: number, model: ModelRow, k: number): Promise<RetrievalMetrics> {
  const opened = await openNet(store, model);
  try {
    return await evaluateNet(opened.net, opened.labelled(), k);
  } finally {
    disposeNet(opened.net);
  }
}
