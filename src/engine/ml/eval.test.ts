import { describe, expect, it } from 'vitest';
import { evaluateRetrieval } from './eval.js';

const v = (...values: number[]) => Float32Array.from(values);

describe('retrieval evaluation', () => {
  // Database on a line: class 1 at 0, 1, 2; class 2 at 10, 11.
  const database = { vectors: [v(0), v(1), v(2), v(10), v(11)], classIds: [1, 1, 1, 2, 2] };

  it('computes precision@k and mAP@R by hand', () => {
    // Query of class 1 at 5.4: distances 5.4, 4.4, 3.4 (class 1), 4.6, 5.6 (class 2).
    // Order: 2(c1) 1(c1) 10(c2) 0(c1) 11(c2). P@2 = 2/2; R = 3: hits at ranks 1, 2 -> AP = (1/1 + 2/2) / 3.
    const queries = { vectors: [v(5.4)], classIds: [1] };
    const scores = evaluateRetrieval(queries, database, 2);
    expect(scores.precision_at_k).toBeCloseTo(1, 6);
    expect(scores.map_at_r).toBeCloseTo(2 / 3, 6);
    const at4 = evaluateRetrieval(queries, database, 4);
    expect(at4.precision_at_k).toBeCloseTo(3 / 4, 6);
  });

  it('averages over queries and skips those whose class is absent from the database', () => {
    const queries = { vectors: [v(10.5), v(0.5), v(100)], classIds: [2, 1, 3] };
    const scores = evaluateRetrieval(queries, database, 2);
    expect(scores.queries).toBe(2);
    expect(scores.database).toBe(5);
    expect(scores.precision_at_k).toBeCloseTo(1, 6);
    expect(scores.map_at_r).toBeCloseTo(1, 6);
  });

  it('counts a k larger than the database against the full k', () => {
    const scores = evaluateRetrieval({ vectors: [v(0)], classIds: [2] }, database, 10);
    expect(scores.precision_at_k).toBeCloseTo(2 / 10, 6);
  });

  it('refuses k <= 0', () => {
    expect(() => evaluateRetrieval({ vectors: [v(0)], classIds: [1] }, database, 0)).toThrow(/k must be a positive/);
  });
});
