import type { LabelAudit, MislabelSuspect, TrainSettings } from '../../../shared/api.js';
import { invalidInput, notFound } from '../../../shared/errors.js';
import { AUDIT_EPOCHS, AUDIT_FOLDS, AUDIT_NEIGHBOURS, resolveSettings, trainabilityProblem } from '../../../shared/settings.js';
import { describeSpec, featureSegments, finalPartOf, trainingBackboneSpec } from '../../ml/backbone/backbone.js';
import { checkFolds, crossFitScores } from '../../ml/curation/cross-fit.js';
import { normalizeVector, type HeadConfig } from '../../ml/training/head.js';
import type { StoredSuspect } from '../../store/label-audit.js';
import type { PhotoRow, Store } from '../../store/store.js';
import { autoTriplets } from '../training/training-modes.js';
import { cacheFeatures } from '../library/feature-cache.js';
import { defaultModel } from '../models/model-lookup.js';
import type { JobContext } from '../job-context.js';

/** Neighbours of another class kept with each suspect (the view shows them beside it). */
const SHOWN_NEIGHBOURS = 5;
/** The most doubtful photos kept for review: past these, a library has more to fix than one list can show. */
export const MAX_SUSPECTS = 1000;

export interface AuditOptions {
  folds?: number;
  epochs?: number;
  /** Settings of the heads; default: those of the library's newest trained model, else the app's. */
  settings?: TrainSettings;
}

/** A full audit's ranking: every labelled photo scored, most suspect first (the stored audit keeps only suspects). */
export interface AuditRanking {
  ranked: Array<{ photoId: number; path: string; className: string; suggestedClass: string; suspicion: number }>;
  seconds: number;
}

/**
 * "Find the mislabelled": every labelled photo scored by cross-fitted heads (ml/cross-fit.ts) on the
 * cached backbone features, so no photo is judged by a head that learnt its label. The suspects (those
 * put in another class) are stored as the library's last audit; the whole ranking is returned.
 */
export async function auditLabels(ctx: JobContext, libraryId: number, options: AuditOptions = {}): Promise<AuditRanking> {
  const started = performance.now();
  const { store } = ctx;
  const problem = trainabilityProblem(store.classes(libraryId));
  if (problem) throw invalidInput(problem.replace(/^training needs/, 'finding mislabelled photos needs'));
  const settings = headSettings(store, libraryId, options.settings);
  const folds = options.folds ?? AUDIT_FOLDS;
  checkFolds(folds);
  const spec = trainingBackboneSpec(settings);
  await cacheFeatures(ctx, libraryId, spec);
  if (ctx.control?.isStopped) throw new Error('stopped before the audit started');
  const { photos, vectors, classIds } = labelledVectors(store, libraryId, describeSpec(spec));
  const inputDim = vectors[0].length;
  const headConfig: HeadConfig = { inputDim, dim: settings.dim, hidden: 0, normalize: true, ...(finalPartOf(spec) ? { centre: { segments: featureSegments(spec, inputDim) } } : {}) };
  const trainCount = Math.round((vectors.length * (folds - 1)) / folds);
  const trainer = { ...settings, epochs: options.epochs ?? AUDIT_EPOCHS, k: AUDIT_NEIGHBOURS, tripletsPerEpoch: autoTriplets(settings, trainCount) };
  ctx.emit?.({ type: 'progress', kind: 'audit', phase: 'Scoring labels', done: 0, total: folds, etaSeconds: null });
  const scores = await crossFitScores({ vectors, classIds }, headConfig, trainer, {
    folds,
    neighbours: AUDIT_NEIGHBOURS,
    seed: settings.seed,
    control: ctx.control,
    onFold: (done, total) => ctx.emit?.({ type: 'progress', kind: 'audit', phase: 'Scoring labels', done, total, etaSeconds: null }),
  });
  if (ctx.control?.isStopped) throw new Error('the audit was stopped before every photo was scored; nothing was kept');
  const className = new Map(store.classes(libraryId).map((c) => [c.id, c.name]));
  const ranked = scores.map((s) => ({ photo: photos[s.index], score: s, suggestedClass: className.get(s.suggestedClassId)! }));
  const suspects: StoredSuspect[] = ranked
    .filter(({ score }) => score.suggestedClassId !== score.classId)
    .slice(0, MAX_SUSPECTS)
    .map(({ photo, score, suggestedClass }) => ({
      path: photo.relPath,
      className: photo.className!,
      suggestedClass,
      suspicion: score.suspicion,
      neighbours: score.neighbours
        .filter((n) => classIds[n.index] !== score.classId)
        .slice(0, SHOWN_NEIGHBOURS)
        .map((n) => ({ path: photos[n.index].relPath, className: photos[n.index].className!, distance: n.distance })),
    }));
  const seconds = (performance.now() - started) / 1000;
  store.labelAudits.save(libraryId, { scored: scores.length, folds, seconds, suspects });
  return {
    ranked: ranked.map(({ photo, score, suggestedClass }) => ({ photoId: photo.id, path: photo.relPath, className: photo.className!, suggestedClass, suspicion: score.suspicion })),
    seconds,
  };
}

/** The last audit as the view shows it: suspects still in the class they were scored in, and not confirmed. */
export function labelAuditState(store: Store, libraryId: number): LabelAudit {
  const audits = store.labelAudits;
  const last = audits.last(libraryId);
  const confirmed = audits.confirmed(libraryId);
  const empty: LabelAudit = { auditedAt: null, scored: 0, folds: 0, seconds: 0, suspects: [], confirmed: 0, changedSince: 0 };
  if (!last) return { ...empty, confirmed: confirmed.size };
  const current = new Map(store.photos(libraryId).map((p) => [p.relPath, p]));
  const stillSo = (path: string, className: string) => current.get(path)?.className === className;
  const suspects: MislabelSuspect[] = last.suspects
    .filter((s) => stillSo(s.path, s.className) && confirmed.get(s.path) !== s.className)
    .map((s) => ({
      photoId: current.get(s.path)!.id,
      path: s.path,
      className: s.className,
      suggestedClass: s.suggestedClass,
      suspicion: s.suspicion,
      neighbours: s.neighbours.filter((n) => stillSo(n.path, n.className)).map((n) => ({ photoId: current.get(n.path)!.id, path: n.path, className: n.className, distance: n.distance })),
    }));
  const seen = new Map(last.suspects.flatMap((s) => [[s.path, s.className] as const, ...s.neighbours.map((n) => [n.path, n.className] as const)]));
  const changedSince = [...seen].filter(([path, className]) => !stillSo(path, className)).length;
  return { auditedAt: last.auditedAt, scored: last.scored, folds: last.folds, seconds: last.seconds, suspects, confirmed: confirmed.size, changedSince };
}

/** "This one is right": kept by path and class, so the photo stays off the list while it keeps that class. */
export function confirmLabel(store: Store, libraryId: number, photoId: number): LabelAudit {
  const photo = Number.isInteger(photoId) ? store.photo(photoId) : null;
  if (!photo || photo.libraryId !== libraryId) throw notFound(`no photo ${String(photoId)} in this library`);
  if (photo.className === null) throw invalidInput(`${photo.relPath} has no class to confirm: give it one first`);
  store.labelAudits.confirm(libraryId, photo.relPath, photo.className);
  return labelAuditState(store, libraryId);
}

/** The heads are trained as the newest trained model was (head only: the audit runs on cached features). */
function headSettings(store: Store, libraryId: number, given?: TrainSettings): TrainSettings {
  const model = defaultModel(store, libraryId);
  const stored = model?.kind === 'trained' ? ((model.config.settings ?? {}) as Partial<TrainSettings>) : {};
  return { ...(given ?? resolveSettings(stored)), fineTune: 'head' };
}

/** Every labelled photo with usable features, once per photo (copies of one file each count). */
function labelledVectors(store: Store, libraryId: number, backboneKey: string): { photos: PhotoRow[]; vectors: Float32Array[]; classIds: number[] } {
  const labelled = store.photos(libraryId).filter((p) => p.classId !== null);
  const features = store.features(backboneKey, labelled.map((p) => p.hash));
  const out = { photos: [] as PhotoRow[], vectors: [] as Float32Array[], classIds: [] as number[] };
  for (const photo of labelled) {
    const vector = features.get(photo.hash);
    if (!vector || !vector.every(Number.isFinite)) continue;
    out.photos.push(photo);
    out.vectors.push(normalizeVector(vector));
    out.classIds.push(photo.classId!);
  }
  if (out.vectors.length === 0) throw invalidInput('no labelled photo could be read by the backbone yet');
  return out;
}

/**
 * The plain ranking the audit is measured against: how many of a photo's `k` nearest neighbours under
 * one stored model (itself left out) carry another class. A model trained on the photo has pulled it
 * toward its label, which is what cross-fitting avoids.
 */
export function neighbourDisagreement(store: Store, libraryId: number, modelId: number, k = AUDIT_NEIGHBOURS): Array<{ photoId: number; share: number }> {
  const model = store.model(modelId);
  if (!model || model.libraryId !== libraryId) throw notFound(`no model ${modelId} in this library`);
  const index = store.vectorIndex(model.id, model.dim);
  const labelled = store.photos(libraryId).filter((p) => p.classId !== null);
  const classOf = new Map(store.photos(libraryId).map((p) => [p.id, p.classId]));
  const out: Array<{ photoId: number; share: number }> = [];
  for (const { id, vector } of index.vectors(labelled.map((p) => p.id))) {
    const hits = index.knn(vector, k + 1).filter((hit) => hit.id !== id).slice(0, k);
    out.push({ photoId: id, share: hits.filter((hit) => classOf.get(hit.id) !== classOf.get(id)).length / Math.max(1, hits.length) });
  }
  return out.sort((a, b) => b.share - a.share || a.photoId - b.photoId);
}
