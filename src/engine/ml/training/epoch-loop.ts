/**
 * The epoch loop every trainer shares (head, last blocks, whole network): triplets planned ahead of
 * each epoch from (seed, epoch) so that a resumed run sees exactly the triplets it would have, pause
 * and stop between steps, a divergence check, validation and a checkpoint after each epoch, and the
 * best epoch's checkpoint kept when asked. What a step trains is the caller's.
 */
import type { RetrievalMetrics, TrainSettings, TripletMethod } from '../../../shared/api.js';
import type { JobControl } from '../../common/job-control.js';

export type TrainerSettings = Pick<TrainSettings, 'epochs' | 'batchSize' | 'learningRate' | 'gap' | 'seed'> & {
  /** Triplets sampled ahead of each epoch (already resolved: never 0 here). */
  tripletsPerEpoch: number;
  /** k of precision@k for the per-epoch validation. */
  k: number;
  /** How triplets are drawn (see triplets.ts); 'random' when absent. */
  sampling?: TripletMethod;
  /** Keep the weights of the epoch with the best validation mAP@R rather than the last epoch's. */
  keepBest?: boolean;
};

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
  /** Resume after this epoch from its checkpoint; `best` is the best epoch so far and its checkpoint. */
  resumeFrom?: { epoch: number; state: Buffer; best?: { epoch: number; mapAtR: number; state: Buffer } };
}

export interface BestEpoch {
  epoch: number;
  mapAtR: number;
  state: Buffer;
}

export interface EpochLoop<T> {
  settings: TrainerSettings;
  /** Epochs already done (a resumed run), 0 for a new one. */
  startEpoch: number;
  options: TrainOptions;
  /** The epoch's triplets, drawn before its first step. */
  plan(epoch: number): T[];
  /** One optimiser step on these triplets; the loss. */
  step(batch: T[], epoch: number): Promise<number>;
  evaluate(): Promise<RetrievalMetrics>;
  /** Weights and optimiser state now: enough to resume, or to go back to this epoch. */
  checkpoint(): Promise<Buffer>;
}

export interface LoopOutcome {
  epochsDone: number;
  finalLoss: number | null;
  stopped: boolean;
  /** With settings.keepBest: the epoch with the best validation mAP@R so far and its checkpoint. */
  best: BestEpoch | null;
}

export async function runEpochs<T>(loop: EpochLoop<T>): Promise<LoopOutcome> {
  const { settings, options } = loop;
  const stepsPerEpoch = Math.ceil(settings.tripletsPerEpoch / settings.batchSize);
  const resumedBest = options.resumeFrom?.best;
  let best: BestEpoch | null = resumedBest ? { epoch: resumedBest.epoch, mapAtR: resumedBest.mapAtR, state: resumedBest.state } : null;
  let finalLoss: number | null = null;
  let epochsDone = loop.startEpoch;
  for (let epoch = loop.startEpoch + 1; epoch <= settings.epochs; epoch++) {
    const started = Date.now();
    const triplets = loop.plan(epoch);
    const losses: StepReport[] = [];
    for (let b = 0; b < stepsPerEpoch; b++) {
      await options.control?.checkpoint();
      if (options.control?.isStopped) return { epochsDone, finalLoss, stopped: true, best };
      const step = (epoch - 1) * stepsPerEpoch + b + 1;
      const loss = await loop.step(triplets.slice(b * settings.batchSize, (b + 1) * settings.batchSize), epoch);
      if (!Number.isFinite(loss)) {
        throw new Error(`training diverged: the loss at step ${step} is not a number (try a lower learning rate); the last finished epoch is kept`);
      }
      const report = { step, epoch, loss };
      losses.push(report);
      options.onStep?.(report);
    }
    const meanLoss = losses.reduce((sum, s) => sum + s.loss, 0) / losses.length;
    const validation = await loop.evaluate();
    finalLoss = meanLoss;
    epochsDone = epoch;
    if (settings.keepBest && (!best || validation.map_at_r > best.mapAtR)) best = { epoch, mapAtR: validation.map_at_r, state: await loop.checkpoint() };
    await options.onEpoch?.({ epoch, meanLoss, validation, seconds: (Date.now() - started) / 1000, losses, checkpoint: () => loop.checkpoint() });
  }
  return { epochsDone, finalLoss, stopped: false, best };
}
