/**
 * A class for photos without one, from their nearest labelled photos under a model: a vote of the k
 * nearest, and "none of your classes" when even the nearest photo of the voted class is farther than
 * photos of that class usually are from each other (open set: a class never trained on).
 */

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
}

/** Neighbours that vote; with 10 a single odd neighbour moves the confidence by 0.1 only. */
export const VOTERS = 10;
/** Supporting photos shown beside a suggestion. */
export const SUPPORT = 3;

export interface VoteOptions {
  /** Past this distance to its nearest photo, a class is not close (per class; `fallback` for the others). */
  thresholds: Map<number, number>;
  fallback: number;
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

export function voteClasses(queries: Array<{ id: number; vector: Float32Array }>, references: LabelledVector[], options: VoteOptions): ClassVote[] {
  const voters = options.voters ?? VOTERS;
  return queries.map(({ id, vector }) => {
    const rejected = options.rejected?.get(id);
    const { first, byClass } = nearest(vector, references, (ref) => ref.id === id || (rejected?.has(ref.classId) ?? false), voters, SUPPORT);
    const votes = new Map<number, number>();
    for (const { ref } of first) votes.set(ref.classId, (votes.get(ref.classId) ?? 0) + 1);
    // Most votes; a tie goes to the class of the nearer photo (first is nearest first).
    let best: number | null = null;
    for (const { ref } of first) if (best === null || votes.get(ref.classId)! > votes.get(best)!) best = ref.classId;
    if (best === null) return { id, classId: null, nearestClassId: null, confidence: 0, distance: Infinity, support: [] };
    const ofClass = byClass.get(best)!;
    const closest = ofClass[0].distance;
    const close = closest <= (options.thresholds.get(best) ?? options.fallback);
    return {
      id,
      classId: close ? best : null,
      nearestClassId: best,
      confidence: close ? votes.get(best)! / first.length : 0,
      distance: closest,
      support: ofClass.map(({ ref, distance }) => ({ id: ref.id, distance })),
    };
  });
}

/**
 * Share of a class's validation photos whose nearest training photo of the class lies within its
 * threshold. Measured on flowers17 (bench suggest, two classes never trained on): 0.9 says "none" for
 * 0.71 of the unseen classes' photos and 0.075 of the known ones; 0.95 for 0.41 and 0.013; 0.85 for
 * 0.79 and 0.11 (one run; an earlier split gave 0.60/0.05 at 0.9). Per class it beats one threshold
 * for all (0.48/0.046 at 0.9), which says "none" to far fewer photos of unseen classes.
 */
export const KEEP_SHARE = 0.9;

/**
 * Per class, how far a photo of it that was not trained on lies from its nearest trained photo of it:
 * measured on the validation split, the threshold keeps KEEP_SHARE of them. Few validation photos per
 * class make a class's own quantile noisy, so each class's median is scaled by the quantile of
 * distance/median pooled over all classes. Classes without validation photos use `fallback`.
 */
export function classThresholds(validation: LabelledVector[], train: LabelledVector[], keepShare = KEEP_SHARE): { thresholds: Map<number, number>; fallback: number } {
  const byClass = new Map<number, number[]>();
  for (const photo of validation) {
    const [first] = nearest(photo.vector, train, (ref) => ref.classId !== photo.classId, 1, 1).first;
    if (first) byClass.set(photo.classId, [...(byClass.get(photo.classId) ?? []), first.distance]);
  }
  const medians = new Map([...byClass].map(([classId, distances]) => [classId, quantile(distances, 0.5)]));
  const ratios = [...byClass].flatMap(([classId, distances]) => distances.map((d) => d / (medians.get(classId) || 1)));
  const all = [...byClass.values()].flat();
  if (all.length === 0) return { thresholds: new Map(), fallback: Infinity };
  const scale = quantile(ratios, keepShare);
  return { thresholds: new Map([...medians].map(([classId, median]) => [classId, median * scale])), fallback: quantile(all, keepShare) };
}

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const at = q * (sorted.length - 1);
  const low = Math.floor(at);
  return sorted[low] + (sorted[Math.min(low + 1, sorted.length - 1)] - sorted[low]) * (at - low);
}
