import { statSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { ClassQuality, DistanceProfile, LibrarySummary, ModelEvaluation, Problem, RetrievalMetrics, SimilarResult, TrainSettings, WorstQuery } from '../../shared/api.js';
import { conflict, invalidInput, notFound } from '../../shared/errors.js';
import { selectBackend } from '../ml/runtime/compute-backend.js';
import { loadBackbone, describeSpec, featureSegments, finalPartOf, type Backbone, type BackboneSpec } from '../ml/backbone/backbone.js';
import { activeClock } from '../common/job-control.js';
import { createThroughput } from '../common/throughput.js';
import { evaluateDetailed, evaluateRetrieval, type DetailedEvaluation, type LabelledVectors } from '../ml/training/retrieval-metrics.js';
import { extractFeatures } from '../ml/backbone/features.js';
import { decodeForModel } from '../library/image.js';
import { hashPhoto, ImageError } from '../library/photo-gate.js';
import { scanLibrary } from '../library/scan.js';
import { CENTRE_WEIGHT, EmbeddingHead, normalizeVector, packedNames, packTensors, type HeadConfig } from '../ml/training/head.js';
import { chooseByContent } from '../ml/training/split.js';
import { DEFAULT_K, checkK, resolveSettings } from '../../shared/settings.js';
import type { ModelRow, PhotoRow, Store } from '../store/store.js';
import { trainHead, type TrainData, type TrainerSettings, type TrainOptions } from '../ml/training/trainer.js';
import { autoTriplets, checkFineTune, embedPhotosFineTuned, embedQueryFineTuned, evaluateFineTuned, indexFineTuned, isFineTuned, trainFull, trainLastBlocks, type TrainedOutcome } from './fine-tune.js';
import { effectiveClass } from '../library/label-rules.js';
import { labelRules, labelledClassNames, recordRunClasses, rememberFolders } from './label-changes.js';
import { markedPairsForTraining, recordRunMarks } from './not-similar-marks.js';
import { importedBackboneProblem } from './model-card.js';
import { moveNotices, recoverMoves } from './file-moves.js';
import type { JobContext } from './job-context.js';

export interface OpenedLibrary {
  libraryId: number;
  summary: LibrarySummary;
  sync: { added: number; changed: number; removed: number; unchanged: number };
  /** File moves found part way at this open and settled (see file-moves.ts), in words. */
  recovered: string[];
}

/** Scans the folder, hashes new and changed photos, and makes the store match it. */
export async function openLibrary(ctx: JobContext, root: string, options: { appFolders?: string[] } = {}): Promise<OpenedLibrary> {
  const { store } = ctx;
  // File moves a process left part way (killed, crashed) are settled before the folder is read.
  const known = await realpath(isAbsolute(root) ? root : resolve(root)).catch(() => null);
  const knownId = known === null ? undefined : store.libraryIdOf(known);
  const recovered = knownId === undefined ? [] : await recoverMoves(store, knownId);
  const scan = await scanLibrary(isAbsolute(root) ? root : resolve(root), { exclude: options.appFolders });
  const libraryId = store.upsertLibrary(scan.root);
  const knownPhotos = new Map(store.photos(libraryId).map((p) => [p.relPath, p]));
  const problems: Problem[] = [...scan.problems];
  const unreadable = [...scan.unreadable];
  const scanned = [];
  let done = 0;
  for (const file of scan.files) {
    const before = knownPhotos.get(file.relPath);
    let hash = before?.hash;
    if (!before || before.size !== file.size || before.mtimeMs !== file.mtimeMs) {
      try {
        hash = await hashPhoto(file.absPath, file.relPath);
      } catch (error) {
        problems.push({ path: file.relPath, reason: error instanceof ImageError ? error.reason : `cannot read (${(error as Error).message})` });
        unreadable.push(file.relPath);
        continue;
      }
    }
    scanned.push({ relPath: file.relPath, className: file.className, size: file.size, mtimeMs: file.mtimeMs, hash: hash! });
    if (++done % 200 === 0) ctx.emit?.({ type: 'progress', kind: 'scan', phase: 'Reading photos', done, total: scan.files.length, etaSeconds: null });
  }
  // Classes chosen in the app (excluded, merged, renamed folders; photos put in a class) apply on every scan.
  rememberFolders(store, libraryId, scan.classes);
  const rules = labelRules(store, libraryId);
  const labelled = scanned.map((photo) => ({ ...photo, className: effectiveClass(rules, photo.relPath, photo.className) }));
  const sync = store.syncLibrary(libraryId, labelledClassNames(store, libraryId, scan.classes), labelled, unreadable);
  store.replaceProblems(libraryId, 'scan', problems);
  for (const problem of scan.problems) ctx.emit?.({ type: 'problem', problem });
  const summary = librarySummary(store, libraryId);
  ctx.emit?.({ type: 'library', library: summary });
  return { libraryId, summary, sync, recovered };
}

export function librarySummary(store: Store, libraryId: number): LibrarySummary {
  const classes = store.classes(libraryId);
  const photoCount = store.countPhotos(libraryId);
  return {
    libraryId,
    root: store.libraryRoot(libraryId),
    photoCount,
    unlabelledCount: photoCount - classes.reduce((sum, c) => sum + c.photoCount, 0),
    classes,
    problems: store.problems(libraryId),
    moveNotices: moveNotices(store, libraryId),
  };
}

/**
 * Computes backbone features for photos whose content has none yet; stored as they come. Cached
 * features that are not all numbers (a damaged row) are dropped and computed again. A photo the
 * backbone could not read is remembered as seen on that file (path, size, mtime) and tried again once
 * the file changes, moves or reappears, or with `retry`; one that could not be read only this time
 * (gone, locked, replaced meanwhile) is not remembered at all. The 'features' problems are rewritten
 * each time, so a fixed or deleted file leaves the list.
 */
export async function cacheFeatures(ctx: JobContext, libraryId: number, spec: BackboneSpec, workers?: number, options: { retry?: boolean } = {}) {
  const { store } = ctx;
  const key = describeSpec(spec);
  const photos = store.photos(libraryId);
  const cached = store.features(key, photos.map((p) => p.hash));
  const damaged = [...cached].filter(([, vector]) => !vector.every(Number.isFinite)).map(([hash]) => hash);
  if (damaged.length) {
    store.deleteFeatures(key, damaged);
    for (const hash of damaged) cached.delete(hash);
    for (const photo of photos.filter((p) => damaged.includes(p.hash))) {
      ctx.emit?.({ type: 'problem', problem: { path: photo.relPath, reason: 'its stored backbone features were damaged (not numbers); computing them again' } });
    }
  }
  const finalPart = finalPartOf(spec);
  if (finalPart) backfillFinalPart(store, finalPart, cached);
  if (options.retry) store.clearFeatureFailures(key, photos.map((p) => p.hash));
  const failures = store.featureFailures(key);
  const knownBad = (p: PhotoRow) => failures.get(p.hash)?.seenAs === seenAs(p);
  const missing = uniqueByHash(photos.filter((p) => !cached.has(p.hash) && !knownBad(p)));
  const root = store.libraryRoot(libraryId);
  const pace = createThroughput(activeClock(ctx.control));
  let phase = 'Computing backbone features';
  ctx.emit?.({ type: 'progress', kind: 'features', phase, done: 0, total: missing.length, etaSeconds: null });
  const problems: Problem[] = [];
  const summary = await extractFeatures(
    spec,
    missing.map((photo, index) => ({ index, absPath: resolve(root, photo.relPath), label: photo.relPath })),
    {
      workers,
      control: ctx.control,
      onFeatures: (items) => {
        store.putFeatures(key, items.map(({ index, vector }) => ({ hash: missing[index].hash, vector })));
        // The final pool comes with multi-scale features: cached too, so the untrained model needs no second pass.
        if (finalPart) store.putFeatures(describeSpec(finalPart.spec), items.map(({ index, vector }) => ({ hash: missing[index].hash, vector: vector.slice(vector.length - finalPart.dim) })));
      },
      onProblem: (problem, passing) => {
        const photo = missing.find((p) => p.relPath === problem.path);
        if (photo && !passing && sameFileAsScanned(resolve(root, photo.relPath), photo)) store.putFeatureFailure(key, photo.hash, problem.reason, seenAs(photo));
        else problem = { ...problem, reason: `${problem.reason} (could not be read this time; tried again next time)` };
        problem = { ...problem, unreadablePhoto: true };
        problems.push(problem);
        ctx.emit?.({ type: 'problem', problem });
      },
      onRuntime: (runtime, note) => {
        phase = `Computing backbone features (${describeRuntime(runtime)}${note ? `; ${note}` : ''})`;
      },
      onProgress: (done, total) => {
        const { etaSeconds, perSecond } = pace(done, total);
        ctx.emit?.({ type: 'progress', kind: 'features', phase, done, total, etaSeconds, imagesPerSecond: perSecond });
      },
    },
  );
  // What is still failing now: remembered failures that match the file as it is, and this run's passing ones.
  const nowFailing = store.featureFailures(key);
  const lasting = photos.filter((p) => nowFailing.get(p.hash)?.seenAs === seenAs(p)).map((p) => ({ path: p.relPath, reason: nowFailing.get(p.hash)!.reason }));
  const lastingPaths = new Set(lasting.map((p) => p.path));
  store.replaceProblems(libraryId, 'features', [...lasting, ...problems.filter((p) => !lastingPaths.has(p.path))]);
  return { ...summary, key, cached: cached.size, computed: summary.extracted, problems };
}

/**
 * Multi-scale vectors end with the final pool: photos whose final-pool features are missing (a cache
 * written before both were stored together) get them from there, with no backbone pass.
 */
function backfillFinalPart(store: Store, finalPart: NonNullable<ReturnType<typeof finalPartOf>>, cached: Map<string, Float32Array>): void {
  const finalKey = describeSpec(finalPart.spec);
  const present = store.features(finalKey, [...cached.keys()]);
  const missing = [...cached].filter(([hash]) => !present.has(hash));
  if (missing.length) store.putFeatures(finalKey, missing.map(([hash, vector]) => ({ hash, vector: vector.slice(vector.length - finalPart.dim) })));
}

/** A failure is remembered against the file as the scan saw it: another path, size or mtime means another try. */
function seenAs(photo: PhotoRow): string {
  return JSON.stringify([photo.relPath, photo.size, photo.mtimeMs]);
}

/** The file is still the one the scan hashed (not gone or replaced while the backbone read it). */
function sameFileAsScanned(absPath: string, photo: PhotoRow): boolean {
  try {
    const info = statSync(absPath);
    return info.size === photo.size && Math.round(info.mtimeMs) === photo.mtimeMs;
  } catch {
    return false;
  }
}

/** Up to five names, then how many more: a list that stays one readable line. */
export function summariseNames(names: string[], shown = 5): string {
  const quoted = names.slice(0, shown).map((n) => `"${n}"`);
  return names.length > shown ? `${quoted.join(', ')} and ${names.length - shown} more` : quoted.join(', ');
}

function describeRuntime(runtime: string): string {
  return runtime === 'onnxruntime' ? 'ONNX Runtime' : runtime === 'onnxruntime-int8' ? 'ONNX Runtime, int8' : runtime.replace(/^tfjs-/, 'TF.js ');
}

/** Labelled photos with features, split into train and validation (the split is stored once per photo). */
export function labelledFeatures(store: Store, libraryId: number, backboneKey: string, validationFraction: number, seed: number) {
  store.assignSplit(libraryId, validationFraction, (_classId, candidates, wanted, hashes) => chooseByContent(candidates, hashes, wanted, seed));
  const photos = store.photos(libraryId).filter((p) => p.classId !== null);
  const features = store.features(backboneKey, photos.map((p) => p.hash));
  const sets = { train: emptySet(), validation: emptySet() };
  const trainPhotos: PhotoRow[] = [];
  const validationPhotos: PhotoRow[] = [];
  for (const photo of photos) {
    const vector = features.get(photo.hash);
    // Damaged rows are dropped and recomputed by cacheFeatures; one that slips through is left out, not trained on.
    if (!vector || !photo.split || !vector.every(Number.isFinite)) continue;
    sets[photo.split].vectors.push(normalizeVector(vector));
    sets[photo.split].classIds.push(photo.classId!);
    (photo.split === 'train' ? trainPhotos : validationPhotos).push(photo);
  }
  return { ...sets, trainPhotos, validationPhotos };
}

/** The untrained model a run is scored against: the final pool's features (one per library), whatever the run trained on. */
export function untrainedSpec(spec: BackboneSpec): BackboneSpec {
  return finalPartOf(spec)?.spec ?? spec;
}

/**
 * The feature sets the untrained baseline is scored on, for a model of backbone `spec` whose own sets
 * are `sets`: one definition for training, eval and the app, so the baseline is the same number everywhere.
 */
export function baselineSets(store: Store, libraryId: number, spec: BackboneSpec | undefined, sets: ReturnType<typeof labelledFeatures>, settings: { validationFraction: number; seed: number }) {
  const untrained = spec && untrainedSpec(spec);
  if (!untrained || untrained === spec) return sets;
  return labelledFeatures(store, libraryId, describeSpec(untrained), settings.validationFraction, settings.seed);
}

export function evaluateBaseline(sets: { train: LabelledVectors; validation: LabelledVectors }, k = DEFAULT_K): RetrievalMetrics {
  return evaluateRetrieval(sets.validation, sets.train, checkK(k));
}

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
}

/** A training the door (engine.ts) has checked: resolved settings, the k it is scored at, the backbone. */
export interface TrainingPlan {
  settings: TrainSettings;
  /** k of precision@k for the validation scores. */
  k: number;
  spec: BackboneSpec;
  /** Photo side of full fine-tuning when not 224 (tests and the bench, on slow adapters). */
  fullInputSize?: number;
}

/**
 * The whole "Train" button: features cached, split fixed, baseline measured, head trained with
 * checkpoints each epoch (a killed run with the same settings resumes), model stored and indexed.
 * The plan comes from planTraining (engine.ts), which refuses what cannot be trained.
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
  checkFineTune(settings, spec, await selectBackend());
  const backboneKey = describeSpec(spec);
  await cacheFeatures(ctx, libraryId, spec, options.workers);
  if (ctx.control?.isStopped) throw new Error('stopped before training started');
  const sets = labelledFeatures(store, libraryId, backboneKey, settings.validationFraction, settings.seed);
  const untrained = untrainedSpec(spec);
  const baseline = evaluateBaseline(baselineSets(store, libraryId, spec, sets, settings), k);
  await ensureBaselineModel(ctx, libraryId, untrained, baseline);

  const runId = options.runId ?? prepareRun(store, libraryId, settings);
  recordRunClasses(store, libraryId, runId);
  const marked = markedPairsForTraining(store, libraryId, sets.trainPhotos, sets.train.vectors);
  recordRunMarks(store, runId, marked.length);
  const checkpoint = store.latestCheckpoint(runId);
  store.updateRun(runId, { status: 'running', baseline });
  const notes = [...(checkpoint ? [`resuming after epoch ${checkpoint.epoch}`] : []), ...smallClassNotes(store.classes(libraryId))];
  ctx.emit?.({ type: 'job', job: { kind: 'train', state: 'running', runId, message: notes.length ? notes.join('; ') : null } });

  const inputDim = sets.train.vectors[0].length;
  // Centring each layer's features lifted multi-scale runs and did little for the final pool alone (docs/measurements.md, "Centred features").
  // A run stopped before centring came in resumes as it began, without it.
  const resumesUncentred = checkpoint !== null && !packedNames(checkpoint.state).includes(CENTRE_WEIGHT);
  const centre = finalPartOf(spec) && !resumesUncentred ? { segments: featureSegments(spec, inputDim) } : undefined;
  const headConfig: HeadConfig = { inputDim, dim: settings.dim, hidden: 0, normalize: true, ...(centre ? { centre } : {}) };
  const trainer = { ...settings, k, tripletsPerEpoch: autoTriplets(settings, sets.train.vectors.length), keepBest: true };
  const best = checkpoint ? bestEpochSoFar(store, runId) : null;
  const totalSteps = settings.epochs * Math.ceil(trainer.tripletsPerEpoch / settings.batchSize);
  const trainingPace = createThroughput(activeClock(ctx.control));
  let firstStep: number | null = null;
  let keepEpoch = best ? { epoch: best.epoch, mapAtR: best.mapAtR } : null;
  try {
    const trainOptions: TrainOptions = {
      control: ctx.control,
      resumeFrom: checkpoint ? { epoch: checkpoint.epoch, state: checkpoint.state, best: best ?? undefined } : undefined,
      onStep: (step) => {
        firstStep ??= step.step - 1;
        ctx.emit?.({ type: 'loss', runId, ...step });
        const { etaSeconds, perSecond: stepsPerSecond } = trainingPace(step.step - firstStep, totalSteps - firstStep);
        // A triplet is three images: query, positive, negative.
        const imagesPerSecond = stepsPerSecond === null ? null : stepsPerSecond * settings.batchSize * 3;
        ctx.emit?.({ type: 'progress', kind: 'train', phase: `Epoch ${step.epoch} of ${settings.epochs}`, done: step.step, total: totalSteps, etaSeconds, imagesPerSecond });
      },
      onEpoch: async (epoch) => {
        keepEpoch = bestEpoch(keepEpoch, epoch.epoch, epoch.validation.map_at_r);
        store.saveEpoch(runId, epoch, epoch.losses, await epoch.checkpoint(), keepEpoch.epoch);
        ctx.emit?.({ type: 'epoch', runId, epoch: epoch.epoch, epochs: settings.epochs, meanLoss: epoch.meanLoss, validation: epoch.validation, baseline });
      },
    };
    const outcome =
      settings.fineTune === 'last-blocks'
        ? await trainLastBlocks(ctx, libraryId, settings, trainer, headConfig, { ...sets, marked }, trainOptions)
        : settings.fineTune === 'full'
          ? await trainFull(ctx, libraryId, trainer, headConfig, { ...sets, marked }, trainOptions, plan.fullInputSize)
          : await trainHeadOnly({ ...sets, marked }, headConfig, trainer, trainOptions);
    if (outcome.stopped && outcome.epochsDone === 0) {
      const nothingKept = 'stopped before the first epoch finished, so nothing was kept: a model is saved at the end of each epoch';
      store.updateRun(runId, { status: 'stopped', error: nothingKept, finished: true });
      outcome.dispose();
      throw new Error(nothingKept);
    }
    const detailed = await outcome.evaluate();
    const trained = detailed.scores;
    const modelId = store.createModel({
      libraryId,
      name: `Trained run ${store.run(runId)!.number}`,
      kind: 'trained',
      backbone: backboneKey,
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
    await indexLibrary(ctx, libraryId, modelId);
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
      backbone: backboneKey,
      marksUsed: marked.length,
    };
  } catch (error) {
    const run = store.run(runId);
    if (run && run.status === 'running') store.updateRun(runId, { status: 'failed', error: (error as Error).message, finished: true });
    throw error;
  }
}

async function trainHeadOnly(sets: TrainData, headConfig: HeadConfig, trainer: TrainerSettings, options: TrainOptions): Promise<TrainedOutcome> {
  const outcome = await trainHead(sets, headConfig, trainer, options);
  const { head } = outcome;
  return {
    ...outcome,
    evaluate: async () =>
      evaluateDetailed({ vectors: await head.embed(sets.validation.vectors), classIds: sets.validation.classIds }, { vectors: await head.embed(sets.train.vectors), classIds: sets.train.classIds }, trainer.k),
    weights: () => packTensors(head.namedWeights()),
    dispose: () => head.dispose(),
  };
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

/** The untrained model: the backbone's own (L2-normalised) features, for comparison and search before training. */
export async function ensureBaselineModel(ctx: JobContext, libraryId: number, spec: BackboneSpec, metrics?: RetrievalMetrics): Promise<number> {
  const { store } = ctx;
  const key = describeSpec(spec);
  let model = store.models(libraryId).find((m) => m.kind === 'baseline' && m.backbone === key);
  if (!model) {
    const dim = store.featureDim(key);
    if (dim === null) throw new Error('no photo of this library could be read by the backbone yet; nothing to index');
    const id = store.createModel({ libraryId, name: `Untrained ${key}`, kind: 'baseline', backbone: key, backboneDim: dim, dim, config: { backboneSpec: spec }, runId: null });
    model = store.model(id)!;
  }
  if (metrics) store.setModelMetrics(model.id, metrics);
  await indexLibrary(ctx, libraryId, model.id);
  return model.id;
}

/** Embeds every photo (labelled or not) whose embedding under the model is missing or stale. */
export async function indexLibrary(ctx: JobContext, libraryId: number, modelId: number): Promise<{ embedded: number; missingFeatures: number }> {
  const { store } = ctx;
  const model = requireModel(store, modelId, libraryId);
  const spec = model.config.backboneSpec as BackboneSpec;
  await cacheFeatures(ctx, libraryId, spec);
  if (isFineTuned(model)) return await indexFineTuned(ctx, libraryId, model);
  const todo = store.photosToEmbed(libraryId, modelId);
  const features = store.features(model.backbone, todo.map((p) => p.hash));
  const ready = todo.filter((p) => features.has(p.hash));
  const embedder = await loadEmbedder(store, model);
  try {
    const batchSize = 512;
    for (let start = 0; start < ready.length; start += batchSize) {
      await ctx.control?.checkpoint();
      const batch = ready.slice(start, start + batchSize);
      const vectors = await embedder.embed(batch.map((p) => features.get(p.hash)!));
      store.putEmbeddings(modelId, model.dim, batch.map((p, i) => ({ photoId: p.id, hash: p.hash, vector: vectors[i] })));
      ctx.emit?.({ type: 'progress', kind: 'index', phase: `Indexing with ${model.name}`, done: Math.min(start + batchSize, ready.length), total: ready.length, etaSeconds: null });
    }
  } finally {
    embedder.dispose();
  }
  return { embedded: ready.length, missingFeatures: todo.length - ready.length };
}

interface Embedder {
  embed(features: Float32Array[]): Promise<Float32Array[]>;
  /** Frees the head's tensors; the embedder is not used after. */
  dispose(): void;
}

/** Backbone features to the model's embedding: normalisation, then the trained head if any. */
async function loadEmbedder(store: Store, model: ModelRow): Promise<Embedder> {
  if (model.kind === 'baseline') return { embed: async (features) => features.map(normalizeVector), dispose: () => undefined };
  await selectBackend();
  const weights = store.modelWeights(model.id);
  if (!weights) throw new Error(`model ${model.id} has no stored weights`);
  let head: EmbeddingHead;
  try {
    head = EmbeddingHead.fromPacked(model.config.head as HeadConfig, weights);
  } catch {
    // What the parser says about damaged bytes quotes them; the person needs what it means.
    throw new Error('its stored weights are damaged and cannot be read; remove it, then train it again or import it again');
  }
  return { embed: (features) => head.embed(features.map(normalizeVector)), dispose: () => head.dispose() };
}

/** The model, which must belong to the library: another library's model would answer with its photos. */
export function requireModel(store: Store, modelId: number, libraryId: number): ModelRow {
  const model = store.model(modelId);
  if (!model) throw notFound(`no model ${modelId}`);
  if (model.libraryId !== libraryId) throw invalidInput(`model ${modelId} belongs to another library (${store.libraryRoot(model.libraryId)}), not to ${store.libraryRoot(libraryId)}`);
  return model;
}

/**
 * The model a search uses when none is named: the newest trained here that runs, else the baseline.
 * An imported model is used only when the person picks it (its classes may not be this library's).
 */
export function defaultModel(store: Store, libraryId: number): ModelRow | null {
  const models = store.models(libraryId);
  return [...models].reverse().find((m) => m.kind === 'trained' && m.config.importedCard === undefined && m.problem === null) ?? models.find((m) => m.kind === 'baseline') ?? null;
}

/** Re-measures a stored model the way training did: validation photos query the training photos. */
export async function evaluateModel(
  store: Store,
  libraryId: number,
  modelId: number,
  k = DEFAULT_K,
): Promise<{ baseline: RetrievalMetrics; trained: RetrievalMetrics | null; model: ModelRow }> {
  const model = requireModel(store, modelId, libraryId);
  // A baseline model has no settings of its own: the split it is scored on is the default one.
  const settings = resolveSettings((model.config.settings ?? {}) as Partial<TrainSettings>);
  const sets = labelledFeatures(store, libraryId, model.backbone, settings.validationFraction, settings.seed);
  const baseline = evaluateBaseline(baselineSets(store, libraryId, model.config.backboneSpec as BackboneSpec | undefined, sets, settings), k);
  if (model.kind === 'baseline') return { baseline, trained: null, model };
  await selectBackend();
  if (isFineTuned(model)) return { baseline, trained: await evaluateFineTuned(store, libraryId, model, k), model };
  const head = EmbeddingHead.fromPacked(model.config.head as HeadConfig, store.modelWeights(model.id)!);
  try {
    const trained = evaluateRetrieval(
      { vectors: await head.embed(sets.validation.vectors), classIds: sets.validation.classIds },
      { vectors: await head.embed(sets.train.vectors), classIds: sets.train.classIds },
      k,
    );
    return { baseline, trained, model };
  } finally {
    head.dispose();
  }
}

/**
 * A model's quality per class (baseline beside it, worst first), its worst validation queries per
 * class, and what its distances mean; the distance profile is stored with the model.
 */
export async function evaluateModelInDetail(store: Store, libraryId: number, modelId: number, k = DEFAULT_K): Promise<ModelEvaluation> {
  const model = requireModel(store, modelId, libraryId);
  // A baseline model has no settings of its own: the split it is scored on is the default one.
  const settings = resolveSettings((model.config.settings ?? {}) as Partial<TrainSettings>);
  const sets = labelledFeatures(store, libraryId, model.backbone, settings.validationFraction, settings.seed);
  if (sets.validation.vectors.length === 0 || sets.train.vectors.length === 0) {
    throw conflict('this library has no labelled validation photos to evaluate on: it needs classes (sub-folders) with 2 or more photos');
  }
  const untrained = baselineSets(store, libraryId, model.config.backboneSpec as BackboneSpec | undefined, sets, settings);
  const baseline = evaluateDetailed(untrained.validation, untrained.train, checkK(k));
  let trained: DetailedEvaluation | null = null;
  if (model.kind === 'trained') {
    await selectBackend();
    if (isFineTuned(model)) {
      // Through the fine-tuned blocks, from the cached cut maps, in the order of the feature sets.
      const all = await embedPhotosFineTuned(store, model, [...sets.validationPhotos, ...sets.trainPhotos]);
      if (all.some((v) => v === null)) throw conflict(`${model.name}: some photos' activations at the fine-tuning cut are not cached; index the library again first`);
      const vectors = all as Float32Array[];
      const n = sets.validationPhotos.length;
      trained = evaluateDetailed({ vectors: vectors.slice(0, n), classIds: sets.validation.classIds }, { vectors: vectors.slice(n), classIds: sets.train.classIds }, k);
    } else {
      const head = EmbeddingHead.fromPacked(model.config.head as HeadConfig, store.modelWeights(model.id)!);
      try {
        const embed = async (set: LabelledVectors) => ({ vectors: await head.embed(set.vectors), classIds: set.classIds });
        trained = evaluateDetailed(await embed(sets.validation), await embed(sets.train), k);
      } finally {
        head.dispose();
      }
    }
  }
  const own = trained ?? baseline;
  const names = new Map(store.classes(libraryId).map((c) => [c.id, c.name]));
  const distances = distanceProfile(store, libraryId, own);
  store.setModelDistances(model.id, distances);
  const pick = ({ precision_at_k, map_at_r }: { precision_at_k: number; map_at_r: number }) => ({ precision_at_k, map_at_r });
  const classes: ClassQuality[] = own.perClass
    .map((c) => {
      const base = baseline.perClass.find((b) => b.classId === c.classId)!;
      return { classId: c.classId, name: names.get(c.classId) ?? `class ${c.classId}`, queries: c.queries, baseline: pick(base), trained: trained ? pick(c) : null };
    })
    .sort((a, b) => (a.trained ?? a.baseline).map_at_r - (b.trained ?? b.baseline).map_at_r || a.name.localeCompare(b.name));
  const worstQueries: WorstQuery[] = classes.flatMap((c) =>
    own.perQuery
      .filter((q) => q.classId === c.classId && q.other_class_share > 0)
      .sort((a, b) => b.other_class_share - a.other_class_share || a.average_precision - b.average_precision || a.index - b.index)
      .slice(0, 3)
      .map((q) => {
        const photo = sets.validationPhotos[q.index];
        return {
          photoId: photo.id,
          path: photo.relPath,
          className: c.name,
          otherClassShare: q.other_class_share,
          confusedWith: q.confused_with === null ? null : (names.get(q.confused_with) ?? null),
        };
      }),
  );
  return { modelId: model.id, modelName: model.name, k, baseline: baseline.scores, trained: trained?.scores ?? null, classes, worstQueries, distances };
}

/** What a model's distances mean: stored when it was trained or last evaluated, else measured now (null without labelled photos). */
async function distancesOf(store: Store, libraryId: number, model: ModelRow): Promise<DistanceProfile | null> {
  const stored = store.modelDistances(model.id);
  // A profile from before the threshold came from the separation of the pairs is measured again.
  if (stored && stored.class_thresholds !== undefined) return stored;
  try {
    return (await evaluateModelInDetail(store, libraryId, model.id)).distances;
  } catch {
    return null; // no labelled photos: nothing to calibrate on
  }
}

/** A model's distance profile as stored and shown: with each class's own threshold, by class name. */
function distanceProfile(store: Store, libraryId: number, evaluation: DetailedEvaluation): DistanceProfile {
  const names = new Map(store.classes(libraryId).map((c) => [c.id, c.name]));
  const named = [...evaluation.classThresholds].filter(([id]) => names.has(id)).map(([id, cut]) => [names.get(id)!, cut] as const);
  return { ...evaluation.distances, class_thresholds: Object.fromEntries(named) };
}

export interface SimilarHit {
  rank: number;
  photoId: number;
  path: string;
  className: string | null;
  distance: number;
}

/** Keeps every backbone a query has loaded (one per backbone, usually one in all): dropping in several photos in a row is common. */
const backboneCache = new Map<string, Promise<Backbone>>();

/** Frees the backbones kept for queries (closing the engine; tests that count tensors). */
export async function releaseQueryBackbones(): Promise<void> {
  const loading = [...backboneCache.values()];
  backboneCache.clear();
  for (const backbone of await Promise.allSettled(loading)) if (backbone.status === 'fulfilled') backbone.value.dispose();
}

/**
 * k nearest photos (Euclidean, nearest first) to a library photo or to an image from outside. A
 * library photo is not its own neighbour: the k results are k other photos (copies of it included).
 */
export async function findSimilar(
  store: Store,
  libraryId: number,
  query: { photoId: number } | { image: string | Buffer; label: string },
  k: number,
  modelId?: number,
): Promise<SimilarResult> {
  checkK(k);
  const model = modelId === undefined ? defaultModel(store, libraryId) : requireModel(store, modelId, libraryId);
  if (!model) throw conflict('no model yet: index or train the library first');
  const refused = importedBackboneProblem(store, model);
  if (refused) throw conflict(`${model.name} cannot run: ${refused}`);
  let vector: Float32Array;
  let described: SimilarResult['query'];
  const throughHead = async (feature: Float32Array): Promise<Float32Array> => {
    const embedder = await loadEmbedder(store, model);
    try {
      return (await embedder.embed([feature]))[0];
    } finally {
      embedder.dispose();
    }
  };
  // A query that cannot be decoded (a text file named .jpg, in the library or from outside) is the
  // person's input, not the engine failing: a 4xx naming the file and why.
  const asInput = (error: unknown) => {
    throw error instanceof ImageError ? invalidInput(error.message) : error;
  };
  if ('photoId' in query) {
    const photo = store.photo(query.photoId);
    if (!photo || photo.libraryId !== libraryId) throw notFound(`no photo ${query.photoId} in this library`);
    described = { photoId: photo.id, path: photo.relPath, className: photo.className };
    if (isFineTuned(model)) vector = await embedQueryFineTuned(store, libraryId, model, { photo }).catch(asInput);
    else {
      const cached = store.features(model.backbone, [photo.hash]).get(photo.hash);
      const feature = cached ?? (await backboneFeature(model, resolve(store.libraryRoot(libraryId), photo.relPath), photo.relPath).catch(asInput));
      vector = await throughHead(feature);
    }
  } else {
    described = { photoId: null, path: query.label, className: null };
    if (isFineTuned(model)) vector = await embedQueryFineTuned(store, libraryId, model, query).catch(asInput);
    else vector = await throughHead(await backboneFeature(model, query.image, query.label).catch(asInput));
  }
  const index = store.vectorIndex(model.id, model.dim);
  const hits = described.photoId === null ? index.knn(vector, k) : index.knn(vector, k + 1).filter((hit) => hit.id !== described.photoId).slice(0, k);
  const results = hits.map((hit, i) => {
    const photo = store.photo(hit.id);
    return { rank: i + 1, photoId: hit.id, path: photo?.relPath ?? '(removed)', className: photo?.className ?? null, distance: hit.distance };
  });
  return { modelId: model.id, query: described, results, distances: await distancesOf(store, libraryId, model) };
}

async function backboneFeature(model: ModelRow, image: string | Buffer, label: string): Promise<Float32Array> {
  const spec = model.config.backboneSpec as BackboneSpec;
  const key = describeSpec(spec);
  let loading = backboneCache.get(key);
  if (!loading) {
    loading = loadBackbone(spec);
    backboneCache.set(key, loading);
    loading.catch(() => backboneCache.delete(key));
  }
  const backbone = await loading;
  const decoded = await decodeForModel(image, backbone.inputSize, label);
  const [feature] = await backbone.embed([decoded.pixels]);
  return feature;
}

function uniqueByHash(photos: PhotoRow[]): PhotoRow[] {
  const seen = new Set<string>();
  return photos.filter((p) => (seen.has(p.hash) ? false : (seen.add(p.hash), true)));
}

function emptySet(): LabelledVectors {
  return { vectors: [], classIds: [] };
}

