import { describe, expect, it } from 'vitest';
import { stratifiedSplit } from './split.js';
import { sampleTriplets } from './triplets.js';

const library = [
  ...Array.from({ length: 10 }, () => ({ classId: 1 })),
  ...Array.from({ length: 5 }, () => ({ classId: 2 })),
  ...Array.from({ length: 7 }, () => ({ classId: 3 })),
  { classId: 4 }, // a class with a single photo: never a query, may be a negative
].map((item, id) => ({ id, ...item }));

describe('triplet sampling', () => {
  it('always pairs a query with another photo of its class and a photo of another class', () => {
    const { triplets } = sampleTriplets(library, 5000, 42);
    expect(triplets).toHaveLength(5000);
    for (const { query, positive, negative } of triplets) {
      expect(positive).not.toBe(query);
      expect(library[positive].classId).toBe(library[query].classId);
      expect(library[negative].classId).not.toBe(library[query].classId);
    }
  });

  it('never uses a single-photo class as a query, says so, and still uses it as a negative', () => {
    const plan = sampleTriplets(library, 5000, 7);
    expect(plan.unusableClasses).toEqual([4]);
    expect(plan.triplets.some((t) => library[t.query].classId === 4)).toBe(false);
    expect(plan.triplets.some((t) => library[t.negative].classId === 4)).toBe(true);
  });

  it('is reproducible from the seed and differs between seeds', () => {
    expect(sampleTriplets(library, 200, 3)).toEqual(sampleTriplets(library, 200, 3));
    expect(sampleTriplets(library, 200, 3).triplets).not.toEqual(sampleTriplets(library, 200, 4).triplets);
  });

  it('draws queries from every usable class and positives across the class', () => {
    const { triplets } = sampleTriplets(library, 5000, 9);
    const queryClasses = new Set(triplets.map((t) => library[t.query].classId));
    expect(queryClasses).toEqual(new Set([1, 2, 3]));
    const positivesOfClass2 = new Set(triplets.filter((t) => library[t.query].classId === 2).map((t) => t.positive));
    expect(positivesOfClass2.size).toBe(5);
  });

  it('refuses a library that cannot form a triplet', () => {
    expect(() => sampleTriplets([{ id: 0, classId: 1 }, { id: 1, classId: 1 }], 10, 1)).toThrow(/only one class/);
    expect(() => sampleTriplets([{ id: 0, classId: 1 }, { id: 1, classId: 2 }], 10, 1)).toThrow(/2 or more photos/);
  });
});

describe('stratified split', () => {
  it('keeps about the fraction of every class for validation, at least one where a class has two', () => {
    const split = stratifiedSplit(library, 0.2, 1);
    const count = (ids: number[], classId: number) => ids.filter((id) => library[id].classId === classId).length;
    expect(count(split.validation, 1)).toBe(2);
    expect(count(split.validation, 2)).toBe(1);
    expect(count(split.validation, 3)).toBe(1);
    expect(count(split.validation, 4)).toBe(0);
    expect(new Set([...split.train, ...split.validation]).size).toBe(library.length);
  });

  it('does not depend on the order items arrive in', () => {
    expect(stratifiedSplit([...library].reverse(), 0.2, 5)).toEqual(stratifiedSplit(library, 0.2, 5));
  });
});
