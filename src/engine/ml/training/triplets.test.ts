import { describe, expect, it } from 'vitest';
import { stratifiedSplit } from './split.js';
import { markedTripletCount, markedTriplets, mineSemiHard, mixInMarked, planEpoch, sampleBalancedTriplets, sampleInClassTriplets, sampleTriplets, type GappedTriplet } from './triplets.js';

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

describe('class-balanced, in-class and semi-hard triplets', () => {
  // Uneven: class 1 has 40 photos, class 2 has 4, class 3 has 10.
  const uneven = [...Array.from({ length: 40 }, () => 1), ...Array.from({ length: 4 }, () => 2), ...Array.from({ length: 10 }, () => 3)].map((classId, id) => ({ id, classId }));
  const classOf = (i: number) => uneven[i].classId;

  it('gives every class about the same share of queries and of negatives, whatever its size', () => {
    const share = (picks: number[], classId: number) => picks.filter((i) => classOf(i) === classId).length / picks.length;
    const { triplets } = sampleBalancedTriplets(uneven, 6000, 11);
    for (const classId of [1, 2, 3]) {
      expect(share(triplets.map((t) => t.query), classId)).toBeCloseTo(1 / 3, 1);
      expect(share(triplets.map((t) => t.negative), classId)).toBeCloseTo(1 / 3, 1);
    }
    for (const t of triplets) {
      expect(t.positive).not.toBe(t.query);
      expect(classOf(t.positive)).toBe(classOf(t.query));
      expect(classOf(t.negative)).not.toBe(classOf(t.query));
    }
    // Per photo (today's sampling), the big class takes most queries.
    expect(share(sampleTriplets(uneven, 6000, 11).triplets.map((t) => t.query), 1)).toBeGreaterThan(0.7);
  });

  it('in-class triplets keep q, p, n in one class with p the nearer to q', () => {
    const position = (i: number) => i * 1.5;
    const distance = (a: number, b: number) => Math.abs(position(a) - position(b));
    const triplets = sampleInClassTriplets(uneven, 500, 3, distance);
    expect(triplets).toHaveLength(500);
    for (const t of triplets) {
      expect(new Set([classOf(t.query), classOf(t.positive), classOf(t.negative)]).size).toBe(1);
      expect(distance(t.query, t.positive)).toBeLessThanOrEqual(distance(t.query, t.negative));
    }
  });

  it('an in-class epoch mixes a quarter of in-class triplets at a smaller gap into out-of-class ones, reproducibly', () => {
    const distance = (a: number, b: number) => Math.abs(a - b);
    const epoch = planEpoch('in-class', uneven, 400, 5, 1, distance);
    const inClass = epoch.filter((t) => classOf(t.negative) === classOf(t.query));
    expect(inClass).toHaveLength(100);
    expect(inClass.every((t) => t.gap === 0.25)).toBe(true);
    expect(epoch.filter((t) => t.gap === 1)).toHaveLength(300);
    expect(planEpoch('in-class', uneven, 400, 5, 1, distance)).toEqual(epoch);
  });

  it('semi-hard mining picks the nearest other-class photo farther than the positive and inside the gap', () => {
    // Photos on a line; distance is the gap between positions.
    const position: Record<number, number> = { 0: 0, 1: 0.3, 40: 0.2, 41: 0.5, 42: 0.9, 44: 2.0 };
    const distance = (a: number, b: number) => Math.abs(position[a] - position[b]);
    const batch: GappedTriplet[] = [
      { query: 0, positive: 1, negative: 44, gap: 1 }, // candidates of class 2: 40 (0.2, too hard), 41 (0.5 semi-hard), 42 (0.9 semi-hard), 44 (2.0 too easy)
      { query: 41, positive: 42, negative: 0, gap: 1 },
    ];
    const mined = mineSemiHard(batch, classOf, distance);
    expect(mined[0].negative).toBe(41);
    // For q=41 (p=42 at 0.4), class-1 photos 0 (0.5) and 1 (0.2): 0 is the semi-hard one.
    expect(mined[1].negative).toBe(0);
    // No semi-hard candidate: the sampled negative stays.
    expect(mineSemiHard([{ query: 0, positive: 1, negative: 44, gap: 0.1 }], classOf, distance)[0].negative).toBe(44);
  });
});

describe('triplets from marked pairs', () => {
  const marks = [
    { query: 0, negative: 12 }, // class 1 → class 2
    { query: 15, negative: 3 }, // class 3 → class 1
  ];

  it('gives each mark what a training photo gets, at least one, and never more than half the epoch', () => {
    expect(markedTripletCount(0, 800, 100)).toBe(0);
    expect(markedTripletCount(2, 800, 100)).toBe(16); // 8 per photo
    expect(markedTripletCount(3, 50, 100)).toBe(3); // under one per photo: one each
    expect(markedTripletCount(300, 800, 100)).toBe(400);
  });

  it("keeps q and n as marked, draws p from q's class, takes the marks in turn, and is reproducible", () => {
    const triplets = markedTriplets(library, marks, 40, 9, 1);
    expect(triplets).toHaveLength(40);
    for (const t of triplets) {
      expect(marks).toContainEqual({ query: t.query, negative: t.negative });
      expect(t.positive).not.toBe(t.query);
      expect(library[t.positive].classId).toBe(library[t.query].classId);
      expect(t).toMatchObject({ gap: 1, marked: true });
    }
    expect(triplets.filter((t) => t.query === 0)).toHaveLength(20);
    expect(new Set(triplets.filter((t) => t.query === 0).map((t) => t.positive)).size).toBeGreaterThan(3);
    expect(markedTriplets(library, marks, 40, 9, 1)).toEqual(triplets);
    // Capped below the number of marks: a seed-chosen start, so other epochs use the other marks.
    const firsts = new Set([1, 2, 3, 4, 5, 6, 7, 8].map((seed) => markedTriplets(library, marks, 1, seed, 1)[0].query));
    expect(firsts).toEqual(new Set([0, 15]));
  });

  it('refuses a pair of one class or a query without a positive', () => {
    expect(() => markedTriplets(library, [{ query: 0, negative: 1 }], 1, 1, 1)).toThrow(/of one class/);
    expect(() => markedTriplets(library, [{ query: 22, negative: 0 }], 1, 1, 1)).toThrow(/only photo of its class/);
  });

  it('shuffles marked triplets into the epoch, and leaves an epoch without marks exactly as sampled', () => {
    const sampled = planEpoch('balanced', library, 60, 4, 1, () => 0);
    expect(mixInMarked(sampled, [], 4)).toBe(sampled);
    const mixed = mixInMarked(sampled, markedTriplets(library, marks, 10, 4, 1), 4);
    expect(mixed).toHaveLength(70);
    expect(mixed.filter((t) => t.marked)).toHaveLength(10);
    expect(mixed.slice(60).every((t) => t.marked)).toBe(false);
  });

  it('semi-hard mining never swaps a marked negative', () => {
    const position: Record<number, number> = { 0: 0, 1: 0.3, 12: 2.0, 13: 0.5 };
    const distance = (a: number, b: number) => Math.abs(position[a] - position[b]);
    const classOf = (i: number) => library[i].classId;
    const unmarked: GappedTriplet = { query: 0, positive: 1, negative: 12, gap: 1 };
    expect(mineSemiHard([unmarked, { query: 0, positive: 1, negative: 13, gap: 1 }], classOf, distance)[0].negative).toBe(13);
    expect(mineSemiHard([{ ...unmarked, marked: true }, { query: 0, positive: 1, negative: 13, gap: 1 }], classOf, distance)[0].negative).toBe(12);
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
