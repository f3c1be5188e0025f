/**
 * A class for photos without one, from their nearest labelled photos under a model: a vote of the k
 * nearest, and "none of your classes" when the photo is too unlike the voted class (open set: a class
 * never trained on), judged by noveltyRule.
 */
import { NEIGHBOURS, fitClassGaussians, unsortedNeighbours, type ClassGaussians } from './novelty.js';

export interface LabelledVector {
  id: number;
  classId: number;
  vector: Float32Array;
}

export interface ClassVote {
  id: number;
  /** The class the vote gives, or null: none of the classes is close. */
  classId: number | null;
  /** The voted class even when it is too far (null only without labelled photos). */
  nearestClassId: number | null;
  /** Share of the k nearest labelled photos in the voted class, 0..1 (0 when none). */
  confidence: number;
  /** Distance to the nearest labelled photo of the voted class. */
  distance: number;
  /** The nearest labelled photos of the voted class, nearest first. */
  support: Array<{ id: number; distance: number }>;
  /** What the novelty rule measured (null when a plain distance threshold decided). */
  strangeness: Strangeness | null;
}

/**
 * How unusual a photo is for its voted class, each as the share of held-out labelled photos (the
 * validation split) that are more usual for their own class than it is: by its distance to the class
 * under the model, and by its distance to every class in the untrained features (null without them).
 */
export interface Strangeness {
  model: number;
  untrained: number | null;
  /**
   * Of its NEIGHBOURS nearest photos in the untrained features, how many are unsorted, and how many are
   * on average for the labelled photos of its class (null without untrained features).
   */
  unsorted: { count: number; usual: number; of: number } | null;
}

/** Decides, for a photo's voted class and distance to it, whether the class is too far to suggest. */
export interface NoveltyRule {
  judge(query: VoteQuery, classId: number, distance: number): { far: boolean; strangeness: Strangeness };
}

/** Neighbours that vote; with 10 a single odd neighbour moves the confidence by 0.1 only. */
export const VOTERS = 10;
/** Supporting photos shown beside a suggestion. */
export const SUPPORT = 3;

export interface VoteOptions {
  /** Past this distance to its nearest photo, a class is not close (per class; `fallback` for the others). */
  thresholds: Map<number, number>;
  fallback: number;
  /** When given, decides instead of the thresholds. */
  novelty?: NoveltyRule | null;
  /** Classes the person said a photo is not (by photo id). */
  rejected?: Map<number, Set<number>>;
  voters?: number;
}

function distance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += d * d;
  }
  return Math.sqrt(sum);
}

type Hit = { ref: LabelledVector; distance: number };
const nearerFirst = (a: Hit, b: Hit) => a.distance - b.distance || a.ref.id - b.ref.id;

/** Puts `hit` into `list` (nearest first) if it is among the `limit` nearest; no full sort per query. */
function keepNearest(list: Hit[], hit: Hit, limit: number): void {
  if (list.length === limit && nearerFirst(hit, list[limit - 1]) >= 0) return;
  let at = list.length;
  while (at > 0 && nearerFirst(hit, list[at - 1]) < 0) at--;
  list.splice(at, 0, hit);
  if (list.length > limit) list.pop();
}

/**
 * One pass over the references: the `overall` nearest, and the `perClass` nearest of each class,
 * nearest first (ties by id), the references it must skip left out.
 */
function nearest(query: Float32Array, references: LabelledVector[], skip: (ref: LabelledVector) => boolean, overall: number, perClass: number) {
  const first: Hit[] = [];
  const byClass = new Map<number, Hit[]>();
  for (const ref of references) {
    if (skip(ref)) continue;
    const hit = { ref, distance: distance(query, ref.vector) };
    keepNearest(first, hit, overall);
    let ofClass = byClass.get(ref.classId);
    if (!ofClass) byClass.set(ref.classId, (ofClass = []));
    keepNearest(ofClass, hit, perClass);
  }
  return { first, byClass };
}

/** A photo to vote on: its vector under the model, and its untrained features where the novelty rule uses them. */
export interface VoteQuery {
  id: number;
  vector: Float32Array;
  untrained?: Float32Array;
}

export function voteClasses(queries: VoteQuery[], references: LabelledVector[], options: VoteOptions): ClassVote[] {
  const voters = options.voters ?? VOTERS;
  return queries.map(({ id, vector, untrained }) => {
    const rejected = options.rejected?.get(id);
    const { first, byClass } = nearest(vector, references, (ref) => ref.id === id || (rejected?.has(ref.classId) ?? false), voters, SUPPORT);
    const votes = new Map<number, number>();
    for (const { ref } of first) votes.set(ref.classId, (votes.get(ref.classId) ?? 0) + 1);
    // Most votes; a tie goes to the class of the nearer photo (first is nearest first).
    let best: number | null = null;
    for (const { ref } of first) if (best === null || votes.get(ref.classId)! > votes.get(best)!) best = ref.classId;
    if (best === null) return { id, classId: null, nearestClassId: null, confidence: 0, distance: Infinity, support: [], strangeness: null };
    const ofClass = byClass.get(best)!;
    const closest = ofClass[0].distance;
    const verdict = options.novelty?.judge({ id, vector, untrained }, best, closest);
    const close = verdict ? !verdict.far : closest <= (options.thresholds.get(best) ?? options.fallback);
    return {
      id,
      classId: close ? best : null,
      nearestClassId: best,
      confidence: close ? votes.get(best)! / first.length : 0,
      distance: closest,
      support: ofClass.map(({ ref, distance }) => ({ id: ref.id, distance })),
      strangeness: verdict?.strangeness ?? null,
    };
  });
}

/**
 * Share of the validation photos whose verdict keeps them in their own class. Measured on flowers17
 * (bench suggest, daisy and tigerlily never trained on; seed 1 / seed 2): 0.95 says "none" for
 * 0.925 / 0.912 of the unseen classes' photos and 0.033 / 0.046 of the known ones, and suggests a class
 * for 0.956 / 0.923 of a closed set, right for 0.962 / 0.960 (0.984 / 0.979 of those at 90% confidence
 * or more). 0.93: 0.925 / 0.931 and 0.046 / 0.063, closed 0.972 / 0.968; 0.9: 0.950 / 0.963 and
 * 0.058 / 0.083, closed 0.976 / 0.975. The model's distance alone (per class, 0.9): 0.713 / 0.450 and
 * 0.075 / 0.067.
 */
export const KEEP_SHARE = 0.95;

/** A labelled photo with its untrained features, where the novelty rule has them. */
export interface LabelledPhoto extends LabelledVector {
  untrained?: Float32Array;
}

/** Distance from a photo to the nearest training photo of its own class (undefined when the class has none). */
function nearestOwn(photo: LabelledVector, train: LabelledVector[]): number | undefined {
  return nearest(photo.vector, train, (ref) => ref.classId !== photo.classId, 1, 1).first[0]?.distance;
}

/**
 * Per class, how far a photo of it that was not trained on lies from its nearest trained photo of it:
 * measured on the validation split, the threshold keeps KEEP_SHARE of them. Few validation photos per
 * class make a class's own quantile noisy, so each class's median is scaled by the quantile of
 * distance/median pooled over all classes. Classes without validation photos use `fallback`.
 */
export function classThresholds(validation: LabelledVector[], train: LabelledVector[], keepShare = KEEP_SHARE): { thresholds: Map<number, number>; fallback: number } {
  const byClass = new Map<number, number[]>();
  for (const photo of validation) {
    const distance = nearestOwn(photo, train);
    if (distance !== undefined) byClass.set(photo.classId, [...(byClass.get(photo.classId) ?? []), distance]);
  }
  const medians = new Map([...byClass].map(([classId, distances]) => [classId, quantile(distances, 0.5)]));
  const ratios = [...byClass].flatMap(([classId, distances]) => distances.map((d) => d / (medians.get(classId) || 1)));
  const all = [...byClass.values()].flat();
  if (all.length === 0) return { thresholds: new Map(), fallback: Infinity };
  const scale = quantile(ratios, keepShare);
  return { thresholds: new Map([...medians].map(([classId, median]) => [classId, median * scale])), fallback: quantile(all, keepShare) };
}

/** Validation photos' worth of weight the median of all classes has in each class's median distance. */
const SHRINK_TOWARD_ALL = 5;

/** The photos a novelty rule is calibrated on and judges among. */
export interface NoveltyPhotos {
  /** Labelled photos the model did not train on. */
  validation: LabelledPhoto[];
  /** Labelled photos it trained on. */
  train: LabelledPhoto[];
  /** The photos without a class (the ones it judges). */
  unsorted: VoteQuery[];
  /** Fits the class Gaussians of the untrained features (default fitClassGaussians; the caller may keep them). */
  fitGaussians?: (train: Array<{ classId: number; vector: Float32Array }>) => ClassGaussians | null;
}

/**
 * "None of your classes", judged on three kinds of evidence, against the validation split (labelled
 * photos the model did not train on):
 *   model: the distance to the nearest photo of the voted class under the model, over that class's
 *     median for validation photos (a spread-out class is allowed farther);
 *   untrained: the relative Mahalanobis distance to the classes in the untrained features (novelty.ts),
 *     where training has not pulled unseen kinds into the known clusters;
 *   unsorted: how many of its nearest photos (untrained features) are unsorted, against how many are
 *     for the voted class's labelled photos: a kind with no class sits in the unsorted pile as a group.
 *     Compared per class, so a class whose photos are mostly still unsorted does not look new for it.
 * Each becomes a p (the share of validation photos at least as strange; for the unsorted count, the
 * binomial chance of so many at the class's usual rate), and the photo is "none" when
 * −Σ ln p (Fisher's combination) is past the keepShare quantile of the validation photos' own.
 * Measured on flowers17 (bench suggest): see KEEP_SHARE. Without untrained features it judges on the
 * model's distance alone. Null without validation photos (nothing to calibrate on).
 */
export function noveltyRule(photos: NoveltyPhotos, keepShare = KEEP_SHARE): NoveltyRule | null {
  const { validation, train } = photos;
  const heldOut = validation.flatMap((photo) => {
    const distance = nearestOwn(photo, train);
    return distance === undefined ? [] : [{ photo, distance }];
  });
  if (heldOut.length === 0) return null;
  const byClass = new Map<number, number[]>();
  for (const { photo, distance } of heldOut) byClass.set(photo.classId, [...(byClass.get(photo.classId) ?? []), distance]);
  const anyMedian = quantile(heldOut.map((h) => h.distance), 0.5);
  // A class's own median from few validation photos is noisy: shrunk toward the median of all.
  const medians = new Map([...byClass].map(([classId, distances]) => [classId, (quantile(distances, 0.5) * distances.length + anyMedian * SHRINK_TOWARD_ALL) / (distances.length + SHRINK_TOWARD_ALL)]));
  const ratio = (classId: number, distance: number) => distance / ((medians.get(classId) ?? anyMedian) || 1);
  const untrained = untrainedEvidence(photos);
  const scoreOf = (untrainedVector: Float32Array | undefined, id: number, classId: number) => ({
    mahalanobis: untrained && untrainedVector ? untrained.gaussians.score(untrainedVector) : null,
    unsorted: untrained?.counts.has(id) ? { count: untrained.counts.get(id)!, usual: untrained.usual.get(classId) ?? 0, of: NEIGHBOURS } : null,
  });
  type Scores = { model: number } & ReturnType<typeof scoreOf>;
  const scored: Scores[] = heldOut.map((h) => ({ model: ratio(h.photo.classId, h.distance), ...scoreOf(h.photo.untrained, h.photo.id, h.photo.classId) }));
  const modelScores = scored.map((h) => h.model).sort((a, b) => a - b);
  const mahalanobisScores = scored.flatMap((h) => (h.mahalanobis === null ? [] : [h.mahalanobis])).sort((a, b) => a - b);
  // The unsorted count's p is the binomial chance of that many unsorted neighbours at the class's usual
  // rate (calibrating it on the validation split instead would pool classes that are sorted to different
  // degrees); floored at the smallest p the calibrated kinds can give, so it weighs no more than they can.
  const floor = 1 / (heldOut.length + 1);
  // The rate is smoothed by half a neighbour, so a class with no unsorted neighbours at all does not make one look far.
  const unsortedP = (u: NonNullable<Scores['unsorted']>) => Math.max(floor, binomialTail(u.of, u.count, (u.usual + 0.5) / (u.of + 1)));
  // Evidence a photo lacks (no untrained features) counts as p = 1: it adds nothing.
  const evidence = (s: Scores) =>
    -Math.log(atLeast(modelScores, s.model)) - (s.mahalanobis === null ? 0 : Math.log(atLeast(mahalanobisScores, s.mahalanobis))) - (s.unsorted === null ? 0 : Math.log(unsortedP(s.unsorted)));
  const cut = quantile(scored.map(evidence), keepShare);
  return {
    judge(query, classId, distance) {
      const s = { model: ratio(classId, distance), ...scoreOf(query.untrained, query.id, classId) };
      return { far: evidence(s) > cut, strangeness: { model: below(modelScores, s.model), untrained: s.mahalanobis === null ? null : below(mahalanobisScores, s.mahalanobis), unsorted: s.unsorted } };
    },
  };
}

/**
 * The untrained features' evidence, where every labelled photo has them: the class Gaussians (fitted
 * on the training split), how many of each photo's nearest photos are unsorted (in the Gaussians' PCA
 * space), and per class the mean of that count over its labelled photos.
 */
function untrainedEvidence({ validation, train, unsorted, fitGaussians = fitClassGaussians }: NoveltyPhotos) {
  const labelled = [...train, ...validation];
  if (!labelled.every((p) => p.untrained)) return null;
  const gaussians = fitGaussians(train.map((p) => ({ classId: p.classId, vector: p.untrained! })));
  if (!gaussians) return null;
  const everyone = [
    ...labelled.map((p) => ({ id: p.id, vector: gaussians.project(p.untrained!), unsorted: false })),
    ...unsorted.flatMap((q) => (q.untrained ? [{ id: q.id, vector: gaussians.project(q.untrained), unsorted: true }] : [])),
  ];
  const counts = unsortedNeighbours(everyone);
  const sums = new Map<number, { sum: number; count: number }>();
  for (const p of labelled) {
    const entry = sums.get(p.classId) ?? { sum: 0, count: 0 };
    entry.sum += counts.get(p.id) ?? 0;
    entry.count++;
    sums.set(p.classId, entry);
  }
  return { gaussians, counts, usual: new Map([...sums].map(([classId, { sum, count }]) => [classId, sum / count])) };
}

/** P(X ≥ k) for X ~ Binomial(n, p). */
export function binomialTail(n: number, k: number, p: number): number {
  if (k <= 0 || p >= 1) return 1;
  if (p <= 0) return 0;
  let tail = 0;
  let term = (1 - p) ** n; // P(X = 0), then P(X = i) from P(X = i - 1)
  for (let i = 0; i <= n; i++) {
    if (i >= k) tail += term;
    term = (term * (n - i) * p) / ((i + 1) * (1 - p));
  }
  return Math.min(1, tail);
}

/** (count of sorted values ≥ x, plus one) over (count, plus one): a tail share that is never 0. */
function atLeast(sorted: number[], x: number): number {
  return (sorted.length - firstAtLeast(sorted, x) + 1) / (sorted.length + 1);
}

/** Share of sorted values below x. */
function below(sorted: number[], x: number): number {
  return sorted.length ? firstAtLeast(sorted, x) / sorted.length : 0;
}

function firstAtLeast(sorted: number[], x: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (sorted[mid] < x) low = mid + 1;
    else high = mid;
  }
  return low;
}

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const at = q * (sorted.length - 1);
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
}
