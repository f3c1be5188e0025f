/**
 * Fine-tuning the last backbone blocks ("last-blocks"): activations at the cut cached per photo in
 * the store, the head trained first on pooled features exactly as "head" does, then the blocks above
 * the cut and the head trained together; the model stores both, and indexing, Find similar and
 * evaluation embed through the fine-tuned blocks.
 */
import { resolve } from 'node:path';
import type { Problem, RetrievalMetrics, TrainSettings } from '../../shared/api.js';
import { BUILTIN_BACKBONE_ID, SettingsError, TRIPLETS_PER_PHOTO, featuresProblem } from '../../shared/settings.js';
import { decodeActivations, encodeActivations, type ActivationMap } from '../ml/activation-codec.js';
import { describeSpec, parseBackboneSpec, type BackboneSpec } from '../ml/backbone.js';
import { evaluateDetailed, type DetailedEvaluation } from '../ml/eval.js';
import { embedMaps, evaluateNet, loadFineTuned, packFineTuned, trainBlocks, type BlockTrainData, type FineTunedNet, type MapSet } from '../ml/block-trainer.js';
import { selectBackend, type BackendChoice } from '../ml/compute-backend.js';
import type { HeadConfig } from '../ml/head.js';
import { BuiltinGraph, type CutPoint } from '../ml/trainable-backbone.js';
import { trainHead, type TrainData, type TrainerSettings, type TrainOptions } from '../ml/trainer.js';
import { decodeForModel } from '../library/image.js';
import type { ModelRow, PhotoRow, Store } from '../store/store.js';
import type { JobContext } from './pipeline.js';

/** What a fine-tuned model records in its config, beside the head. */
export interface FineTuneConfig {
  blocks: number;
  cutNode: string;
  crop: number;
  mirror: boolean;
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
 * at N = 1 (README, "Fine-tuning the last blocks"); its effect apart from the crops is not measured.
 */
const MIRROR_MAPS = true;

/** Refuses, before any work, what this machine or backbone cannot fine-tune, saying why (a SettingsError: a setting, not a failure). */
export function checkFineTune(settings: TrainSettings, spec: BackboneSpec, backend: BackendChoice): void {
  if (settings.fineTune === 'head') return;
  // resolveSettings refuses this too; settings can also arrive stored (a run resumed).
  if (settings.features === 'multi-scale') throw new SettingsError(featuresProblem(settings)!);
  if (settings.fineTune === 'full') {
    throw new SettingsError(
      backend.gpu
        ? 'full fine-tuning is not built yet; train the last blocks (--fine-tune last-blocks) or the head'
        : `full fine-tuning needs a GPU backend; this machine runs ${backend.name}, where one epoch would take hours: train the last blocks (--fine-tune last-blocks) or the head`,
    );
  }
  if (spec.kind !== 'builtin') {
    throw new SettingsError(`last-blocks fine-tuning is built for the built-in backbone (${BUILTIN_BACKBONE_ID}) only; ${describeSpec(spec)} can train its head (--fine-tune head)`);
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
  return `${cut.node}@224`;
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
  const started = Date.now();
  let computed = 0;
  for (let start = 0; start < missing.length; start += DECODE_BATCH) {
    await ctx.control?.checkpoint();
    if (ctx.control?.isStopped) break;
    const batch = missing.slice(start, start + DECODE_BATCH);
    const decoded = await Promise.all(
      batch.map((photo) =>
        decodeForModel(resolve(root, photo.relPath), 224, photo.relPath).then(
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
    const etaSeconds = ((Date.now() - started) / 1000 / done) * (missing.length - done);
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
function labelledMaps(store: Store, libraryId: number, backboneKey: string, cut: CutPoint): BlockTrainData {
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
  const backboneKey = describeSpec({ kind: 'builtin', id: BUILTIN_BACKBONE_ID });
  await cacheCutActivations(ctx, libraryId, cut, backboneKey);
  if (ctx.control?.isStopped) throw new Error('stopped before training started');
  const data = labelledMaps(ctx.store, libraryId, backboneKey, cut);
  if (data.train.maps.length === 0 || data.validation.maps.length === 0) throw new Error('no labelled photo could be read at the cut; nothing to train on');
  const config: FineTuneConfig = { blocks: cut.blocks, cutNode: cut.node, crop: Math.min(cut.shape[0], cut.shape[1]) - 1 || 1, mirror: MIRROR_MAPS };
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
  const outcome = await trainBlocks((saved) => graph.trainable(cut, saved), data, headConfig, { ...trainer, blockLearningRate: trainer.learningRate * BLOCK_LEARNING_RATE_FACTOR, crop: config.crop, mirror: config.mirror }, {
    ...options,
    startHead: startHead ? () => startHead : undefined,
  });
  return {
    epochsDone: outcome.epochsDone,
    finalLoss: outcome.finalLoss,
    stopped: outcome.stopped,
    keptEpoch: outcome.epochsDone,
    fineTune: config,
    evaluate: async () =>
      evaluateDetailed(
        { vectors: await embedMaps(outcome.net, data.validation.maps), classIds: data.validation.classIds },
        { vectors: await embedMaps(outcome.net, data.train.maps), classIds: data.train.classIds },
        trainer.k,
      ),
    weights: () => packFineTuned(outcome.net),
    dispose: () => disposeNet(outcome.net),
  };
}

function fineTuneConfig(model: ModelRow): FineTuneConfig | null {
  return (model.config.fineTune as FineTuneConfig | undefined) ?? null;
}

export function isFineTuned(model: ModelRow): boolean {
  return fineTuneConfig(model) !== null;
}

async function openNet(store: Store, model: ModelRow): Promise<{ net: FineTunedNet; cut: CutPoint; graph: BuiltinGraph }> {
  const config = fineTuneConfig(model)!;
  const graph = await builtinGraph();
  const cut = graph.cutPoint(config.blocks);
  if (cut.node !== config.cutNode) throw new Error(`model ${model.id} was fine-tuned above ${config.cutNode}, which this backbone no longer has`);
  const weights = store.modelWeights(model.id);
  if (!weights) throw new Error(`model ${model.id} has no stored weights`);
  return { net: loadFineTuned((saved) => graph.trainable(cut, saved), model.config.head as HeadConfig, weights), cut, graph };
}

function disposeNet(net: FineTunedNet): void {
  net.head.dispose();
  net.blocks.dispose();
}

/** indexLibrary for a fine-tuned model: every photo whose embedding is missing or stale, through the fine-tuned blocks. */
export async function indexFineTuned(ctx: JobContext, libraryId: number, model: ModelRow): Promise<{ embedded: number; missingFeatures: number }> {
  const { store } = ctx;
  const { net, cut } = await openNet(store, model);
  try {
    await cacheCutActivations(ctx, libraryId, cut, model.backbone);
    const todo = store.photosToEmbed(libraryId, model.id);
    const batchSize = 256;
    let embedded = 0;
    for (let start = 0; start < todo.length; start += batchSize) {
      await ctx.control?.checkpoint();
      const maps = loadMaps(store, model.backbone, cut, todo.slice(start, start + batchSize));
      const ready = todo.slice(start, start + batchSize).filter((p) => maps.has(p.hash));
      const vectors = await embedMaps(net, ready.map((p) => maps.get(p.hash)!));
      store.putEmbeddings(model.id, model.dim, ready.map((p, i) => ({ photoId: p.id, hash: p.hash, vector: vectors[i] })));
      embedded += ready.length;
      ctx.emit?.({ type: 'progress', kind: 'index', phase: `Indexing with ${model.name}`, done: Math.min(start + batchSize, todo.length), total: todo.length, etaSeconds: null });
    }
    return { embedded, missingFeatures: todo.length - embedded };
  } finally {
    disposeNet(net);
  }
}

/** The embedding of a library photo (its cached map) or of an image from outside, through the fine-tuned blocks. */
export async function embedQueryFineTuned(store: Store, libraryId: number, model: ModelRow, query: { photo: PhotoRow } | { image: string | Buffer; label: string }): Promise<Float32Array> {
  const { net, cut, graph } = await openNet(store, model);
  try {
    let map = 'photo' in query ? loadMaps(store, model.backbone, cut, [query.photo]).get(query.photo.hash) : undefined;
    if (!map) {
      const source = 'photo' in query ? { image: resolve(store.libraryRoot(libraryId), query.photo.relPath), label: query.photo.relPath } : query;
      const decoded = await decodeForModel(source.image, 224, source.label);
      const [values] = await graph.activations([decoded.pixels], cut);
      // Through the same quantisation as the stored maps, so a photo embeds the same either way.
      map = decodeActivations(encodeActivations(values, cut.shape));
    }
    return (await embedMaps(net, [map]))[0];
  } finally {
    disposeNet(net);
  }
}

/** Embeddings of these library photos through the fine-tuned blocks, in order; null where a photo's cut map is not cached. */
export async function embedPhotosFineTuned(store: Store, model: ModelRow, photos: PhotoRow[]): Promise<Array<Float32Array | null>> {
  const { net, cut } = await openNet(store, model);
  try {
    const maps = loadMaps(store, model.backbone, cut, photos);
    const ready = photos.filter((p) => maps.has(p.hash));
    const vectors = await embedMaps(net, ready.map((p) => maps.get(p.hash)!));
    const byHash = new Map(ready.map((p, i) => [p.hash, vectors[i]]));
    return photos.map((p) => byHash.get(p.hash) ?? null);
  } finally {
    disposeNet(net);
  }
}

/** evaluateModel for a fine-tuned model: validation photos query training photos, through the fine-tuned blocks. */
export async function evaluateFineTuned(store: Store, libraryId: number, model: ModelRow, k: number): Promise<RetrievalMetrics> {
  const { net, cut } = await openNet(store, model);
  try {
    return await evaluateNet(net, labelledMaps(store, libraryId, model.backbone, cut), k);
  } finally {
    disposeNet(net);
  }
}
