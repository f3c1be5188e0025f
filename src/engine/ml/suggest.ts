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

/** The labelled photos nearest to `query`, nearest first (ties by id), the ones it must skip left out. */
function nearest(query: Float32Array, references: LabelledVector[], skip: (ref: LabelledVector) => boolean): Array<{ ref: LabelledVector; distance: number }> {
  return references
    .filter((ref) => !skip(ref))
    .map((ref) => ({ ref, distance: distance(query, ref.vector) }))
    .sort((a, b) => a.distance - b.distance || a.ref.id - b.ref.id);
}

export function voteClasses(queries: Array<{ id: number; vector: Float32Array }>, references: LabelledVector[], options: VoteOptions): ClassVote[] {
  const voters = options.voters ?? VOTERS;
  return queries.map(({ id, vector }) => {
    const rejected = options.rejected?.get(id);
    const ranked = nearest(vector, references, (ref) => ref.id === id || (rejected?.has(ref.classId) ?? false));
    const votes = new Map<number, number>();
    for (const { ref } of ranked.slice(0, voters)) votes.set(ref.classId, (votes.get(ref.classId) ?? 0) + 1);
    // Most votes; a tie goes to the class of the nearer photo (ranked is nearest first).
    let best: number | null = null;
    for (const { ref } of ranked.slice(0, voters)) if (best === null || votes.get(ref.classId)! > votes.get(best)!) best = ref.classId;
    if (best === null) return { id, classId: null, nearestClassId: null, confidence: 0, distance: Infinity, support: [] };
    const ofClass = ranked.filter(({ ref }) => ref.classId === best);
    const closest = ofClass[0].distance;
    const close = closest <= (options.thresholds.get(best) ?? options.fallback);
    return {
      id,
      classId: close ? best : null,
      nearestClassId: best,
      confidence: close ? votes.get(best)! / Math.min(voters, ranked.length) : 0,
      distance: closest,
      support: ofClass.slice(0, SUPPORT).map(({ ref, distance }) => ({ id: ref.id, distance })),
    };
  });
}

/**
 * Share of a class's validation photos whose nearest training photo of the class lies within its
 * threshold. Measured on flowers17 (bench suggest, two classes never trained on): 0.9 says "none" for
 * 0.60 of the unseen classes' photos and 0.05 of the known ones; 0.95 for 0.33 and 0.02; 0.85 for 0.69 and 0.08.
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
    const [first] = nearest(photo.vector, train, (ref) => ref.classId !== photo.classId);
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
