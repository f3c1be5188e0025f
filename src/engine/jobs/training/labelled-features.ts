/**
 * The labelled photos' cached backbone features on their side of the split, and the untrained
 * baseline scored on them: one definition for training, evaluation and the app.
 */
import type { RetrievalMetrics } from '../../../shared/api.js';
import { DEFAULT_K } from '../../../shared/settings.js';
import { describeSpec, finalPartOf, type BackboneSpec } from '../../ml/backbone/backbone.js';
import { evaluateDetailed, evaluateRetrieval, type DetailedEvaluation, type LabelledVectors } from '../../ml/training/retrieval-metrics.js';
import { normalizeInPlace, type EmbeddingHead } from '../../ml/training/head.js';
import { chooseByContent } from '../../ml/training/split.js';
import type { PhotoRow, Store } from '../../store/store.js';

/** How many photos of each side of the split a sample keeps (see labelledFeatures). */
export interface SplitSample {
  train: number;
  validation: number;
}

/**
 * Every training photo, and at most 5,000 validation photos, evenly spread: the held-out queries a
 * run and its model are scored with. Below 25,000 labelled photos that is the whole split; above,
 * P@30 over 5,000 queries has a standard error of about 0.002, and scoring stays linear in the library.
 */
export const SCORED_SPLIT: SplitSample = { train: Number.POSITIVE_INFINITY, validation: 5000 };

/**
 * Labelled photos with features, split into train and validation (the split is stored once per photo).
 * At most `sample`'s count of each side, evenly spaced over it, and only their features read.
 */
export function labelledFeatures(store: Store, libraryId: number, backboneKey: string, validationFraction: number, seed: number, sample: SplitSample = SCORED_SPLIT) {
  store.assignSplit(libraryId, validationFraction, (_classId, candidates, wanted, hashes) => chooseByContent(candidates, hashes, wanted, seed));
  const labelled = store.photos(libraryId).filter((p) => p.classId !== null);
  const photos = sampled(labelled, sample);
  const features = store.features(backboneKey, photos.map((p) => p.hash));
  const sets = { train: emptySet(), validation: emptySet() };
  const trainPhotos: PhotoRow[] = [];
  const validationPhotos: PhotoRow[] = [];
  for (const photo of photos) {
    const vector = features.get(photo.hash);
    // Damaged rows are dropped and recomputed by cacheFeatures; one that slips through is left out, not trained on.
    if (!vector || !photo.split || !vector.every(Number.isFinite)) continue;
    sets[photo.split].vectors.push(normalizeInPlace(vector)); // a copy of its own (store.features): no second copy of 1 GB at 100,000 photos
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
export function baselineSets(store: Store, libraryId: number, spec: BackboneSpec | undefined, sets: LabelledFeatures, settings: { validationFraction: number; seed: number }, sample?: SplitSample) {
  const untrained = spec && untrainedSpec(spec);
  if (!untrained || untrained === spec) return sets;
  return labelledFeatures(store, libraryId, describeSpec(untrained), settings.validationFraction, settings.seed, sample);
}

/** The untrained baseline's scores; k arrives checked where it came in (the CLI's -k) or made fit (validationK). */
export async function evaluateBaseline(sets: { train: LabelledVectors; validation: LabelledVectors }, k = DEFAULT_K): Promise<RetrievalMetrics> {
  return evaluateRetrieval(sets.validation, sets.train, k);
}

export type LabelledFeatures = ReturnType<typeof labelledFeatures>;

/** A trained head scored as training scores it: validation photos query the training photos through it. */
export async function evaluateHeadOn(head: EmbeddingHead, sets: { train: LabelledVectors; validation: LabelledVectors }, k: number): Promise<DetailedEvaluation> {
  const through = async (set: LabelledVectors) => ({ vectors: await head.embed(set.vectors), classIds: set.classIds });
  return evaluateDetailed(await through(sets.validation), await through(sets.train), k);
}

/** Each side of the split thinned to its share of `sample`, evenly spaced, in the photos' order. */
function sampled(photos: PhotoRow[], sample: SplitSample): PhotoRow[] {
  const kept = new Set<PhotoRow>();
  for (const side of ['train', 'validation'] as const) {
    const all = photos.filter((p) => p.split === side);
    const wanted = Math.min(all.length, sample[side]);
    for (let i = 0; i < wanted; i++) kept.add(all[Math.floor((i * all.length) / wanted)]);
  }
  return photos.filter((p) => kept.has(p));
}

function emptySet(): LabelledVectors {
  return { vectors: [], classIds: [] };
}
