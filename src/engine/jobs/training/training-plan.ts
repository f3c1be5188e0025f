import type { RetrievalMetrics, TrainSettings } from '../../../shared/api.js';
import type { BackboneSpec } from '../../ml/backbone/backbone.js';
import type { DetailedEvaluation } from '../../ml/training/retrieval-metrics.js';
import type { HeadConfig } from '../../ml/training/head.js';
import type { TrainData, TrainerSettings, TrainOptions } from '../../ml/training/trainer.js';
import type { FineTuneConfig, SplitPhotos } from '../models/fine-tuned-net.js';
import type { JobContext } from '../job-context.js';
import type { PhaseRates } from './phase-rates.js';

/** How the blocks train once the head has (last-blocks); the defaults are fine-tune.ts's BLOCK_PHASE. */
export interface BlockPhase {
  /** The blocks' Adam rate as a share of the head's: they start pretrained. */
  learningRateFactor: number;
  /** Train on random crops of the cut map one cell smaller than it (about 32 photo pixels of jitter). */
  crop: boolean;
  /** Mirror half of the training maps left-right (a spatial jitter, not a photo augmentation: block-trainer.ts). */
  mirror: boolean;
}

/** A training planTraining (engine.ts) has planned, on settings trainingProblem allowed: resolved settings, the k it is scored at, the backbone. */
export interface TrainingPlan {
  settings: TrainSettings;
  /** k of precision@k for the validation scores. */
  k: number;
  spec: BackboneSpec;
  /** Photo side of full fine-tuning when not 224 (tests and the bench, on slow adapters). */
  fullInputSize?: number;
  /** The last-blocks phase when not BLOCK_PHASE (the measurements that chose it: scripts/compare-last-blocks.ts). */
  blockPhase?: Partial<BlockPhase>;
}

/** What a training mode gets once features are cached, the split fixed and the run prepared. */
export interface ModeTraining {
  ctx: JobContext;
  libraryId: number;
  plan: TrainingPlan;
  trainer: TrainerSettings;
  headConfig: HeadConfig;
  /** The labelled photos' backbone features on their side of the split, with the marked pairs. */
  featureSets: TrainData;
  /** The photos of featureSets, in the same order. */
  photos: SplitPhotos;
  options: TrainOptions;
  /** Where each phase's speed is measured. */
  rates: PhaseRates;
  /** A fine-tuning mode's head after its head-first phase, scored on the validation split before the blocks train. */
  onHeadAlone: (scores: RetrievalMetrics) => void;
}

/** A finished (or stopped) training of any mode, as training.ts stores it. */
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

/** One fine-tune mode's training (training-modes.ts names one per mode). */
export type ModeTrainer = (training: ModeTraining) => Promise<TrainedOutcome>;
