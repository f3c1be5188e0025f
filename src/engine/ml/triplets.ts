import { createRng, randomInt } from '../common/rng.js';
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
