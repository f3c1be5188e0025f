import type { Database } from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';

export interface Neighbour {
  id: number;
  /** Euclidean distance (not squared). */
  distance: number;
}

export interface VectorIndex {
  readonly table: string;
  readonly dim: number;
  upsert(items: Array<{ id: number; vector: Float32Array }>): void;
  remove(ids: number[]): void;
  count(): number;
  /** The k nearest stored vectors by Euclidean distance, nearest first (ties by id). */
  knn(query: Float32Array, k: number): Neighbour[];
  drop(): void;
}

const loaded = new WeakSet<Database>();

export function loadVectorExtension(db: Database): void {
  if (loaded.has(db)) return;
  sqliteVec.load(db);
  loaded.add(db);
}

/** Opens (creating if needed) a vec0 table of `dim`-dimensional float vectors keyed by rowid. */
export function openVectorIndex(db: Database, table: string, dim: number): VectorIndex {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new Error(`bad vector table name "${table}"`);
  if (!(Number.isInteger(dim) && dim > 0)) throw new Error(`bad vector dimension ${dim}`);
  loadVectorExtension(db);
  db.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS ${table} USING vec0(embedding float[${dim}])`);
  const insert = db.prepare(`INSERT INTO ${table}(rowid, embedding) VALUES (?, ?)`);
  const remove = db.prepare(`DELETE FROM ${table} WHERE rowid = ?`);
  const count = db.prepare(`SELECT count(*) AS n FROM ${table}`);
  const knn = db.prepare(`SELECT rowid AS id, distance FROM ${table} WHERE embedding MATCH ? AND k = ? ORDER BY distance`);
  const upsertMany = db.transaction((items: Array<{ id: number; vector: Float32Array }>) => {
    for (const { id, vector } of items) {
      if (vector.length !== dim) throw new Error(`vector for ${id} has ${vector.length} values, the index holds ${dim}`);
      remove.run(BigInt(id));
      insert.run(BigInt(id), Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength));
    }
  });
  const removeMany = db.transaction((ids: number[]) => {
    for (const id of ids) remove.run(BigInt(id));
  });
  return {
    table,
    dim,
    upsert: (items) => upsertMany(items),
    remove: (ids) => removeMany(ids),
    count: () => (count.get() as { n: number }).n,
    knn(query, k) {
      if (!(Number.isInteger(k) && k > 0)) throw new RangeError(`k must be a positive whole number (got ${k})`);
      if (query.length !== dim) throw new Error(`query has ${query.length} values, the index holds ${dim}`);
      const rows = knn.all(Buffer.from(query.buffer, query.byteOffset, query.byteLength), k) as Array<{ id: number | bigint; distance: number }>;
      return rows.map((row) => ({ id: Number(row.id), distance: row.distance })).sort((a, b) => a.distance - b.distance || a.id - b.id);
    },
    drop: () => db.exec(`DROP TABLE IF EXISTS ${table}`),
  };
}
