import { createHash } from 'node:crypto';
import type { Suggestion, SuggestionsResult } from '../../../shared/api.js';
import { describeValue } from '../../../shared/describe-value.js';
import { conflict, invalidInput, notFound } from '../../../shared/errors.js';
import { describeSpec, type BackboneSpec } from '../../ml/backbone/backbone.js';
import { normalizeVector } from '../../ml/training/head.js';
import { classThresholds, noveltyRule, voteClasses, type LabelledPhoto } from '../../ml/curation/suggest.js';
import { fitClassGaussians, type ClassGaussians } from '../../ml/curation/novelty.js';
import type { PhotoRow, Store } from '../../store/store.js';
import { untrainedSpec } from '../training/labelled-features.js';
import { defaultModel, requireModel } from '../models/model-lookup.js';

/** Vectors read from the index per statement. */
const PAGE = 2048;

export interface SuggestOptions {
  modelId?: number;
  /**
   * How "none of your classes" is decided: `novelty` (the app's: the model's distance and the untrained
   * features' combined, see noveltyRule); for the bench's comparison, the model's distance alone with a
   * threshold per class or one for all.
   */
  rule?: 'novelty' | 'per-class' | 'global';
  /** Share of validation photos the rule keeps in their class (default KEEP_SHARE; the bench tries others). */
  keepShare?: number;
}

/**
 * Suggests a class for every photo without one (in the library root or an excluded folder) from its
 * nearest labelled photos under the model, or "none of your classes"; most confident first. Photos the
 * model has not indexed yet are counted, not suggested.
 */
export function suggestClasses(store: Store, libraryId: number, options: SuggestOptions = {}): SuggestionsResult {
  const { modelId } = options;
  if (modelId !== undefined && !Number.isInteger(modelId)) throw invalidInput(`a model is named by its id, a whole number (got ${describeValue(modelId)})`);
  const model = modelId === undefined ? defaultModel(store, libraryId) : requireModel(store, modelId, libraryId);
  if (!model) throw conflict('no model yet: index or train the library first');
  const photos = store.photos(libraryId);
  const index = store.vectorIndex(model.id, model.dim);
  const vectors = new Map<number, Float32Array>();
  for (let start = 0; start < photos.length; start += PAGE) {
    for (const { id, vector } of index.vectors(photos.slice(start, start + PAGE).map((p) => p.id))) vectors.set(id, vector);
  }
  const untrained = untrainedFeatures(store, model.config.backboneSpec as BackboneSpec | undefined, photos);
  const labelled = (photo: PhotoRow): photo is PhotoRow & { classId: number } => photo.classId !== null && vectors.has(photo.id);
  const withVector = (photo: PhotoRow & { classId: number }): LabelledPhoto => ({ id: photo.id, classId: photo.classId, vector: vectors.get(photo.id)!, untrained: untrained.get(photo.id) });
  const labelledPhotos = photos.filter(labelled);
  const references = labelledPhotos.map(withVector);
  const unlabelled = photos.filter((p) => p.classId === null);
  const queries = unlabelled.filter((p) => vectors.has(p.id));
  // Calibrated on photos the model was not trained on (its validation split) against those it was.
  const validation = labelledPhotos.filter((p) => p.split === 'validation').map(withVector);
  const train = labelledPhotos.filter((p) => p.split !== 'validation').map(withVector);
  const rule = options.rule ?? 'novelty';
  const toVote = queries.map((p) => ({ id: p.id, vector: vectors.get(p.id)!, untrained: untrained.get(p.id) }));
  const fitGaussians = keptGaussians(store, model.config.backboneSpec as BackboneSpec | undefined, labelledPhotos.filter((p) => p.split !== 'validation'));
  const novelty = rule === 'novelty' ? noveltyRule({ validation, train, unsorted: toVote, fitGaussians }, options.keepShare) : null;
  const measured = classThresholds(validation, train, options.keepShare);
  // No validation split yet (never trained or evaluated): the model's own "close match" distance, if it has one.
  const calibration = measured.fallback === Infinity ? { ...measured, fallback: store.modelDistances(model.id)?.threshold ?? Infinity } : measured;
  const classes = store.classes(libraryId);
  const classId = new Map(classes.map((c) => [c.name, c.id]));
  const className = new Map(classes.map((c) => [c.id, c.name]));
  const rejectedNames = store.suggestionRejections.all(libraryId);
  const rejected = new Map(
    queries.map((p) => [p.id, new Set([...(rejectedNames.get(p.relPath) ?? [])].map((name) => classId.get(name)).filter((id) => id !== undefined))]),
  );
  const pathOf = new Map(photos.map((p) => [p.id, p.relPath]));
  const votes = voteClasses(
    toVote,
    references,
    rule === 'global' ? { thresholds: new Map(), fallback: calibration.fallback, rejected } : { ...calibration, novelty, rejected },
  );
  const suggestions: Suggestion[] = votes.map((vote) => ({
    photoId: vote.id,
    path: pathOf.get(vote.id)!,
    className: vote.classId === null ? null : className.get(vote.classId)!,
    nearestClass: vote.nearestClassId === null ? null : className.get(vote.nearestClassId)!,
    confidence: vote.confidence,
    distance: vote.distance,
    support: vote.support.map((s) => ({ photoId: s.id, path: pathOf.get(s.id)!, distance: s.distance })),
    rejected: [...(rejectedNames.get(pathOf.get(vote.id)!) ?? [])].sort(),
    strangeness: vote.strangeness,
  }));
  suggestions.sort((a, b) => b.confidence - a.confidence || a.distance - b.distance || a.path.localeCompare(b.path));
  return { modelId: model.id, modelName: model.name, suggestions, notIndexed: unlabelled.length - queries.length };
}

/** The untrained backbone's features of the photos that have them (L2-normalised), by photo id: empty for a model without a backbone spec. */
function untrainedFeatures(store: Store, spec: BackboneSpec | undefined, photos: PhotoRow[]): Map<number, Float32Array> {
  if (!spec) return new Map();
  const features = store.features(describeSpec(untrainedSpec(spec)), photos.map((p) => p.hash));
  return new Map(photos.flatMap((p) => {
    const vector = features.get(p.hash);
    return vector && vector.every(Number.isFinite) ? [[p.id, normalizeVector(vector)] as const] : [];
  }));
}

/** The class Gaussians last fitted per store, and the training photos (with their untrained features' precision) they were fitted on. */
const fittedGaussians = new WeakMap<Store, { fingerprint: string; gaussians: ClassGaussians | null }>();

/**
 * Fits the untrained features' class Gaussians (most of a suggestion pass's time: a PCA of every
 * training photo's features) once per training split: Sort asks again after every accept or reject,
 * and its training photos have not changed. A label, a split, a photo's content or the features'
 * precision changing fits them again.
 */
export function keptGaussians(store: Store, spec: BackboneSpec | undefined, train: PhotoRow[], fit = fitClassGaussians): (rows: Parameters<typeof fitClassGaussians>[0]) => ClassGaussians | null {
  const key = spec ? describeSpec(untrainedSpec(spec)) : '';
  const fingerprint = createHash('sha256')
    .update(`${key}\n${store.featurePrecision(key) ?? ''}\n`)
    .update(train.map((p) => `${p.id}:${p.classId}:${p.hash}`).join('\n'))
    .digest('hex');
  return (rows) => {
    const kept = fittedGaussians.get(store);
    if (kept?.fingerprint === fingerprint) return kept.gaussians;
    const gaussians = fit(rows);
    fittedGaussians.set(store, { fingerprint, gaussians });
    return gaussians;
  };
}

/** Remembers (or forgets) that a photo is not of a class. */
export function rejectSuggestion(store: Store, libraryId: number, change: { photoId: number; className: string; rejected: boolean }): void {
  if (!Number.isInteger(change?.photoId)) throw invalidInput(`a photo is named by its id, a whole number (got ${describeValue(change?.photoId)})`);
  const photo = store.photo(change.photoId);
  if (!photo || photo.libraryId !== libraryId) throw notFound(`no photo ${change.photoId} in this library`);
  if (typeof change.className !== 'string' || change.className.trim() === '') throw invalidInput('name the class the photo is not of');
  const name = change.className.trim();
  if (!store.classes(libraryId).some((c) => c.name === name)) throw notFound(`no class "${name}" in this library`);
  if (typeof change.rejected !== 'boolean') throw invalidInput('say whether the suggestion is rejected (true) or not (false)');
  const rejections = store.suggestionRejections;
  if (change.rejected) rejections.add(libraryId, photo.relPath, name);
  else rejections.remove(libraryId, photo.relPath, name);
}
