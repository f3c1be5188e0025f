import type { FineTuneMode, TrainSettings } from '../../../shared/api.js';
import { TRIPLETS_PER_PHOTO } from '../../../shared/settings.js';
import { packTensors } from '../../ml/training/head.js';
import { describeSpec } from '../../ml/backbone/backbone.js';
import { trainHead } from '../../ml/training/trainer.js';
import { evaluateHeadOn } from './labelled-features.js';
import { countingTriplets } from './phase-rates.js';
import { BLOCK_TRIPLETS_PER_PHOTO, trainFull, trainLastBlocks } from './fine-tune.js';
import type { ModeTrainer } from './training-plan.js';

/** "head": the head alone on cached backbone features. */
const trainHeadOnly: ModeTrainer = async ({ plan, featureSets: sets, headConfig, trainer, options, rates }) => {
  const outcome = await rates.measure('head', describeSpec(plan.spec), (count) => trainHead(sets, headConfig, trainer, countingTriplets(options, trainer.batchSize, count)));
  const { head } = outcome;
  return {
    ...outcome,
    evaluate: () => evaluateHeadOn(head, sets, trainer.k),
    weights: () => packTensors(head.namedWeights()),
    dispose: () => head.dispose(),
  };
};

export interface TrainingMode {
  train: ModeTrainer;
  /** Triplets per training photo and epoch when the settings say 0 (automatic). */
  tripletsPerPhoto: number;
}

/** Every fine-tune mode's training; a mode added to FineTuneMode fails to compile until it has one. */
export const TRAINING_MODES: Readonly<Record<FineTuneMode, TrainingMode>> = {
  head: { train: trainHeadOnly, tripletsPerPhoto: TRIPLETS_PER_PHOTO },
  'last-blocks': { train: trainLastBlocks, tripletsPerPhoto: BLOCK_TRIPLETS_PER_PHOTO },
  full: { train: trainFull, tripletsPerPhoto: BLOCK_TRIPLETS_PER_PHOTO },
};

/** Triplets per epoch: as the settings say, or the mode's share per training photo when they say 0. */
export function autoTriplets(settings: TrainSettings, trainPhotos: number): number {
  if (settings.tripletsPerEpoch) return settings.tripletsPerEpoch;
  return trainPhotos * TRAINING_MODES[settings.fineTune].tripletsPerPhoto;
}
