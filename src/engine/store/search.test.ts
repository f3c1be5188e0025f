import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRng } from '../common/rng.js';
import { heldCodes } from './held-codes.js';
import { openVectorIndex, warmScanWorker, type Neighbour, type VectorIndex } from './search.js';

let dir: string;
let db: Database;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-search-'));
  db = openDb();
});
afterEach(() => {
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const DIM = 16;
function randomItems(count: number, seed: number, dim = DIM) {
  const rng = createRng(seed);
  return Array.from({ length: count }, (_, i) => ({ id: i + 1, vector: Float32Array.from({ length: dim }, () => rng() * 2 - 1) }));
}

function openDb(): Database {
  const opened = new BetterSqlite3(join(dir, 'vectors.db'));
  opened.pragma('journal_mode = WAL');
  return opened;
}

const distance = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((sum, v, j) => sum + (v - b[j]) ** 2, 0));

function bruteForce(items: Array<{ id: number; vector: Float32Array }>, query: Float32Array, k: number): Neighbour[] {
  return items
    .map(({ id, vector }) => ({ id, distance: distance(vector, query) }))
    .sort((a, b) => a.distance - b.distance || a.id - b.id)
    .slice(0, k);
}

const tableExists = (name: string) => (db.prepare('SELECT count(*) FROM sqlite_master WHERE name = ?').pluck().get(name) as number) > 0;
const companionRows = (table: string) => db.prepare(`SELECT count(*) FROM ${table}_int8_rowids`).pluck().get() as number;

function upsertInBatches(index: VectorIndex, items: Array<{ id: number; vector: Float32Array }>, batch = 2500) {
  for (let start = 0; start < items.length; start += batch) index.upsert(items.slice(start, start + batch));
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
    expect(tableExists('vec_test_int8')).toBe(false); // small tables have no companion
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
    expect(() => index.knn(new Float32Array(DIM), 0)).toThrow(/k must be a positive whole number \(got 0\)/);
    expect(() => index.knn(new Float32Array(DIM), -3)).toThrow(/k must be a positive whole number/);
    expect(() => index.knn(new Float32Array(DIM), 1.5)).toThrow(/k must be a positive whole number/);
    expect(() => index.knn(new Float32Array(DIM + 1), 3)).toThrow(/query has 17 values, the index holds 16/);
    expect(() => index.upsert([{ id: 99, vector: new Float32Array(3) }])).toThrow(/vector for 99 has 3 values/);
    expect(index.count()).toBe(5); // the failed batch wrote nothing
    expect(() => openVectorIndex(db, 'bad name; DROP TABLE x', DIM)).toThrow(/bad vector table name/);
    expect(() => openVectorIndex(db, 'vec_other', 0)).toThrow(/bad vector dimension/);
  });

  it('survives closing and reopening the file', () => {
    const items = randomItems(100, 5);
    openVectorIndex(db, 'vec_test', DIM).upsert(items);
    db.close();
    db = openDb();
    const index = openVectorIndex(db, 'vec_test', DIM);
    expect(index.count()).toBe(100);
    expect(index.knn(items[42].vector, 1)[0].id).toBe(43);
  });
});

describe.each(['memory', 'sqlite'] as const)('quantised path (%s candidate scan, int8 companion, exact re-rank)', (candidateScan) => {
  const options = { quantisedFrom: 5000, candidateScan };
  const QDIM = 128;
  const items = randomItems(20_000, 3, QDIM);
  const queries = randomItems(20, 4, QDIM);

  function recallAt30(index: VectorIndex): number {
    let hits = 0;
    for (const query of queries) {
      const truth = new Set(bruteForce(items, query.vector, 30).map((n) => n.id));
      hits += index.knn(query.vector, 30).filter((n) => truth.has(n.id)).length;
    }
    return hits / (30 * queries.length);
  }

  it('builds the companion when the table reaches the threshold, finds >= 95% of the true 30 and returns exact distances', () => {
    const index = openVectorIndex(db, 'vectors', QDIM, options);
    index.upsert(items.slice(0, 4000));
    expect(tableExists('vectors_int8')).toBe(false);
    upsertInBatches(index, items.slice(4000));
    expect(tableExists('vectors_int8')).toBe(true);
    expect(companionRows('vectors')).toBe(20_000);
    expect(recallAt30(index)).toBeGreaterThanOrEqual(0.95);
    const byId = new Map(items.map((item) => [item.id, item.vector]));
    for (const query of queries.slice(0, 5)) {
      const found = index.knn(query.vector, 30);
      expect(found).toHaveLength(30);
      for (const n of found) expect(n.distance).toBeCloseTo(distance(byId.get(n.id)!, query.vector), 4);
      expect(found.map((n) => n.distance)).toEqual([...found.map((n) => n.distance)].sort((a, b) => a - b));
    }
  });

  it('upsert of an existing id replaces it in both tables; remove removes from both', () => {
    const index = openVectorIndex(db, 'vectors', QDIM, options);
    upsertInBatches(index, items);
    const moved = { id: 7, vector: queries[0].vector };
    index.upsert([moved]);
    expect(index.count()).toBe(20_000);
    expect(companionRows('vectors')).toBe(20_000);
    expect(index.knn(queries[0].vector, 30)[0]).toEqual({ id: 7, distance: 0 });

    index.remove([7, 8, 9]);
    expect(index.count()).toBe(19_997);
    expect(companionRows('vectors')).toBe(19_997);
    expect(index.knn(queries[0].vector, 30).map((n) => n.id)).not.toContain(7);
    for (const gone of items.slice(7, 9)) expect(index.knn(gone.vector, 1)[0].distance).toBeGreaterThan(0);
  });

  it('survives closing and reopening the file, and builds a missing companion for an older table', () => {
    const legacy = openVectorIndex(db, 'vectors', QDIM, { quantisedFrom: Infinity });
    upsertInBatches(legacy, items);
    expect(tableExists('vectors_int8')).toBe(false);
    db.close();

    db = openDb();
    const index = openVectorIndex(db, 'vectors', QDIM, options);
    expect(index.count()).toBe(20_000);
    const before = index.knn(queries[1].vector, 30); // builds the companion on first use
    expect(tableExists('vectors_int8')).toBe(true);
    db.close();

    db = openDb();
    const again = openVectorIndex(db, 'vectors', QDIM, options);
    expect(again.knn(queries[1].vector, 30)).toEqual(before);
    expect(recallAt30(again)).toBeGreaterThanOrEqual(0.95);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('gives the same answers with the second core as without it, and inside a transaction sees its own rows', async () => {
    const index = openVectorIndex(db, 'vectors', QDIM, options);
    upsertInBatches(index, items);
    expect(await warmScanWorker()).toBe(true); // else every knn below would scan on this thread alone
    const oneCore = openVectorIndex(db, 'vectors', QDIM, { ...options, secondCore: false });
    for (const query of queries.slice(0, 5)) expect(index.knn(query.vector, 30)).toEqual(oneCore.knn(query.vector, 30));

    db.transaction(() => {
      index.upsert([{ id: 50_000, vector: queries[2].vector }]);
      expect(index.knn(queries[2].vector, 30)[0]).toEqual({ id: 50_000, distance: 0 });
      index.remove([50_000]);
    })();
    expect(index.knn(queries[2].vector, 30).map((n) => n.id)).not.toContain(50_000);
  });

  it('drop removes the table and its companion', () => {
    const index = openVectorIndex(db, 'vectors', QDIM, options);
    upsertInBatches(index, items.slice(0, 6000));
    expect(tableExists('vectors_int8')).toBe(true);
    index.drop();
    expect(tableExists('vectors')).toBe(false);
    expect(tableExists('vectors_int8')).toBe(false);
    expect(tableExists('vectors_int8_scale')).toBe(false);
  });
});

describe('in-memory candidate scan: the codes stay equal to the companion', () => {
  const options = { quantisedFrom: 5000, candidateScan: 'memory' as const };
  const QDIM = 40; // not a multiple of the kernel's 16 lanes
  const items = randomItems(12_000, 5, QDIM);
  const queries = randomItems(10, 6, QDIM);
  const exactNearest = (index: VectorIndex, query: Float32Array) => index.knn(query, 10);

  it('finds what brute force finds, with exact distances, after adds, re-embeds and removes', () => {
    const index = openVectorIndex(db, 'vectors', QDIM, options);
    upsertInBatches(index, items.slice(0, 10_000));
    const live = new Map(items.slice(0, 10_000).map((item) => [item.id, item.vector]));
    const check = () => {
      const all = [...live].map(([id, vector]) => ({ id, vector }));
      for (const { vector } of queries) {
        const expected = bruteForce(all, vector, 10);
        const found = exactNearest(index, vector);
        expect(found.map((n) => n.id)).toEqual(expected.map((n) => n.id));
        found.forEach((n, i) => expect(n.distance).toBeCloseTo(expected[i].distance, 4));
      }
    };
    check(); // loads the codes
    expect(index.memoryBytes()).toBeGreaterThan(10_000 * QDIM);
    upsertInBatches(index, items.slice(10_000)); // past the first capacity: the codes grow
    for (const item of items.slice(10_000)) live.set(item.id, item.vector);
    index.upsert([{ id: 3, vector: queries[0].vector }]); // re-embedded
    live.set(3, queries[0].vector);
    index.remove([5, 6, 11_000]);
    for (const id of [5, 6, 11_000]) live.delete(id);
    check();
    expect(index.knn(queries[0].vector, 1)[0]).toEqual({ id: 3, distance: 0 });
  });

  it('a rolled-back write leaves no trace, and a commit by another connection is seen', () => {
    const index = openVectorIndex(db, 'vectors', QDIM, options);
    upsertInBatches(index, items);
    expect(index.knn(queries[1].vector, 1)[0].distance).toBeGreaterThan(0); // codes loaded
    expect(() =>
      db.transaction(() => {
        index.upsert([{ id: 90_000, vector: queries[1].vector }]);
        index.remove([1, 2]);
        expect(index.knn(queries[1].vector, 1)[0]).toEqual({ id: 90_000, distance: 0 }); // its own write, inside
        throw new Error('rolled back');
      })(),
    ).toThrow('rolled back');
    expect(index.knn(queries[1].vector, 10).map((n) => n.id)).not.toContain(90_000);
    expect(index.knn(items[0].vector, 1)[0]).toEqual({ id: 1, distance: 0 });

    const other = openDb();
    try {
      openVectorIndex(other, 'vectors', QDIM, options).upsert([{ id: 91_000, vector: queries[2].vector }]);
      openVectorIndex(other, 'vectors', QDIM, options).remove([1]);
    } finally {
      other.close();
    }
    expect(index.knn(queries[2].vector, 1)[0]).toEqual({ id: 91_000, distance: 0 });
    expect(index.knn(items[0].vector, 1)[0].id).not.toBe(1);
  });

  it('loads the same codes from sqlite-vec chunks as row by row, and after reopening answers as before', () => {
    const index = openVectorIndex(db, 'vectors', QDIM, options);
    upsertInBatches(index, items);
    index.remove(items.filter((_, i) => i % 3 === 0).map((item) => item.id)); // holes in the chunks
    const before = queries.map((q) => index.knn(q.vector, 30));
    db.close();
    db = openDb();
    const reopened = openVectorIndex(db, 'vectors', QDIM, options);
    expect(queries.map((q) => reopened.knn(q.vector, 30))).toEqual(before);
    const companion = (fromChunks: boolean) => heldCodes(db, 'vectors_int8', QDIM, () => reopened.count(), { fromChunks }).codes();
    const [chunked, rowByRow] = [companion(true), companion(false)];
    expect(chunked.size).toBe(8000);
    const code = Int8Array.from({ length: QDIM }, (_, j) => (j * 7) % 50 - 25);
    expect(chunked.nearest(code, 50)).toEqual(rowByRow.nearest(code, 50));
  });
});
