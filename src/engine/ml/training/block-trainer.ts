/**
 * Training backbone blocks with the head: "last-blocks" (the blocks above a cut, on activations
 * cached at the cut) and "full" (the whole network, on photos). Both train through trainBlocks;
 * only their inputs differ (NetInputs).
 *
 * For cached maps augmentation works on the map, not on pixels: a random square crop of the cut map
 * (at 7×7, a 6×6 crop moves the view by one cell, about 32 pixels of the photo) and a left-right
 * mirror of the map (optional). Mirroring a feature map is not the same as the features of the
 * mirrored photo (the frozen filters below the cut are not symmetric): it is a spatial jitter, and
 * shows the blocks maps the frozen layers never produce. Evaluation and indexing use the whole,
 * unmirrored map. Photos are augmented as photos (photo-inputs.ts).
 *
 * Multi-scale features: layers pooled below the cut ("taps") do not change while the blocks train,
 * so they come from the feature cache and join the blocks' pooled output in front of the head.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { createRng, randomInt, type Rng } from '../../common/rng.js';
import { writeActivations, type ActivationMap } from '../backbone/activation-codec.js';
import { evaluateRetrieval } from './retrieval-metrics.js';
import { EmbeddingHead, l2Normalize, packTensors, stack, unpackTensors, type HeadConfig } from './head.js';
import { tripletLossWithGaps } from './loss.js';
import { runEpochs } from './epoch-loop.js';
import { checkTrainerSettings, optimizerState, type NamedTensor, type TrainerSettings, type TrainOptions } from './trainer.js';
import type { TrainableBlocks } from '../backbone/trainable-backbone.js';
import { epochPlanner, mineInBatch, type GappedTriplet, type MarkedPair } from './triplets.js';

export interface MapSet {
  maps: ActivationMap[];
  classIds: number[];
  /** The fixed taps of each map's photo (its cached multi-scale features less the final pool); absent for final features. */
  taps?: Float32Array[];
}

/** What the net trains on and embeds: cut maps or photos, made into a batch when needed. */
export interface NetInputs {
  readonly classIds: number[];
  /** These inputs as one [n, h, w, c] batch (the caller disposes it); with an Rng, augmented for training. */
  batch(indices: number[], augment?: Rng): Promise<tf.Tensor4D>;
  /** These inputs' fixed taps as one [n, width] batch (the caller disposes it); absent when the head sees the blocks' output alone. */
  taps?(indices: number[]): tf.Tensor2D;
}

export interface BlockTrainData {
  train: NetInputs;
  validation: NetInputs;
  /** "Not similar" marks (positions in `train`): mixed into every epoch as the head's trainer mixes them. */
  marked?: MarkedPair[];
  /** Distance of two training inputs under the untrained features: what in-class sampling orders by. */
  distance?: (a: number, b: number) => number;
}

/** Augmentation of cut maps in training: random square crops of this side, mirrored half the time when asked. */
export interface MapAugmentation {
  crop: number;
  mirror: boolean;
}

/** Cached cut maps as inputs of the blocks: whole maps to embed, cropped (and mirrored) ones to train. */
export function mapInputs(set: MapSet, augmentation?: MapAugmentation): NetInputs {
  const { maps } = set;
  if (augmentation && maps.length > 0) {
    const [h, w] = maps[0].shape;
    const { crop } = augmentation;
    if (!(Number.isInteger(crop) && crop > 0 && crop <= Math.min(h, w))) throw new RangeError(`crop must be from 1 to ${Math.min(h, w)} (got ${crop})`);
  }
  const { taps } = set;
  return {
    classIds: set.classIds,
    ...(taps ? { taps: (indices: number[]) => stack(indices.map((i) => taps[i]), taps[0].length) } : {}),
    batch: async (indices, augment) => {
      const [h, w, c] = maps[indices[0]].shape;
      const size = augment && augmentation ? augmentation.crop : null;
      const [rows, cols] = size === null ? [h, w] : [size, size];
      const values = new Float32Array(indices.length * rows * cols * c);
      indices.forEach((index, i) => {
        const crop = size !== null && augment ? { top: randomInt(augment, h - size + 1), left: randomInt(augment, w - size + 1), size, flip: augment() < 0.5 && augmentation!.mirror } : undefined;
        writeActivations(maps[index], values, i * rows * cols * c, crop);
      });
      return tf.tensor4d(values, [indices.length, rows, cols, c]);
    },
  };
}

export interface BlockTrainerSettings extends TrainerSettings {
  /** Adam's learning rate for the backbone blocks (the head uses learningRate). */
  blockLearningRate: number;
}

/** Backbone blocks and head: cut activations (or photos, for the whole network) in, embeddings out. */
export interface FineTunedNet {
  blocks: TrainableBlocks;
  head: EmbeddingHead;
}

export interface BlockTrainOutcome {
  net: FineTunedNet;
  epochsDone: number;
  finalLoss: number | null;
  stopped: boolean;
  /** The epoch whose weights `net` holds: the best by validation mAP@R with keepBest, else the last. */
  keptEpoch: number;
}

/** Builds the blocks above the cut from the graph's weights, or from saved ones. */
export type MakeBlocks = (saved?: tf.NamedTensorMap) => TrainableBlocks;

/**
 * Blocks and head trained together with the deep-ranking loss (the loop: epoch-loop.ts), with a
 * second Adam for the blocks at their own, lower learning rate: they start from pretrained
 * weights, the head from random ones (or from startHead, trained first).
 */
export async function trainBlocks(
  makeBlocks: MakeBlocks,
  data: BlockTrainData,
  headConfig: HeadConfig,
  settings: BlockTrainerSettings,
  options: TrainOptions & { startHead?: () => EmbeddingHead } = {},
): Promise<BlockTrainOutcome> {
  checkTrainerSettings(settings);
  if (!(Number.isFinite(settings.blockLearningRate) && settings.blockLearningRate > 0)) throw new RangeError(`block learning rate must be a positive number (got ${settings.blockLearningRate})`);
  const { classIds } = data.train;
  for (const m of data.marked ?? []) {
    if (!(m.query >= 0 && m.query < classIds.length && m.negative >= 0 && m.negative < classIds.length)) throw new Error(`marked pair (${m.query}, ${m.negative}) is not among the ${classIds.length} training inputs`);
  }
  const method = settings.sampling ?? 'random';
  const { distance } = data;
  if (method === 'in-class' && !distance) throw new Error('in-class triplets need the distances of the untrained features');
  const planTriplets = epochPlanner(method, classIds, data.marked ?? [], settings, distance ?? (() => 0));
  const { net, headOptimizer, blockOptimizer, startEpoch } = await restoreOrCreate(makeBlocks, headConfig, settings, options.resumeFrom, options.startHead);
  // Semi-hard negatives by the net as it is now, on the whole (unaugmented) inputs, as the head's trainer mines on its features.
  const embedRows = (rows: number[]) => embedInputs(net, data.train, rows);
  let augment: Rng = createRng(0);
  try {
    const outcome = await runEpochs<GappedTriplet>({
      settings,
      startEpoch,
      options,
      plan: (epoch) => {
        augment = createRng(settings.seed * 1000 + epoch + 500_000);
        return planTriplets(epoch);
      },
      step: async (planned) => {
        const batch = method === 'semi-hard' ? await mineInBatch(planned, classIds, embedRows) : planned;
        const order = [...batch.map((t) => t.query), ...batch.map((t) => t.positive), ...batch.map((t) => t.negative)];
        const x = await data.train.batch(order, augment);
        const taps = data.train.taps?.(order);
        try {
          return await trainStep(net, headOptimizer, blockOptimizer, x, batch.map((t) => t.gap), taps);
        } finally {
          x.dispose();
          taps?.dispose();
        }
      },
      evaluate: () => evaluateNet(net, data, settings.k),
      checkpoint: () => packCheckpoint(net, headOptimizer, blockOptimizer),
    });
    const { best, epochsDone } = outcome;
    const keptEpoch = settings.keepBest && best && best.epoch !== epochsDone ? restoreNet(net, best.state, best.epoch) : epochsDone;
    return { net, epochsDone, finalLoss: outcome.finalLoss, stopped: outcome.stopped, keptEpoch };
  } finally {
    headOptimizer.dispose();
    blockOptimizer.dispose();
  }
}

/**
 * What the head sees: the blocks' pooled output L2-normalised, behind the fixed taps when there are
 * some, the whole L2-normalised again: the form of cached multi-scale features (each layer unit
 * length, then the vector), so the head trained first on those goes on with its own centre.
 */
export function headInput(net: FineTunedNet, x: tf.Tensor4D, taps?: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const pooled = l2Normalize(net.blocks.apply(x));
    return taps ? l2Normalize(tf.concat([taps, pooled], 1)) : pooled;
  });
}

/**
 * One optimiser step of blocks and head on a batch of triplets stacked as [queries; positives;
 * negatives] (the taps stacked the same way); the loss. Exported for the GPU bench.
 */
export async function trainStep(net: FineTunedNet, headOptimizer: tf.Optimizer, blockOptimizer: tf.Optimizer, x: tf.Tensor4D, gaps: number[], taps?: tf.Tensor2D): Promise<number> {
  const headVariables = net.head.variables;
  const blockVariables = net.blocks.variables;
  const { value, grads } = tf.variableGrads(() => {
    const [q, p, n] = tf.split(net.head.apply(headInput(net, x, taps)), 3) as tf.Tensor2D[];
    return tripletLossWithGaps(q, p, n, gaps);
  }, [...headVariables, ...blockVariables]);
  const named = (variables: tf.Variable[]) => variables.map((v) => ({ name: v.name, tensor: grads[v.name] }));
  headOptimizer.applyGradients(named(headVariables));
  blockOptimizer.applyGradients(named(blockVariables));
  // Read back asynchronously: WebGPU in Node has no synchronous read (it needs OffscreenCanvas).
  const loss = (await value.data())[0];
  tf.dispose([value, ...Object.values(grads)]);
  return loss;
}

/** Embeddings of the whole (uncropped, unmirrored) inputs through the blocks and the head: the first `count`, or those at `rows`, in order. */
export async function embedInputs(net: FineTunedNet, inputs: NetInputs, count: number | number[], batchSize = 32): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  const dim = net.head.config.dim;
  const rows = typeof count === 'number' ? Array.from({ length: count }, (_, i) => i) : count;
  for (let start = 0; start < rows.length; start += batchSize) {
    const indices = rows.slice(start, start + batchSize);
    const x = await inputs.batch(indices);
    const taps = inputs.taps?.(indices);
    const result = tf.tidy(() => net.head.apply(headInput(net, x, taps)));
    x.dispose();
    taps?.dispose();
    const flat = (await result.data()) as Float32Array;
    result.dispose();
    for (let i = 0; i < indices.length; i++) out.push(flat.slice(i * dim, (i + 1) * dim));
  }
  return out;
}

/** Embeddings of whole cut maps (with their photos' taps, for multi-scale features) through the blocks and the head. */
export function embedMaps(net: FineTunedNet, maps: ActivationMap[], taps?: Float32Array[], batchSize = 32): Promise<Float32Array[]> {
  return embedInputs(net, mapInputs({ maps, classIds: [], ...(taps ? { taps } : {}) }), maps.length, batchSize);
}

/** Validation inputs query training inputs through the net. */
export async function evaluateNet(net: FineTunedNet, data: BlockTrainData, k: number) {
  const embed = async (set: NetInputs) => ({ vectors: await embedInputs(net, set, set.classIds.length), classIds: set.classIds });
  return evaluateRetrieval(await embed(data.validation), await embed(data.train), k);
}

const BLOCK_PREFIX = 'bb:';

/** Head and block weights in one blob: what a fine-tuned model stores. */
export function packFineTuned(net: FineTunedNet): Promise<Buffer> {
  return packTensors(namedTensors(net));
}

/** The blob of packFineTuned (or a checkpoint) split into head and block weights; the caller disposes them. */
export function unpackFineTuned(blob: Buffer): { head: tf.NamedTensorMap; blocks: tf.NamedTensorMap; optimizer: { head: NamedTensor[]; blocks: NamedTensor[] } } {
  const out = { head: {} as tf.NamedTensorMap, blocks: {} as tf.NamedTensorMap, optimizer: { head: [] as NamedTensor[], blocks: [] as NamedTensor[] } };
  for (const [name, tensor] of Object.entries(unpackTensors(blob))) {
    if (name.startsWith('optb:')) out.optimizer.blocks.push({ name: name.slice(5), tensor });
    else if (name.startsWith('opt:')) out.optimizer.head.push({ name: name.slice(4), tensor });
    else if (name.startsWith(BLOCK_PREFIX)) out.blocks[name.slice(BLOCK_PREFIX.length)] = tensor;
    else out.head[name] = tensor;
  }
  return out;
}

/** A stored fine-tuned model as a network again. */
export function loadFineTuned(makeBlocks: MakeBlocks, headConfig: HeadConfig, blob: Buffer): FineTunedNet {
  const saved = unpackFineTuned(blob);
  try {
    const head = EmbeddingHead.fromWeights(headConfig, saved.head);
    return { head, blocks: makeBlocks(saved.blocks) };
  } finally {
    tf.dispose([...Object.values(saved.head), ...Object.values(saved.blocks), ...saved.optimizer.head.map((t) => t.tensor), ...saved.optimizer.blocks.map((t) => t.tensor)]);
  }
}

/** Puts a checkpoint's head and block weights back into the net's variables; returns that checkpoint's epoch. */
function restoreNet(net: FineTunedNet, state: Buffer, epoch: number): number {
  const saved = unpackFineTuned(state);
  const assign = (variables: tf.NamedTensorMap, values: tf.NamedTensorMap) => {
    for (const [name, variable] of Object.entries(variables)) (variable as tf.Variable).assign(values[name]);
  };
  assign(net.head.namedWeights(), saved.head);
  assign(net.blocks.namedWeights(), saved.blocks);
  tf.dispose([...Object.values(saved.head), ...Object.values(saved.blocks), ...saved.optimizer.head.map((t) => t.tensor), ...saved.optimizer.blocks.map((t) => t.tensor)]);
  return epoch;
}

function namedTensors(net: FineTunedNet): NamedTensor[] {
  return [
    ...Object.entries(net.head.namedWeights()).map(([name, tensor]) => ({ name, tensor })),
    ...Object.entries(net.blocks.namedWeights()).map(([name, tensor]) => ({ name: BLOCK_PREFIX + name, tensor })),
  ];
}

async function packCheckpoint(net: FineTunedNet, headOptimizer: tf.AdamOptimizer, blockOptimizer: tf.AdamOptimizer): Promise<Buffer> {
  const headState = optimizerState(headOptimizer);
  const blockState = optimizerState(blockOptimizer);
  const packed = await packTensors([
    ...namedTensors(net),
    ...headState.map(({ name, tensor }) => ({ name: `opt:${name}`, tensor })),
    ...blockState.map(({ name, tensor }) => ({ name: `optb:${name}`, tensor })),
  ]);
  // optimizerState makes a fresh iteration-count scalar for each; the moments are the optimiser's own.
  tf.dispose([headState[0].tensor, blockState[0].tensor]);
  return packed;
}

async function restoreOrCreate(
  makeBlocks: MakeBlocks,
  headConfig: HeadConfig,
  settings: BlockTrainerSettings,
  resumeFrom: TrainOptions['resumeFrom'],
  startHead: (() => EmbeddingHead) | undefined,
) {
  const headOptimizer = tf.train.adam(settings.learningRate);
  const blockOptimizer = tf.train.adam(settings.blockLearningRate);
  if (!resumeFrom) {
    const head = startHead?.() ?? EmbeddingHead.create(headConfig, settings.seed);
    return { net: { head, blocks: makeBlocks() }, headOptimizer, blockOptimizer, startEpoch: 0 };
  }
  const saved = unpackFineTuned(resumeFrom.state);
  const net = { head: EmbeddingHead.fromWeights(headConfig, saved.head), blocks: makeBlocks(saved.blocks) };
  // Adam matches its moment slots to variables by position (iterations first, then m's, then v's).
  await headOptimizer.setWeights(saved.optimizer.head);
  await blockOptimizer.setWeights(saved.optimizer.blocks);
  // setWeights copies into variables of its own: what was unpacked can all go.
  tf.dispose([...Object.values(saved.head), ...Object.values(saved.blocks), ...saved.optimizer.head.map((t) => t.tensor), ...saved.optimizer.blocks.map((t) => t.tensor)]);
  return { net, headOptimizer, blockOptimizer, startEpoch: resumeFrom.epoch };
}
