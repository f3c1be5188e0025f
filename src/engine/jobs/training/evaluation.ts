import type { ClassQuality, DistanceProfile, ModelEvaluation, RetrievalMetrics, TrainSettings, WorstQuery } from '../../../shared/api.js';
import { conflict } from '../../../shared/errors.js';
import { DEFAULT_K, resolveSettings } from '../../../shared/settings.js';
import type { BackboneSpec } from '../../ml/backbone/backbone.js';
import { evaluateDetailed, type DetailedEvaluation } from '../../ml/training/retrieval-metrics.js';
import type { ModelRow, PhotoRow, Store } from '../../store/store.js';
import { baselineSets, evaluateBaseline, labelledFeatures, type SplitSample } from './labelled-features.js';
import { requireModel } from '../models/model-lookup.js';
import { withModel } from '../models/open-model.js';

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
  const baseline = await evaluateBaseline(baselineSets(store, libraryId, model.config.backboneSpec as BackboneSpec | undefined, sets, settings), k);
  if (model.kind === 'baseline') return { baseline, trained: null, model };
  return { baseline, trained: await withModel(store, model, (embedder) => embedder.evaluate(sets, k)), model };
}

/**
 * A model's quality per class (baseline beside it, worst first), its worst validation queries per
 * class, and what its distances mean; the distance profile is stored with the model.
 */
export async function evaluateModelInDetail(store: Store, libraryId: number, modelId: number, k = DEFAULT_K, sample?: SplitSample): Promise<ModelEvaluation> {
  const model = requireModel(store, modelId, libraryId);
  // A baseline model has no settings of its own: the split it is scored on is the default one.
  const settings = resolveSettings((model.config.settings ?? {}) as Partial<TrainSettings>);
  const sets = labelledFeatures(store, libraryId, model.backbone, settings.validationFraction, settings.seed, sample);
  if (sets.validation.vectors.length === 0 || sets.train.vectors.length === 0) {
    throw conflict('this library has no labelled validation photos to evaluate on: it needs classes (sub-folders) with 2 or more photos');
  }
  const untrained = baselineSets(store, libraryId, model.config.backboneSpec as BackboneSpec | undefined, sets, settings, sample);
  const baseline = await evaluateDetailed(untrained.validation, untrained.train, k);
  const trained = model.kind === 'trained' ? await withModel(store, model, (embedder) => embedder.evaluateInDetail(sets, k)) : null;
  const own = trained ?? baseline;
  const names = new Map(store.classes(libraryId).map((c) => [c.id, c.name]));
  const distances = distanceProfile(store, libraryId, own);
  store.setModelDistances(model.id, distances);
  const classes = classQualities(own, baseline, trained, names);
  const worstQueries = worstQueriesOf(classes, own, sets.validationPhotos, names);
  return { modelId: model.id, modelName: model.name, k, baseline: baseline.scores, trained: trained?.scores ?? null, classes, worstQueries, distances };
}

const pick = ({ precision_at_k, map_at_r }: { precision_at_k: number; map_at_r: number }) => ({ precision_at_k, map_at_r });

/** Each class's quality under the model (the baseline's beside it), worst first. */
function classQualities(own: DetailedEvaluation, baseline: DetailedEvaluation, trained: DetailedEvaluation | null, names: Map<number, string>): ClassQuality[] {
  return own.perClass
    .map((c) => {
      const base = baseline.perClass.find((b) => b.classId === c.classId)!;
      return { classId: c.classId, name: names.get(c.classId) ?? `class ${c.classId}`, queries: c.queries, baseline: pick(base), trained: trained ? pick(c) : null };
    })
    .sort((a, b) => (a.trained ?? a.baseline).map_at_r - (b.trained ?? b.baseline).map_at_r || a.name.localeCompare(b.name));
}

/** Up to three validation queries per class whose neighbours are most often of another class. */
function worstQueriesOf(classes: ClassQuality[], own: DetailedEvaluation, validationPhotos: PhotoRow[], names: Map<number, string>): WorstQuery[] {
  return classes.flatMap((c) =>
    own.perQuery
      .filter((q) => q.classId === c.classId && q.other_class_share > 0)
      .sort((a, b) => b.other_class_share - a.other_class_share || a.average_precision - b.average_precision || a.index - b.index)
      .slice(0, 3)
      .map((q) => {
        const photo = validationPhotos[q.index];
        return {
          photoId: photo.id,
          path: photo.relPath,
          className: c.name,
          otherClassShare: q.other_class_share,
          confusedWith: q.confused_with === null ? null : (names.get(q.confused_with) ?? null),
        };
      }),
  );
}

/** The photos of each side of the split a distance profile measured for a search is taken from. */
export const PROFILE_SAMPLE: SplitSample = { validation: 500, train: 4000 };

/** What a model's distances mean: stored when it was trained or last evaluated, else measured now (null without labelled photos). */
export async function distancesOf(store: Store, libraryId: number, model: ModelRow): Promise<DistanceProfile | null> {
  const stored = store.modelDistances(model.id);
  // A profile from before the threshold came from the separation of the pairs is measured again.
  if (stored && stored.class_thresholds !== undefined) return stored;
  try {
    // Asked by a search: a small sample of the split, so a first search stays seconds at 100,000
    // photos; the eval view measures the scored split (SCORED_SPLIT).
    return (await evaluateModelInDetail(store, libraryId, model.id, DEFAULT_K, PROFILE_SAMPLE)).distances;
  } catch {
    return null; // no labelled photos: nothing to calibrate on
  }
}

/** A model's distance profile as stored and shown: with each class's own threshold, by class name. */
export function distanceProfile(store: Store, libraryId: number, evaluation: DetailedEvaluation): DistanceProfile {
  const names = new Map(store.classes(libraryId).map((c) => [c.id, c.name]));
  const named = [...evaluation.classThresholds].filter(([id]) => names.has(id)).map(([id, cut]) => [names.get(id)!, cut] as const);
  return { ...evaluation.distances, class_thresholds: Object.fromEntries(named) };
}

