import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's Node bundle registers no gradients; tfjs-layers' bundle registers them all on import.
import '@tensorflow/tfjs-layers';
import type { RetrievalMetrics, TrainSettings } from '../../shared/api.js';
import { NUMBER_RULES, checkK, checkNumber } from '../../shared/settings.js';
import type { JobControl } from '../common/job-control.js';
import { evaluateRetrieval, type LabelledVectors } from './eval.js';
import { tripletLoss } from './loss.js';
import { EmbeddingHead, packTensors, stack, unpackTensors, type HeadConfig } from './head.js';
import { sampleTriplets } from './triplets.js';

interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

export type TrainerSettings = Pick<TrainSettings, 'epochs' | 'batchSize' | 'learningRate' | 'gap' | 'seed'> & {
  /** Triplets sampled ahead of each epoch (already resolved: never 0 here). */
  tripletsPerEpoch: number;
  /** k of precision@k for the per-epoch validation. */
  k: number;
};

export interface TrainData {
  /** Backbone features (L2-normalised) of the training split, with class ids. */
  train: LabelledVectors;
  validation: LabelledVectors;
}

export interface StepReport {
  step: number;
  epoch: number;
  loss: number;
}

export interface EpochReport {
  epoch: number;
  meanLoss: number;
  validation: RetrievalMetrics;
  seconds: number;
  losses: StepReport[];
  /** Head weights and optimiser state after this epoch: enough to resume. */
  checkpoint: () => Promise<Buffer>;
}

export interface TrainOptions {
  control?: JobControl;
  onStep?: (step: StepReport) => void;
  /** Awaited before the next epoch starts: save the checkpoint here. */
  onEpoch?: (epoch: EpochReport) => void | Promise<void>;
  /** Resume after this epoch from its checkpoint. */
  resumeFrom?: { epoch: number; state: Buffer };
}

export interface TrainOutcome {
  head: EmbeddingHead;
  epochsDone: number;
  finalLoss: number | null;
  stopped: boolean;
}

/** The settings rulebook's own rules, once per run: trainHead is also called directly (bench, scripts). */
export function checkTrainerSettings(settings: TrainerSettings): void {
  for (const key of ['epochs', 'batchSize', 'learningRate', 'gap', 'seed'] as const) checkNumber(NUMBER_RULES[key], settings[key]);
  checkNumber({ ...NUMBER_RULES.tripletsPerEpoch, min: 1, hint: 'a positive whole number' }, settings.tripletsPerEpoch);
  checkK(settings.k);
}

/**
 * Trains the head with the deep-ranking loss on cached backbone features. Each epoch's triplets
 * are sampled up front from (seed, epoch), so a resumed run sees exactly the triplets it would have.
 */
export async function trainHead(data: TrainData, headConfig: HeadConfig, settings: TrainerSettings, options: TrainOptions = {}): Promise<TrainOutcome> {
  checkTrainerSettings(settings);
  const { head, optimizer, startEpoch } = await restoreOrCreate(headConfig, settings, options.resumeFrom);
  const items = data.train.classIds.map((classId, id) => ({ id, classId }));
  for (const [i, v] of data.train.vectors.entries()) {
    if (v.length !== headConfig.inputDim) throw new Error(`training vector ${i} has ${v.length} values, expected ${headConfig.inputDim}`);
  }
  const stepsPerEpoch = Math.ceil(settings.tripletsPerEpoch / settings.batchSize);
  let finalLoss: number | null = null;
  let epochsDone = startEpoch;
  try {
    for (let epoch = startEpoch + 1; epoch <= settings.epochs; epoch++) {
      const started = Date.now();
      const { triplets } = sampleTriplets(items, settings.tripletsPerEpoch, settings.seed * 1000 + epoch);
      const losses: StepReport[] = [];
      for (let b = 0; b < stepsPerEpoch; b++) {
        await options.control?.checkpoint();
        if (options.control?.isStopped) return { head, epochsDone, finalLoss, stopped: true };
        const batch = triplets.slice(b * settings.batchSize, (b + 1) * settings.batchSize);
        const loss = await trainStep(head, optimizer, data.train.vectors, batch, settings.gap);
        if (!Number.isFinite(loss)) {
          throw new Error(`training diverged: the loss at step ${(epoch - 1) * stepsPerEpoch + b + 1} is not a number (try a lower learning rate); the last finished epoch is kept`);
        }
        const report = { step: (epoch - 1) * stepsPerEpoch + b + 1, epoch, loss };
        losses.push(report);
        options.onStep?.(report);
      }
      const meanLoss = losses.reduce((sum, s) => sum + s.loss, 0) / losses.length;
      const validation = await evaluateHead(head, data, settings.k);
      finalLoss = meanLoss;
      epochsDone = epoch;
      await options.onEpoch?.({
        epoch,
        meanLoss,
        validation,
        seconds: (Date.now() - started) / 1000,
        losses,
        checkpoint: () => packCheckpoint(head, optimizer),
      });
    }
    return { head, epochsDone, finalLoss, stopped: false };
  } finally {
    optimizer.dispose();
  }
}

/**
 * One optimiser step. The three branches share the head: one pass over q, p and n stacked, then
 * split. The batch is copied together here rather than gathered by TF.js (slow on wasm).
 */
async function trainStep(
  head: EmbeddingHead,
  optimizer: tf.AdamOptimizer,
  features: Float32Array[],
  batch: Array<{ query: number; positive: number; negative: number }>,
  gap: number,
): Promise<number> {
  const order = [...batch.map((t) => t.query), ...batch.map((t) => t.positive), ...batch.map((t) => t.negative)];
  const lossTensor = tf.tidy(() => {
    const stacked = stack(order.map((i) => features[i]), features[0].length);
    return optimizer.minimize(
      () => {
        const [q, p, n] = tf.split(head.apply(stacked), 3) as tf.Tensor2D[];
        return tripletLoss(q, p, n, gap);
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

async function restoreOrCreate(headConfig: HeadConfig, settings: TrainerSettings, resumeFrom: TrainOptions['resumeFrom']) {
  const optimizer = tf.train.adam(settings.learningRate);
  if (!resumeFrom) return { head: EmbeddingHead.create(headConfig, settings.seed), optimizer, startEpoch: 0 };
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
function optimizerState(optimizer: tf.AdamOptimizer): NamedTensor[] {
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
