import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRng } from './rng.js';
import { openVectorIndex } from './search.js';

let dir: string;
let db: Database;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-search-'));
  db = new BetterSqlite3(join(dir, 'vectors.db'));
});
afterEach(() => {
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const DIM = 16;
function randomItems(count: number, seed: number) {
  const rng = createRng(seed);
  return Array.from({ length: count }, (_, i) => ({ id: i + 1, vector: Float32Array.from({ length: DIM }, () => rng() * 2 - 1) }));
}

function bruteForce(items: Array<{ id: number; vector: Float32Array }>, query: Float32Array, k: number) {
  return items
    .map(({ id, vector }) => ({ id, distance: Math.sqrt(vector.reduce((sum, v, j) => sum + (v - query[j]) ** 2, 0)) }))
    .sort((a, b) => a.distance - b.distance || a.id - b.id)
    .slice(0, k);
}

describe('vector index (sqlite-vec) on a real SQLite file', () => {
  it('returns the exact k nearest by Euclidean distance, nearest first', () => {
    const items = randomItems(2000, 1);
    const index = openVectorIndex(db, 'vec_test', DIM);
    index.upsert(items);
    expect(index.count()).toBe(2000);
    for (const query of randomItems(10, 2).map((q) => q.vector)) {
      const hits = index.knn(query, 30);
      const expected = bruteForce(items, query, 30);
      expect(hits.map((h) => h.id)).toEqual(expected.map((e) => e.id));
      hits.forEach((hit, i) => expect(hit.distance).toBeCloseTo(expected[i].distance, 4));
    }
  });

  it('replaces on upsert of an existing id and forgets removed ids', () => {
    const index = openVectorIndex(db, 'vec_test', DIM);
    index.upsert(randomItems(50, 3));
    const target = new Float32Array(DIM).fill(0.5);
    index.upsert([{ id: 7, vector: target }]);
    expect(index.count()).toBe(50);
    expect(index.knn(target, 1)).toEqual([{ id: 7, distance: 0 }]);
    index.remove([7]);
    expect(index.count()).toBe(49);
    expect(index.knn(target, 5).map((h) => h.id)).not.toContain(7);
  });

  it('refuses bad k, wrong dimensions and bad table names with clear errors', () => {
    const index = openVectorIndex(db, 'vec_test', DIM);
    index.upsert(randomItems(5, 4));
    expect(() => index.knn(new Float32Array(DIM), 0)).toThrow(/k must be a positive whole number/);
    expect(() => index.knn(new Float32Array(DIM + 1), 3)).toThrow(/query has 17 values, the index holds 16/);
    expect(() => index.upsert([{ id: 99, vector: new Float32Array(3) }])).toThrow(/vector for 99 has 3 values/);
    expect(index.count()).toBe(5); // the failed batch wrote nothing
    expect(() => openVectorIndex(db, 'bad name; DROP TABLE x', DIM)).toThrow(/bad vector table name/);
  });

  it('survives closing and reopening the file', () => {
    const items = randomItems(100, 5);
    openVectorIndex(db, 'vec_test', DIM).upsert(items);
    db.close();
    db = new BetterSqlite3(join(dir, 'vectors.db'));
    const index = openVectorIndex(db, 'vec_test', DIM);
    expect(index.count()).toBe(100);
    expect(index.knn(items[42].vector, 1)[0].id).toBe(43);
  });
});
