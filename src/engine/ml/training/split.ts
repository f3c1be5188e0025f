import { createHash } from 'node:crypto';
import { createRng, shuffle } from '../../common/rng.js';

export interface LabelledItem {
  id: number;
  classId: number;
}

export interface Split {
  train: number[];
  validation: number[];
}

/**
 * A stratified split: within each class a seeded shuffle, then the first `validationFraction`
 * (at least one photo when the class has two or more) goes to validation.
 * Sorting by id first makes the split independent of the order the items arrive in.
 */
export function stratifiedSplit(items: LabelledItem[], validationFraction: number, seed: number): Split {
  if (!(validationFraction > 0 && validationFraction < 1)) {
    throw new RangeError(`validation fraction must be between 0 and 1 (got ${validationFraction})`);
  }
  const byClass = groupByClass(items);
  const rng = createRng(seed);
  const split: Split = { train: [], validation: [] };
  for (const classId of [...byClass.keys()].sort((a, b) => a - b)) {
    const ids = shuffle(rng, [...byClass.get(classId)!].sort((a, b) => a - b));
    const validationCount = ids.length < 2 ? 0 : Math.max(1, Math.round(ids.length * validationFraction));
    split.validation.push(...ids.slice(0, validationCount));
    split.train.push(...ids.slice(validationCount));
  }
  return split;
}

export function groupByClass(items: LabelledItem[]): Map<number, number[]> {
  const byClass = new Map<number, number[]>();
  for (const item of items) {
    const ids = byClass.get(item.classId);
    if (ids) ids.push(item.id);
    else byClass.set(item.classId, [item.id]);
  }
  return byClass;
}

/**
 * Which of `candidates` go to validation: the `wanted` whose content keys rank first by a seeded hash.
 * It depends only on the photos' content and the seed, never on database ids or on what else was
 * opened first, so the same folder gets the same split wherever it is. `keys[i]` is `candidates[i]`'s.
 */
export function chooseByContent(candidates: number[], keys: string[], wanted: number, seed: number): number[] {
  const rank = (key: string) => createHash('sha256').update(`${seed}:${key}`).digest('hex');
  return candidates
    .map((id, i) => ({ id, rank: rank(keys[i]) }))
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : a.id - b.id))
    .slice(0, wanted)
    .map((c) => c.id);
}
