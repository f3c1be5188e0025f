import type { FineTuneMode } from '../../shared/api.js';
import { evaluateDetailed } from '../ml/eval.js';
import { packTensors } from '../ml/head.js';
import { trainHead } from '../ml/trainer.js';
import { trainFull, trainLastBlocks } from './fine-tune.js';
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

/** Every fine-tune mode's training; a mode added to FineTuneMode fails to compile until it has one. */
export const MODE_TRAINERS: Readonly<Record<FineTuneMode, ModeTrainer>> = {
  head: trainHeadOnly,
  'last-blocks': trainLastBlocks,
  full: trainFull,
};
