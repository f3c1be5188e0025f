/**
 * "last-blocks" training: the backbone blocks above a cut and the head, trained together with the
 * deep-ranking loss on activations cached at the cut. The same loop as trainer.ts (triplets drawn
 * ahead of each epoch from (seed, epoch), pause/stop between steps, a checkpoint after each epoch),
 * with a second Adam for the blocks at their own, lower learning rate: they start from pretrained
 * weights, the head from random ones.
 *
 * Augmentation works on the cached map, not on pixels: a random square crop of the cut map (at
 * 7×7, a 6×6 crop moves the view by one cell, about 32 pixels of the photo) and a left-right mirror
 * of the map (optional). Mirroring a feature map is not the same as the features of the mirrored
 * photo (the frozen filters below the cut are not symmetric): it is a spatial jitter, and shows the
 * blocks maps the frozen layers never produce. Evaluation and indexing use the whole, unmirrored map.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { createRng, randomInt, type Rng } from '../common/rng.js';
import { writeActivations, type ActivationMap } from './activation-codec.js';
import { evaluateRetrieval } from './eval.js';
import { EmbeddingHead, l2Normalize, packTensors, unpackTensors, type HeadConfig } from './head.js';
import { tripletLoss } from './loss.js';
import { checkTrainerSettings, optimizerState, type NamedTensor, type StepReport, type TrainerSettings, type TrainOptions } from './trainer.js';
import type { TrainableBlocks } from './trainable-backbone.js';
import { sampleTriplets, type Triplet } from './triplets.js';

export interface MapSet {
  maps: ActivationMap[];
  classIds: number[];
}

export interface BlockTrainData {
  train: MapSet;
  validation: MapSet;
}

export interface BlockTrainerSettings extends TrainerSettings {
  /** Adam's learning rate for the backbone blocks (the head uses learningRate). */
  blockLearningRate: number;
  /** Side of the random square crops of the cut map in training; the whole map is used to embed. */
  crop: number;
  /** Mirror half of the training maps left-right. */
  mirror: boolean;
}

/** Backbone blocks and head: cut activations in, embeddings out. */
export interface FineTunedNet {
  blocks: TrainableBlocks;
  head: EmbeddingHead;
}

export interface BlockTrainOutcome {
  net: FineTunedNet;
  epochsDone: number;
  finalLoss: number | null;
  stopped: boolean;
}

/** Builds the blocks above the cut from the graph's weights, or from saved ones. */
export type MakeBlocks = (saved?: tf.NamedTensorMap) => TrainableBlocks;

export async function trainBlocks(
  makeBlocks: MakeBlocks,
  data: BlockTrainData,
  headConfig: HeadConfig,
  settings: BlockTrainerSettings,
  options: TrainOptions & { startHead?: () => EmbeddingHead } = {},
): Promise<BlockTrainOutcome> {
  checkTrainerSettings(settings);
  if (!(Number.isFinite(settings.blockLearningRate) && settings.blockLearningRate > 0)) throw new RangeError(`block learning rate must be a positive number (got ${settings.blockLearningRate})`);
  const [h, w] = data.train.maps[0].shape;
  if (!(Number.isInteger(settings.crop) && settings.crop > 0 && settings.crop <= Math.min(h, w))) throw new RangeError(`crop must be from 1 to ${Math.min(h, w)} (got ${settings.crop})`);
  const { net, headOptimizer, blockOptimizer, startEpoch } = await restoreOrCreate(makeBlocks, headConfig, settings, options.resumeFrom, options.startHead);
  const items = data.train.classIds.map((classId, id) => ({ id, classId }));
  const stepsPerEpoch = Math.ceil(settings.tripletsPerEpoch / settings.batchSize);
  let finalLoss: number | null = null;
  let epochsDone = startEpoch;
  try {
    for (let epoch = startEpoch + 1; epoch <= settings.epochs; epoch++) {
      const started = Date.now();
      const { triplets } = sampleTriplets(items, settings.tripletsPerEpoch, settings.seed * 1000 + epoch);
      const augment = createRng(settings.seed * 1000 + epoch + 500_000);
      const losses: StepReport[] = [];
      for (let b = 0; b < stepsPerEpoch; b++) {
        await options.control?.checkpoint();
        if (options.control?.isStopped) return { net, epochsDone, finalLoss, stopped: true };
        const batch = triplets.slice(b * settings.batchSize, (b + 1) * settings.batchSize);
        const loss = await trainStep(net, headOptimizer, blockOptimizer, data.train.maps, batch, settings, augment);
        const report = { step: (epoch - 1) * stepsPerEpoch + b + 1, epoch, loss };
        losses.push(report);
        options.onStep?.(report);
      }
      const meanLoss = losses.reduce((sum, s) => sum + s.loss, 0) / losses.length;
      const validation = await evaluateNet(net, data, settings.k);
      finalLoss = meanLoss;
      epochsDone = epoch;
      await options.onEpoch?.({
        epoch,
        meanLoss,
        validation,
        seconds: (Date.now() - started) / 1000,
        losses,
        checkpoint: () => packCheckpoint(net, headOptimizer, blockOptimizer),
      });
    }
    return { net, epochsDone, finalLoss, stopped: false };
  } finally {
    headOptimizer.dispose();
    blockOptimizer.dispose();
  }
}

async function trainStep(
  net: FineTunedNet,
  headOptimizer: tf.AdamOptimizer,
  blockOptimizer: tf.AdamOptimizer,
  maps: ActivationMap[],
  batch: Triplet[],
  settings: BlockTrainerSettings,
  augment: Rng,
): Promise<number> {
  const order = [...batch.map((t) => t.query), ...batch.map((t) => t.positive), ...batch.map((t) => t.negative)];
  const [h, w, c] = maps[0].shape;
  const size = settings.crop;
  const pixels = new Float32Array(order.length * size * size * c);
  order.forEach((index, i) => {
    const crop = { top: randomInt(augment, h - size + 1), left: randomInt(augment, w - size + 1), size, flip: augment() < 0.5 && settings.mirror };
    writeActivations(maps[index], pixels, i * size * size * c, crop);
  });
  const x = tf.tensor4d(pixels, [order.length, size, size, c]);
  const headVariables = net.head.variables;
  const blockVariables = net.blocks.variables;
  const { value, grads } = tf.variableGrads(() => {
    const features = l2Normalize(net.blocks.apply(x));
    const [q, p, n] = tf.split(net.head.apply(features), 3) as tf.Tensor2D[];
    return tripletLoss(q, p, n, settings.gap);
  }, [...headVariables, ...blockVariables]);
  const named = (variables: tf.Variable[]) => variables.map((v) => ({ name: v.name, tensor: grads[v.name] }));
  headOptimizer.applyGradients(named(headVariables));
  blockOptimizer.applyGradients(named(blockVariables));
  // Read back asynchronously: WebGPU in Node has no synchronous read (it needs OffscreenCanvas).
  const loss = (await value.data())[0];
  tf.dispose([x, value, ...Object.values(grads)]);
  return loss;
}

/** Embeddings of whole (uncropped, unmirrored) cut maps through the blocks and the head. */
export async function embedMaps(net: FineTunedNet, maps: ActivationMap[], batchSize = 32): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  const dim = net.head.config.dim;
  for (let start = 0; start < maps.length; start += batchSize) {
    const batch = maps.slice(start, start + batchSize);
    const [h, w, c] = batch[0].shape;
    const pixels = new Float32Array(batch.length * h * w * c);
    batch.forEach((map, i) => writeActivations(map, pixels, i * h * w * c));
    const result = tf.tidy(() => net.head.apply(l2Normalize(net.blocks.apply(tf.tensor4d(pixels, [batch.length, h, w, c])))));
    const flat = (await result.data()) as Float32Array;
    result.dispose();
    for (let i = 0; i < batch.length; i++) out.push(flat.slice(i * dim, (i + 1) * dim));
  }
  return out;
}

export async function evaluateNet(net: FineTunedNet, data: BlockTrainData, k: number) {
  const embed = async (set: MapSet) => ({ vectors: await embedMaps(net, set.maps), classIds: set.classIds });
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
