import type { RetrievalMetrics, TrainSettings } from '../../../shared/api.js';
import { summariseNames } from '../../common/name-list.js';
import { activeClock } from '../../common/job-control.js';
import { createThroughput } from '../../common/throughput.js';
import { describeSpec, featureSegments, finalPartOf, type BackboneSpec } from '../../ml/backbone/backbone.js';
import { CENTRE_WEIGHT, packedNames, type HeadConfig } from '../../ml/training/head.js';
import type { TrainerSettings, TrainOptions } from '../../ml/training/trainer.js';
import type { Checkpoint, Store } from '../../store/store.js';
import { distanceProfile } from './evaluation.js';
import { cacheFeatures } from '../library/feature-cache.js';
import { ensureBaselineModel, indexLibrary } from '../library/indexing.js';
import type { JobContext } from '../job-context.js';
import { evaluateBaseline, labelledFeatures, untrainedSpec } from './labelled-features.js';
import { recordRunClasses } from '../files/label-changes.js';
import { markedPairsForTraining, recordRunMarks } from '../files/not-similar-marks.js';
import { TRAINING_MODES, autoTriplets } from './training-modes.js';
import { PhaseRates, modeVariant } from './phase-rates.js';
import type { TrainedOutcome, TrainingPlan } from './training-plan.js';

export interface TrainResult {
  runId: number;
  /** The run's number within its library. */
  runNumber: number;
  modelId: number;
  epochsDone: number;
  finalLoss: number | null;
  stopped: boolean;
  resumed: boolean;
  baseline: RetrievalMetrics;
  trained: RetrievalMetrics;
  seconds: number;
  backbone: string;
  /** "Not similar" marks trained on as hard negatives. */
  marksUsed: number;
  /** A fine-tuning run's head after its head-first phase, on the same split; null for a head run (or a resumed one that skipped it). */
  headAlone: RetrievalMetrics | null;
}


/**
 * The whole "Train" button: features cached, split fixed, baseline measured, head trained with
 * checkpoints each epoch (a killed run with the same settings resumes), model stored and indexed.
 * The settings passed trainingProblem (src/shared/settings.ts) where they came in, and the plan
 * comes from planTraining (engine.ts), which refuses a library that cannot be trained on.
 */
export async function trainModel(ctx: JobContext, libraryId: number, plan: TrainingPlan, options: { workers?: number; runId?: number } = {}): Promise<TrainResult> {
  try {
    return await trainModelSteps(ctx, libraryId, plan, options);
  } catch (error) {
    // A run made for this start and left 'running' by a failure before training (a backbone that does
    // not load, features that cannot be computed) says why, instead of looking alive forever.
    const run = options.runId === undefined ? null : ctx.store.run(options.runId);
    if (run?.status === 'running') {
      const stopped = ctx.control?.isStopped === true;
      ctx.store.updateRun(run.id, { status: stopped ? 'stopped' : 'failed', ...(stopped ? {} : { error: (error as Error).message }), finished: true });
    }
    throw error;
  }
}

async function trainModelSteps(ctx: JobContext, libraryId: number, plan: TrainingPlan, options: { workers?: number; runId?: number }): Promise<TrainResult> {
  const started = Date.now();
  const { settings, k, spec } = plan;
  const { store } = ctx;
  const rates = new PhaseRates(ctx.control);
  await rates.measure('features', describeSpec(spec), async (count) => count((await cacheFeatures(ctx, libraryId, spec, options.workers)).computed));
  if (ctx.control?.isStopped) throw new Error('stopped before training started');
  const untrained = untrainedSpec(spec);
  // The baseline's features are let go before the run's own are read: both at once took 2 GB at 100,000 photos.
  const baseline = await evaluateBaseline(labelledFeatures(store, libraryId, describeSpec(untrained), settings.validationFraction, settings.seed), k);
  const sets = labelledFeatures(store, libraryId, describeSpec(spec), settings.validationFraction, settings.seed);
  await ensureBaselineModel(ctx, libraryId, untrained, baseline);

  const runId = options.runId ?? prepareRun(store, libraryId, settings);
  recordRunClasses(store, libraryId, runId);
  const marked = markedPairsForTraining(store, libraryId, sets.trainPhotos, sets.train.vectors);
  recordRunMarks(store, runId, marked.length);
  const checkpoint = store.latestCheckpoint(runId);
  store.updateRun(runId, { status: 'running', baseline });
  const notes = [...(checkpoint ? [`resuming after epoch ${checkpoint.epoch}`] : []), ...smallClassNotes(store.classes(libraryId))];
  ctx.emit?.({ type: 'job', job: { kind: 'train', state: 'running', runId, message: notes.length ? notes.join('; ') : null } });

  const headConfig = headConfigFor(spec, settings, sets.train.vectors[0].length, checkpoint);
  const trainer = { ...settings, k, tripletsPerEpoch: autoTriplets(settings, sets.train.vectors.length), keepBest: true };
  try {
    const options = trainingOptions(ctx, runId, trainer, checkpoint, baseline);
    const onHeadAlone = (headAlone: RetrievalMetrics) => store.updateRun(runId, { headAlone });
    const outcome = await TRAINING_MODES[settings.fineTune].train({
      ctx,
      libraryId,
      plan,
      trainer,
      headConfig,
      featureSets: { ...sets, marked },
      photos: { train: sets.trainPhotos, validation: sets.validationPhotos },
      options,
      rates,
      onHeadAlone,
    });
    if (outcome.stopped && outcome.epochsDone === 0) {
      const nothingKept = 'stopped before the first epoch finished, so nothing was kept: a model is saved at the end of each epoch';
      store.updateRun(runId, { status: 'stopped', error: nothingKept, finished: true });
      outcome.dispose();
      throw new Error(nothingKept);
    }
    const { modelId, trained } = await rates.measure('embed', modeVariant(settings), async (count) => {
      const stored = await storeModel(ctx, libraryId, runId, plan, headConfig, outcome);
      count(stored.trained.queries + stored.trained.database);
      count((await indexLibrary(ctx, libraryId, stored.modelId)).embedded);
      return stored;
    });
    ctx.emit?.({ type: 'job', job: { kind: 'train', state: outcome.stopped ? 'stopped' : 'done', runId, message: null } });
    return {
      runId,
      runNumber: store.run(runId)!.number,
      modelId,
      epochsDone: outcome.epochsDone,
      finalLoss: outcome.finalLoss,
      stopped: outcome.stopped,
      resumed: checkpoint !== null,
      baseline,
      trained,
      seconds: (Date.now() - started) / 1000,
      backbone: describeSpec(spec),
      marksUsed: marked.length,
      headAlone: store.run(runId)!.headAlone,
    };
  } catch (error) {
    const run = store.run(runId);
    if (run && run.status === 'running') store.updateRun(runId, { status: 'failed', error: (error as Error).message, finished: true });
    throw error;
  } finally {
    try {
      store.runRates.record(runId, rates.all);
    } catch {
      // The speeds only feed the Train form's estimates: a database failing here must not hide the run's own outcome or error.
    }
  }
}

/**
 * The head on the run's features. Centring each layer's features lifted multi-scale runs and did
 * little for the final pool alone (docs/measurements.md, "Centred features"); a run stopped before
 * centring came in resumes as it began, without it.
 */
function headConfigFor(spec: BackboneSpec, settings: TrainSettings, inputDim: number, checkpoint: Checkpoint | null): HeadConfig {
  const resumesUncentred = checkpoint !== null && !packedNames(checkpoint.state).includes(CENTRE_WEIGHT);
  const centre = finalPartOf(spec) && !resumesUncentred ? { segments: featureSegments(spec, inputDim) } : undefined;
  return { inputDim, dim: settings.dim, hidden: 0, normalize: true, ...(centre ? { centre } : {}) };
}

/** Where the trainer resumes from, and what each step and epoch sends and stores: losses, progress, checkpoints, the best epoch so far. */
function trainingOptions(ctx: JobContext, runId: number, trainer: TrainerSettings, checkpoint: Checkpoint | null, baseline: RetrievalMetrics): TrainOptions {
  const { store } = ctx;
  const best = checkpoint ? bestEpochSoFar(store, runId) : null;
  const totalSteps = trainer.epochs * Math.ceil(trainer.tripletsPerEpoch / trainer.batchSize);
  const trainingPace = createThroughput(activeClock(ctx.control));
  let firstStep: number | null = null;
  let keepEpoch = best ? { epoch: best.epoch, mapAtR: best.mapAtR } : null;
  return {
    control: ctx.control,
    resumeFrom: checkpoint ? { epoch: checkpoint.epoch, state: checkpoint.state, best: best ?? undefined } : undefined,
    onStep: (step) => {
      firstStep ??= step.step - 1;
      ctx.emit?.({ type: 'loss', runId, ...step });
      const { etaSeconds, perSecond: stepsPerSecond } = trainingPace(step.step - firstStep, totalSteps - firstStep);
      // A triplet is three images: query, positive, negative.
      const imagesPerSecond = stepsPerSecond === null ? null : stepsPerSecond * trainer.batchSize * 3;
      ctx.emit?.({ type: 'progress', kind: 'train', phase: `Epoch ${step.epoch} of ${trainer.epochs}`, done: step.step, total: totalSteps, etaSeconds, imagesPerSecond });
    },
    onEpoch: async (epoch) => {
      keepEpoch = bestEpoch(keepEpoch, epoch.epoch, epoch.validation.map_at_r);
      store.saveEpoch(runId, epoch, epoch.losses, await epoch.checkpoint(), keepEpoch.epoch);
      ctx.emit?.({ type: 'epoch', runId, epoch: epoch.epoch, epochs: trainer.epochs, meanLoss: epoch.meanLoss, validation: epoch.validation, baseline });
    },
  };
}

/** The trained model stored with its scores and distance profile, and the run marked finished; the outcome is disposed. */
async function storeModel(ctx: JobContext, libraryId: number, runId: number, plan: TrainingPlan, headConfig: HeadConfig, outcome: TrainedOutcome): Promise<{ modelId: number; trained: RetrievalMetrics }> {
  const { store } = ctx;
  const { settings, spec } = plan;
  const detailed = await outcome.evaluate();
  const trained = detailed.scores;
  const modelId = store.createModel({
    libraryId,
    name: `Trained run ${store.run(runId)!.number}`,
    kind: 'trained',
    backbone: describeSpec(spec),
    backboneDim: headConfig.inputDim,
    dim: headConfig.dim,
    config: { head: headConfig, backboneSpec: spec, settings, epochsDone: outcome.epochsDone, keptEpoch: outcome.keptEpoch, ...(outcome.fineTune ? { fineTune: outcome.fineTune } : {}) },
    runId,
    weights: await outcome.weights(),
  });
  outcome.dispose();
  store.setModelMetrics(modelId, trained);
  store.setModelDistances(modelId, distanceProfile(store, libraryId, detailed));
  store.updateRun(runId, { status: outcome.stopped ? 'stopped' : 'done', modelId, trained, finalLoss: outcome.finalLoss, keptEpoch: outcome.keptEpoch, finished: true });
  return { modelId, trained };
}

/** The best epoch by validation mAP@R between the best so far and a new one (an earlier epoch wins ties). */
function bestEpoch(best: { epoch: number; mapAtR: number } | null, epoch: number, mapAtR: number): { epoch: number; mapAtR: number } {
  return best && best.mapAtR >= mapAtR ? best : { epoch, mapAtR };
}

/** For a resumed run: its best epoch so far, with the checkpoint kept for it. */
function bestEpochSoFar(store: Store, runId: number): { epoch: number; mapAtR: number; state: Buffer } | null {
  let best: { epoch: number; mapAtR: number } | null = null;
  for (const e of store.epochs(runId)) best = bestEpoch(best, e.epoch, e.validation.map_at_r);
  const saved = best && store.checkpoint(runId, best.epoch);
  return best && saved ? { ...best, state: saved.state } : null;
}

/**
 * What training says about classes too small to give a query and a positive: each by name when there
 * are a few, else counted with a few names (thousands of empty folders must not make one huge line).
 */
export function smallClassNotes(classes: Array<{ name: string; photoCount: number }>, shown = 5): string[] {
  const small = classes.filter((c) => c.photoCount < 2);
  const describe = (c: { name: string; photoCount: number }) =>
    `class "${c.name}" has ${c.photoCount} photo${c.photoCount === 1 ? '' : 's'}: it cannot give a query and a positive${c.photoCount ? ', so it serves only as a negative' : ''}`;
  if (small.length <= shown) return small.map(describe);
  const empty = small.filter((c) => c.photoCount === 0);
  const single = small.filter((c) => c.photoCount === 1);
  return [
    ...(empty.length ? [`${empty.length} classes have no photos (${summariseNames(empty.map((c) => c.name), 3)}): they take no part`] : []),
    ...(single.length ? [`${single.length} classes have 1 photo (${summariseNames(single.map((c) => c.name), 3)}): they serve only as negatives`] : []),
  ];
}

/** The run a training continues: the newest unfinished one with the same settings (after a crash), else a new one. */
export function prepareRun(store: Store, libraryId: number, settings: TrainSettings): number {
  return store.resumableRun(libraryId, { ...settings })?.id ?? store.createRun(libraryId, { ...settings });
}

