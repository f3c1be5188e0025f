import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients; tfjs-layers' bundle registers them all on import.
import '@tensorflow/tfjs-layers';
import type { RetrievalMetrics } from '../../../shared/api.js';
import { NUMBER_RULES, checkK, checkNumber } from '../../../shared/settings.js';
import { runEpochs, type TrainerSettings, type TrainOptions } from './epoch-loop.js';
import { evaluateRetrieval, squaredDistance, type LabelledVectors } from './retrieval-metrics.js';
import { tripletLossWithGaps } from './loss.js';
import { EmbeddingHead, meanVector, packTensors, stack, unpackTensors, type HeadConfig } from './head.js';
import { epochPlanner, mineInBatch, TRIPLET_METHODS, type GappedTriplet, type MarkedPair } from './triplets.js';

export type { EpochReport, StepReport, TrainerSettings, TrainOptions } from './epoch-loop.js';

export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

export interface TrainData {
  /** Backbone features (L2-normalised) of the training split, with class ids. */
  train: LabelledVectors;
  validation: LabelledVectors;
  /** Results marked "not similar" to a query (positions in `train`): mixed into every epoch as fixed triplets. */
  marked?: MarkedPair[];
}

export interface TrainOutcome {
  head: EmbeddingHead;
  epochsDone: number;
  finalLoss: number | null;
  stopped: boolean;
  /** The epoch whose weights `head` holds: the best by validation mAP@R with keepBest, else the last. */
  keptEpoch: number;
}

/** The settings rulebook's own rules, once per run: trainHead is also called directly (bench, scripts). */
export function checkTrainerSettings(settings: TrainerSettings): void {
  for (const key of ['epochs', 'batchSize', 'learningRate', 'gap', 'seed'] as const) checkNumber(NUMBER_RULES[key], settings[key]);
  checkNumber({ ...NUMBER_RULES.tripletsPerEpoch, min: 1, hint: 'a positive whole number' }, settings.tripletsPerEpoch);
  checkK(settings.k);
  if (settings.sampling !== undefined && !TRIPLET_METHODS.includes(settings.sampling)) {
    throw new RangeError(`sampling must be one of ${TRIPLET_METHODS.join(', ')} (got ${String(settings.sampling)})`);
  }
}

/** Trains the head with the deep-ranking loss on cached backbone features (the loop: epoch-loop.ts). */
export async function trainHead(data: TrainData, headConfig: HeadConfig, settings: TrainerSettings, options: TrainOptions = {}): Promise<TrainOutcome> {
  checkTrainerSettings(settings);
  const isTrainPhoto = (i: number) => Number.isInteger(i) && i >= 0 && i < data.train.vectors.length;
  for (const m of data.marked ?? []) {
    if (!isTrainPhoto(m.query) || !isTrainPhoto(m.negative)) throw new Error(`marked pair (${m.query}, ${m.negative}) is not among the ${data.train.vectors.length} training photos`);
  }
  const { head, optimizer, startEpoch } = await restoreOrCreate(headConfig, settings, options.resumeFrom, () => meanVector(data.train.vectors));
  for (const [i, v] of data.train.vectors.entries()) {
    if (v.length !== headConfig.inputDim) throw new Error(`training vector ${i} has ${v.length} values, expected ${headConfig.inputDim}`);
  }
  const method = settings.sampling ?? 'random';
  const vectors = data.train.vectors;
  const backboneDistance = (a: number, b: number) => squaredDistance(vectors[a], vectors[b]);
  const inputs = head.centreInputs(vectors);
  const embedRows = (rows: number[]) => head.embed(rows.map((i) => inputs[i]), undefined, true);
  try {
    const outcome = await runEpochs<GappedTriplet>({
      settings,
      startEpoch,
      options,
      plan: epochPlanner(method, data.train.classIds, data.marked ?? [], settings, backboneDistance),
      step: async (batch) => trainStep(head, optimizer, inputs, method === 'semi-hard' ? await mineInBatch(batch, data.train.classIds, embedRows) : batch),
      evaluate: () => evaluateHead(head, data, settings.k),
      checkpoint: () => packCheckpoint(head, optimizer),
    });
    const { best, epochsDone } = outcome;
    const keptEpoch = settings.keepBest && best && best.epoch !== epochsDone ? restoreWeights(head, best.state, best.epoch) : epochsDone;
    return { head, epochsDone, finalLoss: outcome.finalLoss, stopped: outcome.stopped, keptEpoch };
  } finally {
    optimizer.dispose();
  }
}

/** Puts a checkpoint's head weights back into the head's variables; returns that checkpoint's epoch. */
function restoreWeights(head: EmbeddingHead, state: Buffer, epoch: number): number {
  const tensors = unpackTensors(state);
  const named = head.namedWeights();
  for (const [name, variable] of Object.entries(named)) (variable as tf.Variable).assign(tensors[name]);
  tf.dispose(Object.values(tensors));
  return epoch;
}

/**
 * One optimiser step on centred inputs (centreInputs). The three branches share the head: one pass
 * over q, p and n stacked, then split. The batch is copied together here rather than gathered by
 * TF.js (slow on wasm).
 */
async function trainStep(head: EmbeddingHead, optimizer: tf.AdamOptimizer, features: Float32Array[], batch: GappedTriplet[]): Promise<number> {
  const order = [...batch.map((t) => t.query), ...batch.map((t) => t.positive), ...batch.map((t) => t.negative)];
  const lossTensor = tf.tidy(() => {
    const stacked = stack(order.map((i) => features[i]), features[0].length);
    return optimizer.minimize(
      () => {
        const [q, p, n] = tf.split(head.applyToCentred(stacked), 3) as tf.Tensor2D[];
        return tripletLossWithGaps(q, p, n, batch.map((t) => t.gap));
      },
      true,
      head.variables,
    ) as tf.Scalar;
  });
  const loss = (await lossTensor.data())[0];
  lossTensor.dispose();
  return loss;
}

/** Validation photos query the training photos, both through the head. */
export async function evaluateHead(head: EmbeddingHead, data: TrainData, k: number): Promise<RetrievalMetrics> {
  const embed = async (set: LabelledVectors): Promise<LabelledVectors> => ({ vectors: await head.embed(set.vectors), classIds: set.classIds });
  return evaluateRetrieval(await embed(data.validation), await embed(data.train), k);
}

async function restoreOrCreate(headConfig: HeadConfig, settings: TrainerSettings, resumeFrom: TrainOptions['resumeFrom'], trainingMean: () => Float32Array) {
  const optimizer = tf.train.adam(settings.learningRate);
  if (!resumeFrom) return { head: EmbeddingHead.create(headConfig, settings.seed, headConfig.centre ? trainingMean() : undefined), optimizer, startEpoch: 0 };
  const tensors = unpackTensors(resumeFrom.state);
  const headWeights: tf.NamedTensorMap = {};
  const optimizerWeights: NamedTensor[] = [];
  for (const [name, tensor] of Object.entries(tensors)) {
    if (name.startsWith('opt:')) optimizerWeights.push({ name: name.slice(4), tensor });
    else headWeights[name] = tensor;
  }
  const head = EmbeddingHead.fromWeights(headConfig, headWeights);
  // Adam matches its moment slots to variables by position (iterations first, then m's, then v's).
  // Its variables keep their own references: every unpacked tensor is freed here.
  await optimizer.setWeights(optimizerWeights);
  tf.dispose(Object.values(tensors));
  return { head, optimizer, startEpoch: resumeFrom.epoch };
}

async function packCheckpoint(head: EmbeddingHead, optimizer: tf.AdamOptimizer): Promise<Buffer> {
  const optimizerWeights = optimizerState(optimizer);
  try {
    return await packTensors([
      ...Object.entries(head.namedWeights()).map(([name, tensor]) => ({ name, tensor })),
      ...optimizerWeights.map(({ name, tensor }) => ({ name: `opt:${name}`, tensor })),
    ]);
  } finally {
    optimizerWeights[0].tensor.dispose(); // the iteration count, made for this; the moments are the optimiser's own
  }
}

/** Adam's iteration count and moment estimates, read synchronously (getWeights() is async). */
export function optimizerState(optimizer: tf.AdamOptimizer): NamedTensor[] {
  const internals = optimizer as unknown as {
    iterations: number;
    accumulatedFirstMoment: Array<{ variable: tf.Variable }>;
    accumulatedSecondMoment: Array<{ variable: tf.Variable }>;
  };
  return [
    { name: 'iter', tensor: tf.scalar(internals.iterations, 'float32') },
    ...internals.accumulatedFirstMoment.map((m, i) => ({ name: `m${i}`, tensor: m.variable as tf.Tensor })),
    ...internals.accumulatedSecondMoment.map((v, i) => ({ name: `v${i}`, tensor: v.variable as tf.Tensor })),
  ];
}
