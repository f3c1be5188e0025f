import { describe, expect, it } from 'vitest';
import { evaluateDetailed, evaluateRetrieval, nearestFirst, PairHistogram, squaredDistance, type LabelledVectors } from './retrieval-metrics.js';
import { createRng } from '../../common/rng.js';

const v = (...values: number[]) => Float32Array.from(values);

describe('retrieval evaluation', () => {
  // Database on a line: class 1 at 0, 1, 2; class 2 at 10, 11.
  const database = { vectors: [v(0), v(1), v(2), v(10), v(11)], classIds: [1, 1, 1, 2, 2] };

  it('computes precision@k and mAP@R by hand', async () => {
    // Query of class 1 at 5.4: distances 5.4, 4.4, 3.4 (class 1), 4.6, 5.6 (class 2).
    // Order: 2(c1) 1(c1) 10(c2) 0(c1) 11(c2). P@2 = 2/2; R = 3: hits at ranks 1, 2 -> AP = (1/1 + 2/2) / 3.
    const queries = { vectors: [v(5.4)], classIds: [1] };
    const scores = await evaluateRetrieval(queries, database, 2);
    expect(scores.precision_at_k).toBeCloseTo(1, 6);
    expect(scores.map_at_r).toBeCloseTo(2 / 3, 6);
    const at4 = await evaluateRetrieval(queries, database, 4);
    expect(at4.precision_at_k).toBeCloseTo(3 / 4, 6);
  });

  it('averages over queries and skips those whose class is absent from the database', async () => {
    const queries = { vectors: [v(10.5), v(0.5), v(100)], classIds: [2, 1, 3] };
    const scores = await evaluateRetrieval(queries, database, 2);
    expect(scores.queries).toBe(2);
    expect(scores.database).toBe(5);
    expect(scores.precision_at_k).toBeCloseTo(1, 6);
    expect(scores.map_at_r).toBeCloseTo(1, 6);
  });

  it('counts a k larger than the database against the full k', async () => {
    const scores = await evaluateRetrieval({ vectors: [v(0)], classIds: [2] }, database, 10);
    expect(scores.precision_at_k).toBeCloseTo(2 / 10, 6);
  });

  it('refuses k <= 0', async () => {
    await expect(evaluateRetrieval({ vectors: [v(0)], classIds: [1] }, database, 0)).rejects.toThrow(/k must be a positive/);
  });
});

describe('detailed evaluation: per query, per class, and what a distance means', () => {
  // Class 1 near 0, class 2 near 1; one class-1 photo sits among class 2.
  const database = { vectors: [v(0), v(0.1), v(0.2), v(0.95), v(1), v(1.05)], classIds: [1, 1, 1, 2, 2, 2] };
  const queries = { vectors: [v(0.05), v(0.98), v(0.9)], classIds: [1, 2, 1] };

  it('scores each query and each class the way the totals are made, and names the class a query is confused with', async () => {
    const detailed = await evaluateDetailed(queries, database, 3);
    expect(detailed.scores).toEqual(await evaluateRetrieval(queries, database, 3));
    const misplaced = detailed.perQuery.find((q) => q.index === 2)!;
    expect(misplaced).toMatchObject({ classId: 1, precision_at_k: 0, other_class_share: 1, confused_with: 2 });
    expect(detailed.perQuery.find((q) => q.index === 0)).toMatchObject({ precision_at_k: 1, other_class_share: 0, confused_with: null });
    const class1 = detailed.perClass.find((c) => c.classId === 1)!;
    expect(class1.queries).toBe(2);
    expect(class1.precision_at_k).toBeCloseTo(0.5, 6);
    const mean = detailed.perQuery.reduce((s, q) => s + q.average_precision, 0) / detailed.perQuery.length;
    expect(mean).toBeCloseTo(detailed.scores.map_at_r, 6);
  });

  it('gives a full sort\'s scores on a few hundred random photos, with ONNX Runtime and with the JavaScript loop', async () => {
    const random = createRng(7);
    const set = (n: number) => ({ vectors: Array.from({ length: n }, () => Float32Array.from({ length: 8 }, random)), classIds: Array.from({ length: n }, () => Math.floor(random() * 5)) });
    const [many, base] = [set(300), set(700)];
    const reference = sortAllScores(many, base, 30);
    for (const runtime of ['onnxruntime', 'js'] as const) {
      const scores = (await evaluateDetailed(many, base, 30, { runtime })).scores;
      expect(scores.queries).toBe(300);
      expect(scores.precision_at_k).toBeCloseTo(reference.precision, 9);
      expect(scores.map_at_r).toBeCloseTo(reference.map, 9);
      expect(await evaluateRetrieval(many, base, 30, { runtime })).toEqual(scores);
    }
  });

  it('puts the no-close-match threshold where same-class pairs separate from other-class pairs, with typical ranges per kind of pair', async () => {
    // Same-class pairs lie within 0.1 of each other, other-class pairs about 0.75 to 1 apart (and the misplaced query's).
    const more = { vectors: [...queries.vectors, v(0.1), v(1.02), v(0.15), v(0.97), v(1.9)], classIds: [...queries.classIds, 1, 2, 1, 2, 2] };
    const { distances } = await evaluateDetailed(more, database, 3);
    expect(distances.threshold!).toBeGreaterThan(0);
    expect(distances.threshold!).toBeLessThan(0.75);
    expect(distances.same_class[0]).toBeLessThan(distances.other_class[0]);
    expect(distances.same_class[1]).toBeLessThan(0.2);
    expect(distances.other_class[1]).toBeGreaterThan(0.7);
    expect(distances.other_class_under!).toBeLessThan(0.2); // the misplaced query's pairs among class 2
    expect(distances.close_match_share).toBeCloseTo(7 / 8, 6); // all but the photo far from everything
  });

  it('with a gap between the classes, takes every same-class pair and no other-class pair (not the median same-class pair)', async () => {
    // As the drawn sample library: one class typically 0.23-0.50 apart, other classes from 1.5.
    const separated = new PairHistogram();
    for (let i = 0; i < 40; i++) separated.add(0.2 + i * 0.008, true); // same class: 0.2 to 0.51
    for (let i = 0; i < 40; i++) separated.add(1.5 + i * 0.005, false); // other classes: 1.5 to 1.7
    const cut = separated.profile();
    expect(cut.threshold!).toBeGreaterThanOrEqual(0.512);
    expect(cut.threshold!).toBeLessThan(0.52); // just past the same-class pairs: an image unlike every class stays beyond it
    expect(cut).toMatchObject({ same_class_under: 1, other_class_under: 0, precision: 1 });
    expect(cut.threshold!).toBeGreaterThan(cut.same_class[1]);
  });

  it('where the kinds overlap, balances the shares on the wrong side; no same-class pairs, no threshold', async () => {
    const mixed = new PairHistogram();
    for (let i = 0; i < 100; i++) mixed.add(0.2 + i * 0.006, true); // same class: 0.2 to 0.8
    for (let i = 0; i < 100; i++) mixed.add(0.6 + i * 0.01, false); // other classes: 0.6 to 1.6
    const cut = mixed.profile();
    expect(cut.threshold!).toBeGreaterThan(0.59);
    expect(cut.threshold!).toBeLessThan(0.81);
    expect(cut.same_class_under! - cut.other_class_under!).toBeGreaterThan(0.75);
    expect(new PairHistogram().profile().threshold).toBeNull();
  });
});

describe('the nearest first, without sorting the rest', () => {
  it('gives the first entries of a full sort by value then index, ties included', () => {
    const random = createRng(3);
    // Values on a coarse grid: many ties, across the cut too.
    const row = Float32Array.from({ length: 5000 }, () => Math.floor(random() * 200) / 10);
    const sorted = Array.from({ length: row.length }, (_, i) => i).sort((a, b) => row[a] - row[b] || a - b);
    const scratch = new Float32Array(row.length);
    for (const count of [1, 30, 777, 1249, 1250, 4999, 5000]) expect([...nearestFirst(row, count, scratch)]).toEqual(sorted.slice(0, count));
    expect([...nearestFirst(new Float32Array(100).fill(1), 10, scratch)]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

/** precision@k and mAP@R the plain way: every distance in float64, every training photo sorted. */
function sortAllScores(queries: LabelledVectors, database: LabelledVectors, k: number): { precision: number; map: number } {
  let [precision, map] = [0, 0];
  queries.vectors.forEach((query, q) => {
    const own = queries.classIds[q];
    const order = database.vectors.map((vector, i) => ({ i, d: squaredDistance(query, vector) })).sort((a, b) => a.d - b.d || a.i - b.i);
    const relevant = database.classIds.filter((c) => c === own).length;
    precision += order.slice(0, k).filter(({ i }) => database.classIds[i] === own).length / k;
    let [hits, sum] = [0, 0];
    order.slice(0, relevant).forEach(({ i }, r) => {
      if (database.classIds[i] === own) sum += ++hits / (r + 1);
    });
    map += sum / relevant;
  });
  return { precision: precision / queries.vectors.length, map: map / queries.vectors.length };
}
