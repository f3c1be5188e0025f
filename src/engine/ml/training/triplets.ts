import { createRng, randomInt, shuffle } from '../../common/rng.js';
import type { TripletMethod } from '../../../shared/api.js';
import { squaredDistance } from './retrieval-metrics.js';
import { groupByClass, type LabelledItem } from './split.js';

/** Indices into the caller's item array. */
export interface Triplet {
  query: number;
  positive: number;
  negative: number;
}

export interface TripletPlan {
  triplets: Triplet[];
  /** Classes that cannot give a query and a positive (fewer than 2 photos), by class id. */
  unusableClasses: number[];
}

/**
 * Samples one epoch of triplets ahead of training, so the training loop only reads features.
 * Query: any photo of a class with >= 2 photos; positive: another photo of the same class;
 * negative: a photo of any other class (out-of-class negatives).
 */
export function sampleTriplets(items: LabelledItem[], count: number, seed: number): TripletPlan {
  const indexByClass = groupByClass(items.map((item, index) => ({ id: index, classId: item.classId })));
  const unusableClasses = [...indexByClass].filter(([, members]) => members.length < 2).map(([classId]) => classId);
  const queryPool = [...indexByClass.values()].filter((members) => members.length >= 2).flat();
  if (queryPool.length === 0) throw new Error('no class has 2 or more photos: cannot form a query and a positive');
  if (indexByClass.size < 2) throw new Error('only one class: a negative must come from another class');

  const rng = createRng(seed);
  const triplets: Triplet[] = [];
  for (let t = 0; t < count; t++) {
    const query = queryPool[randomInt(rng, queryPool.length)];
    const classId = items[query].classId;
    const sameClass = indexByClass.get(classId)!;
    let positive = sameClass[randomInt(rng, sameClass.length - 1)];
    if (positive === query) positive = sameClass[sameClass.length - 1];
    let negative: number;
    do negative = randomInt(rng, items.length);
    while (items[negative].classId === classId);
    triplets.push({ query, positive, negative });
  }
  return { triplets, unusableClasses };
}

/**
 * How an epoch's triplets are drawn. 'random': a query per photo (big classes get most triplets),
 * a random out-of-class negative. 'balanced': the class first (each usable class an equal share),
 * then a photo in it; the negative's class first too. 'semi-hard': balanced, then inside each batch
 * the negative is swapped for the nearest out-of-class photo of the batch that is farther than the
 * positive but within the gap (FaceNet's semi-hard negatives). 'in-class': balanced, plus a share of
 * the deep-ranking paper's in-class triplets (p and n from q's own class, p the nearer by the
 * untrained backbone distance) at a smaller gap.
 */
export { TRIPLET_METHODS, type TripletMethod } from '../../../shared/api.js';

/** A triplet with its own gap (in-class triplets use a smaller one). */
export interface GappedTriplet extends Triplet {
  gap: number;
  /** From a person's "not similar" mark: its negative is kept as it is (never mined away). */
  marked?: boolean;
}

/** A result marked "not similar" to a query: positions of the two photos in the training items. */
export interface MarkedPair {
  query: number;
  negative: number;
}

/** Share of in-class triplets in an 'in-class' epoch, and their gap as a fraction of g. */
export const IN_CLASS_SHARE = 0.25;
export const IN_CLASS_GAP_FRACTION = 0.25;

/**
 * Class-balanced sampling: the query's class uniformly among classes with 2+ photos, then a photo
 * of it; the negative's class uniformly among the other classes, then a photo of it.
 */
export function sampleBalancedTriplets(items: LabelledItem[], count: number, seed: number): TripletPlan {
  const indexByClass = groupByClass(items.map((item, index) => ({ id: index, classId: item.classId })));
  const unusableClasses = [...indexByClass].filter(([, members]) => members.length < 2).map(([classId]) => classId);
  const classes = [...indexByClass.keys()].sort((a, b) => a - b);
  const queryClasses = classes.filter((c) => indexByClass.get(c)!.length >= 2);
  if (queryClasses.length === 0) throw new Error('no class has 2 or more photos: cannot form a query and a positive');
  if (classes.length < 2) throw new Error('only one class: a negative must come from another class');

  const rng = createRng(seed);
  const triplets: Triplet[] = [];
  for (let t = 0; t < count; t++) {
    const classId = queryClasses[randomInt(rng, queryClasses.length)];
    const sameClass = indexByClass.get(classId)!;
    const query = sameClass[randomInt(rng, sameClass.length)];
    let positive = sameClass[randomInt(rng, sameClass.length - 1)];
    if (positive === query) positive = sameClass[sameClass.length - 1];
    let negativeClass = classes[randomInt(rng, classes.length - 1)];
    if (negativeClass === classId) negativeClass = classes[classes.length - 1];
    const others = indexByClass.get(negativeClass)!;
    triplets.push({ query, positive, negative: others[randomInt(rng, others.length)] });
  }
  return { triplets, unusableClasses };
}

/**
 * The paper's in-class triplets: q and two other photos of its class; the one nearer to q by
 * `distance` (the untrained backbone's) is the positive. Classes need 3+ photos.
 */
export function sampleInClassTriplets(items: LabelledItem[], count: number, seed: number, distance: (a: number, b: number) => number): Triplet[] {
  const indexByClass = groupByClass(items.map((item, index) => ({ id: index, classId: item.classId })));
  const classes = [...indexByClass.keys()].sort((a, b) => a - b).filter((c) => indexByClass.get(c)!.length >= 3);
  if (classes.length === 0) return [];
  const rng = createRng(seed);
  const triplets: Triplet[] = [];
  for (let t = 0; t < count; t++) {
    const members = indexByClass.get(classes[randomInt(rng, classes.length)])!;
    const picked = shuffle(rng, [...members]).slice(0, 3);
    const [query, a, b] = picked;
    const aNearer = distance(query, a) <= distance(query, b);
    triplets.push({ query, positive: aNearer ? a : b, negative: aNearer ? b : a });
  }
  return triplets;
}

/** One epoch's triplets for a method, each with its gap. Seeded: the same (seed, epoch) gives the same epoch. */
export function planEpoch(
  method: TripletMethod,
  items: LabelledItem[],
  count: number,
  seed: number,
  gap: number,
  distance: (a: number, b: number) => number,
): GappedTriplet[] {
  const withGap = (triplets: Triplet[], g: number) => triplets.map((t) => ({ ...t, gap: g }));
  if (method === 'random') return withGap(sampleTriplets(items, count, seed).triplets, gap);
  if (method !== 'in-class') return withGap(sampleBalancedTriplets(items, count, seed).triplets, gap);
  const inClass = withGap(sampleInClassTriplets(items, Math.round(count * IN_CLASS_SHARE), seed + 1, distance), gap * IN_CLASS_GAP_FRACTION);
  const outOfClass = withGap(sampleBalancedTriplets(items, count - inClass.length, seed).triplets, gap);
  return shuffle(createRng(seed + 2), [...outOfClass, ...inClass]);
}

/**
 * How many of an epoch's triplets come from marked pairs: each mark as many as a training photo gets
 * as a query on average (at least one), but never more than half the epoch, so the labels still lead.
 */
export function markedTripletCount(marks: number, tripletsPerEpoch: number, trainPhotos: number): number {
  if (marks === 0) return 0;
  const perMark = Math.max(1, Math.round(tripletsPerEpoch / trainPhotos));
  return Math.min(marks * perMark, Math.floor(tripletsPerEpoch / 2));
}

/**
 * `count` triplets from marked pairs, the marks taken in turn from a seeded starting point (when the
 * cap leaves fewer triplets than marks, each epoch uses others): q and n as marked, p another photo
 * of q's class drawn at random, at the full gap.
 */
export function markedTriplets(items: LabelledItem[], marks: MarkedPair[], count: number, seed: number, gap: number): GappedTriplet[] {
  if (count === 0 || marks.length === 0) return [];
  const indexByClass = groupByClass(items.map((item, index) => ({ id: index, classId: item.classId })));
  const rng = createRng(seed);
  const start = randomInt(rng, marks.length);
  const triplets: GappedTriplet[] = [];
  for (let t = 0; t < count; t++) {
    const { query, negative } = marks[(start + t) % marks.length];
    const sameClass = indexByClass.get(items[query].classId)!;
    if (sameClass.length < 2) throw new Error(`marked query ${query} is the only photo of its class: it has no positive`);
    if (items[negative].classId === items[query].classId) throw new Error(`marked pair (${query}, ${negative}) is of one class: not a negative`);
    let positive = sameClass[randomInt(rng, sameClass.length - 1)];
    if (positive === query) positive = sameClass[sameClass.length - 1];
    triplets.push({ query, positive, negative, gap, marked: true });
  }
  return triplets;
}

/** An epoch's sampled triplets with the marked ones shuffled in (seeded); without marks, the epoch as it was. */
export function mixInMarked(sampled: GappedTriplet[], marked: GappedTriplet[], seed: number): GappedTriplet[] {
  return marked.length === 0 ? sampled : shuffle(createRng(seed + 3), [...sampled, ...marked]);
}

/**
 * Semi-hard negatives inside a batch: for each triplet, among the batch's photos of another class,
 * the nearest one that is farther from q than p is but within the gap (it still teaches, and is not
 * so hard that it is likely mislabelled or collapses the embedding). Triplets with none keep their
 * sampled negative. `distance` is between batch rows' current embeddings; rows are photo indices.
 */
export function mineSemiHard(batch: GappedTriplet[], classOf: (photo: number) => number, distance: (a: number, b: number) => number): GappedTriplet[] {
  const candidates = [...new Set(batch.flatMap((t) => [t.query, t.positive, t.negative]))];
  return batch.map((t) => {
    const queryClass = classOf(t.query);
    if (t.marked || classOf(t.negative) === queryClass) return t; // a person's mark, or an in-class triplet: keep as planned
    const positiveDistance = distance(t.query, t.positive);
    let best = t.negative;
    let bestDistance = Infinity;
    for (const c of candidates) {
      if (classOf(c) === queryClass) continue;
      const d = distance(t.query, c);
      if (d > positiveDistance && d < positiveDistance + t.gap && d < bestDistance) {
        best = c;
        bestDistance = d;
      }
    }
    return { ...t, negative: best };
  });
}

/**
 * The triplets of each epoch as a trainer draws them, the head's and the blocks' alike: the method's
 * sample for (seed, epoch) with the marked pairs mixed in. `distance` (the untrained features') is
 * read by the in-class method only.
 */
export function epochPlanner(
  method: TripletMethod,
  classIds: number[],
  marks: MarkedPair[],
  settings: { tripletsPerEpoch: number; seed: number; gap: number },
  distance: (a: number, b: number) => number,
): (epoch: number) => GappedTriplet[] {
  const items = classIds.map((classId, id) => ({ id, classId }));
  const fromMarks = markedTripletCount(marks.length, settings.tripletsPerEpoch, items.length);
  return (epoch) => {
    const epochSeed = settings.seed * 1000 + epoch;
    const sampled = planEpoch(method, items, settings.tripletsPerEpoch - fromMarks, epochSeed, settings.gap, distance);
    return mixInMarked(sampled, markedTriplets(items, marks, fromMarks, epochSeed + 5, settings.gap), epochSeed);
  };
}

/** mineSemiHard on the batch's photos as `embed` gives them now (one embedding per row asked, in order). */
export async function mineInBatch(batch: GappedTriplet[], classIds: number[], embed: (rows: number[]) => Promise<Float32Array[]>): Promise<GappedTriplet[]> {
  const rows = [...new Set(batch.flatMap((t) => [t.query, t.positive, t.negative]))];
  const embedded = await embed(rows);
  const embeddingOf = new Map(rows.map((photo, i) => [photo, embedded[i]]));
  return mineSemiHard(batch, (photo) => classIds[photo], (a, b) => Math.sqrt(squaredDistance(embeddingOf.get(a)!, embeddingOf.get(b)!)));
}
