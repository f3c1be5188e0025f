/**
 * The one door to the engine's work: the CLI (through src/engine/index.ts) and the service's handlers ask through
 * here, so what a library needs before training, which models an index brings up to date, and how
 * a file is matched to its library are written once. Settings arrive already resolved at each
 * boundary (src/shared/settings.ts); nothing behind this door checks them again.
 */
import type { TrainSettings } from '../../shared/api.js';
import { invalidInput, notFound } from '../../shared/errors.js';
import { DEFAULT_K, trainabilityProblem, validationK } from '../../shared/settings.js';
import { parseBackboneSpec, trainingBackboneSpec } from '../ml/backbone/backbone.js';
import { isInsideFolder, isStrictlyInside, toLibraryPath } from '../common/paths.js';
import type { Store } from '../store/store.js';
import { errorInWords } from '../common/error-words.js';
import { importedBackboneProblem } from './models/model-card.js';
import type { JobContext } from './job-context.js';
import { cacheFeatures } from './library/feature-cache.js';
import { ensureBaselineModel, indexLibrary } from './library/indexing.js';
import { openLibrary } from './library/library-sync.js';
import type { TrainingPlan } from './training/training-plan.js';

/**
 * What the library must have before a training starts: 2 classes of 2+ photos. `k: 'fit'` scores
 * at the smallest class's training count when that is under 30 (what the app shows); a number
 * (checked where it was read, as the CLI's -k) is used as given. Whether the settings can train
 * here at all is trainingProblem's (src/shared/settings.ts), asked before this.
 */
export function planTraining(store: Store, libraryId: number, settings: TrainSettings, options: { k?: number | 'fit'; fullInputSize?: number } = {}): TrainingPlan {
  const classes = store.classes(libraryId);
  const untrainable = trainabilityProblem(classes);
  if (untrainable) throw invalidInput(untrainable);
  const k = options.k === 'fit' ? validationK(classes, settings.validationFraction) : (options.k ?? DEFAULT_K);
  return { settings, k, spec: trainingBackboneSpec(settings), ...(options.fullInputSize ? { fullInputSize: options.fullInputSize } : {}) };
}

export interface IndexOutcome {
  features: { computed: number; cached: number; failed: number };
  /** The untrained model of this backbone; null when no photo could be read by the backbone yet. */
  baselineId: number | null;
  indexed: Array<{ modelId: number; embedded: number; missingFeatures: number }>;
  /** Models that could not run, and why (also stored with each model). */
  broken: Array<{ modelId: number; reason: string }>;
}

/**
 * Makes a library searchable: backbone features, the untrained model, and every stored model
 * brought up to date. With `rescan` the folder is read again first. A stop between models ends it
 * early with what was done; a model that cannot run is marked broken and the others go on.
 */
export async function indexAll(ctx: JobContext, libraryId: number, options: { backbone: string; workers?: number; rescan?: boolean; appFolders?: string[]; retry?: boolean }): Promise<IndexOutcome> {
  const { store } = ctx;
  if (options.rescan) await openLibrary(ctx, store.libraryRoot(libraryId), { appFolders: options.appFolders });
  const spec = parseBackboneSpec(options.backbone);
  const features = await cacheFeatures(ctx, libraryId, spec, options.workers, { retry: options.retry });
  const outcome: IndexOutcome = { features: { computed: features.computed, cached: features.cached, failed: features.failed }, baselineId: null, indexed: [], broken: [] };
  if (ctx.control?.isStopped) return outcome;
  if (store.featureDim(features.key) !== null) outcome.baselineId = await ensureBaselineModel(ctx, libraryId, spec);
  const models = store.models(libraryId).map((m) => m.id);
  const order = outcome.baselineId === null ? models : [outcome.baselineId, ...models.filter((id) => id !== outcome.baselineId)];
  for (const modelId of order) {
    if (ctx.control?.isStopped) break;
    try {
      const model = store.model(modelId)!;
      const refused = importedBackboneProblem(store, model);
      if (refused) throw new Error(refused);
      const { embedded, missingFeatures } = await indexLibrary(ctx, libraryId, modelId);
      outcome.indexed.push({ modelId, embedded, missingFeatures });
      if (model.problem !== null) store.setModelProblem(modelId, null);
    } catch (error) {
      // One model that cannot run (its backbone gone, its weights unusable) does not stop the others;
      // it is shown as broken with the reason. The database failing, or the baseline, stops the job.
      if (modelId === outcome.baselineId || isDatabaseFailure(error)) throw error;
      const reason = errorInWords(error);
      store.setModelProblem(modelId, reason);
      outcome.broken.push({ modelId, reason });
    }
  }
  return outcome;
}

const isDatabaseFailure = (error: unknown) => String((error as { code?: unknown } | null)?.code ?? '').startsWith('SQLITE_');

/** The stored library whose folder is `root` (a real path), or a message saying what to run first. */
export function requireLibrary(store: Store, root: string): number {
  const id = store.findLibrary(root);
  if (id === null) throw notFound(`${root} is not in the database yet: run \`lookalike train ${root}\` first`);
  return id;
}

/**
 * The library a file belongs to (the innermost one holding it), the only library when there is just
 * one, else null; and the photo it is, when it is one of that library's.
 */
export function locateFile(store: Store, file: string): { libraryId: number; photoId: number | null } | null {
  const libraries = store.libraries();
  const holder = libraries.filter((l) => isInsideFolder(file, l.root)).sort((a, b) => b.root.length - a.root.length)[0] ?? (libraries.length === 1 ? libraries[0] : undefined);
  if (!holder) return null;
  return { libraryId: holder.id, photoId: photoIn(store, holder.id, holder.root, file) };
}

/** The photo of a library at this real path, or null when it is not one of its photos. */
export function photoIn(store: Store, libraryId: number, root: string, file: string): number | null {
  if (!isStrictlyInside(file, root)) return null;
  return store.photoByPath(libraryId, toLibraryPath(root, file))?.id ?? null;
}
