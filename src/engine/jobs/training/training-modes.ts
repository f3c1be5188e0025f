import type { FineTuneMode, TrainSettings } from '../../../shared/api.js';
import { TRIPLETS_PER_PHOTO } from '../../../shared/settings.js';
import { evaluateDetailed } from '../../ml/training/retrieval-metrics.js';
import { packTensors } from '../../ml/training/head.js';
import { trainHead } from '../../ml/training/trainer.js';
import { BLOCK_TRIPLETS_PER_PHOTO, trainFull, trainLastBlocks } from './fine-tune.js';
import type { ModeTrainer } from './training-plan.js';

/** "head": the head alone on cached backbone features. */
const trainHeadOnly: ModeTrainer = async ({ featureSets: sets, headConfig, trainer, options }) => {
  const outcome = await trainHead(sets, headConfig, trainer, options);
  const { head } = outcome;
  return {
    ...outcome,
    evaluate: async () =>
      evaluateDetailed({ vectors: await head.embed(sets.validation.vectors), classIds: sets.validation.classIds }, { vectors: await head.embed(sets.train.vectors), classIds: sets.train.classIds }, trainer.k),
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
