import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import type { Database } from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { checkK } from '../../shared/settings.js';
import { startModuleWorker } from '../common/worker.js';
import { heldCodes, type HeldCodes } from './held-codes.js';
import type { Offload, ScanShare } from './int8-codes.js';

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
  /** The stored vectors of these ids (those it has), read from the file: a page at a time, never the whole table. */
  vectors(ids: number[]): Array<{ id: number; vector: Float32Array }>;
  /** Bytes this index holds in memory (the in-memory codes of a large table; 0 until a search loads them). */
  memoryBytes(): number;
  drop(): void;
}

export interface VectorIndexOptions {
  /** Row count from which knn answers through the int8 companion instead of the exact scan. */
  quantisedFrom?: number;
  /** Let a worker thread scan half of the candidates (default true; the sqlite scan: only for a file, outside a transaction). */
  secondCore?: boolean;
  /**
   * Where the candidates come from: `memory` (default), the companion's codes held in memory and
   * scanned with SIMD; `sqlite`, sqlite-vec's int8 L1 scan of the companion (the earlier engine,
   * kept for the bench's comparison).
   */
  candidateScan?: 'memory' | 'sqlite';
}

/** A statement for search-worker.ts: it answers (id, distance) float64 pairs. */
export interface SqlScan {
  kind: 'sql';
  path: string;
  sql: string;
  args: unknown[];
}
/** A share of the in-memory codes for search-worker.ts: it answers (slot, score) int32 pairs. */
export interface CodesScan {
  kind: 'codes';
  share: ScanShare;
}
/** Handed to search-worker.ts; it answers in `reply`: int32 state and pair count, then the pairs. */
export type ScanRequest = (SqlScan | CodesScan) & { reply: SharedArrayBuffer };
export const SCAN_PENDING = 0;
export const SCAN_DONE = 1;
export const SCAN_FAILED = 2;
export const WORKER_READY = 1;
/** SQLite clamps this to its compile-time maximum (2 GB by default). */
export const MMAP_BYTES = 2 ** 31;

/**
 * Measured with bench/knn.ts (128-d, 2 cores): at 20k rows both paths take ~5 ms, at 30k the
 * quantised one takes 0.7× the exact scan; below, the exact scan also has no candidates to miss.
 */
export const QUANTISED_FROM = 25_000;
/** Candidates per wanted neighbour of the sqlite scan: recall@30 measured 0.998 at 100k and 0.985 at 1M (uniform random data, the hardest case). */
const CANDIDATES_PER_RESULT = 16;
/** Candidates per wanted neighbour of the in-memory scan: int8 L2 orders far closer to float L2 than int8 L1 does. */
const MEMORY_CANDIDATES_PER_RESULT = 4;
/** Bucket 0 of this many is the sample that sets the candidate radius. */
const BUCKETS = 16;
const LAST_BUCKET = BUCKETS - 1;
/** Buckets from here on are scanned by the worker thread. */
const WORKER_BUCKETS_FROM = BUCKETS / 2;
/** Vectors the int8 scale is taken from when the companion is built. */
const SCALE_SAMPLE = 4096;
const BUILD_BATCH = 2048;
/** Far longer than a half scan takes; past it the calling thread scans that half itself. */
const SCAN_TIMEOUT_MS = 10_000;

type Item = { id: number; vector: Float32Array };

const loaded = new WeakSet<Database>();

export function loadVectorExtension(db: Database): void {
  if (loaded.has(db)) return;
  sqliteVec.load(db);
  loaded.add(db);
}

/**
 * Opens (creating if needed) a vec0 table of `dim`-dimensional float vectors keyed by rowid.
 *
 * Small tables are searched exactly. From `quantisedFrom` rows on, an int8 companion table
 * (`<table>_int8`) yields candidates whose exact float distances, read from the main table, decide
 * the answer; the companion is built when the table first reaches that size and kept in step by
 * upsert and remove from then on.
 */
export function openVectorIndex(db: Database, table: string, dim: number, options: VectorIndexOptions = {}): VectorIndex {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new Error(`bad vector table name "${table}"`);
  if (!(Number.isInteger(dim) && dim > 0)) throw new Error(`bad vector dimension ${dim}`);
  const quantisedFrom = options.quantisedFrom ?? QUANTISED_FROM;
  loadVectorExtension(db);
  useMemoryMapping(db);
  db.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS ${table} USING vec0(embedding float[${dim}])`);
  const exact = exactTable(db, table);
  const companion = int8Companion(db, table, dim, exact, options.secondCore ?? true);
  const inMemory = (options.candidateScan ?? 'memory') === 'memory';

  const checkVector = (vector: Float32Array, what: string) => {
    if (vector.length !== dim) throw new Error(`${what} has ${vector.length} values, the index holds ${dim}`);
  };
  const upsertMany = db.transaction((items: Item[]) => {
    for (const { id, vector } of items) checkVector(vector, `vector for ${id}`);
    const mirrored = companion.exists();
    for (const { id, vector } of items) exact.put(id, vector);
    if (mirrored) companion.put(items);
    else if (exact.count() >= quantisedFrom) companion.build();
  });
  const removeMany = db.transaction((ids: number[]) => {
    const mirrored = companion.exists();
    for (const id of ids) exact.remove(id);
    if (mirrored) companion.remove(ids);
  });
  const dropBoth = db.transaction(() => {
    companion.drop();
    db.exec(`DROP TABLE IF EXISTS ${table}`);
  });

  return {
    table,
    dim,
    upsert: (items) => upsertMany(items),
    remove: (ids) => removeMany(ids),
    count: () => exact.count(),
    knn(query, k) {
      checkK(k);
      checkVector(query, 'query');
      const rows = exact.count();
      const candidates = (inMemory ? MEMORY_CANDIDATES_PER_RESULT : CANDIDATES_PER_RESULT) * k;
      // Past a sixteenth of the table, looking candidates up one by one costs more than scanning it all.
      if (rows < quantisedFrom || candidates * BUCKETS > rows) return exact.knn(query, k);
      if (!companion.exists()) {
        if (db.readonly) return exact.knn(query, k);
        db.transaction(() => companion.build())(); // a table filled before the companion existed
      }
      return inMemory ? companion.memoryKnn(query, k, candidates) : companion.knn(query, k, candidates);
    },
    vectors: (ids) => exact.vectors(ids),
    memoryBytes: () => companion.memoryBytes(),
    drop: () => dropBoth(),
  };
}

/**
 * Whole-table scans read every chunk blob, and a vector read inside a chunk walks the blob's
 * overflow pages from its start. Measured at 24,000 rows, without the map: the exact scan 1.15×
 * as long at 128 values, 1.4× at 3,136; the int8 path, which reads its candidates' vectors, 10× at
 * 512 values and 16× at 3,136.
 */
function useMemoryMapping(db: Database): void {
  if ((db.pragma('mmap_size', { simple: true }) as number) < MMAP_BYTES / 2) db.pragma(`mmap_size = ${MMAP_BYTES}`);
}

/**
 * Every page a connection touches through its memory map stays resident in this process until the
 * map is dropped: one pass over a 100,000-photo library's features and vectors held 1.1 GB of them.
 * Setting the size to 0 unmaps the file; the next read maps it again, with nothing touched.
 */
export function dropMappedPages(db: Database): void {
  const size = db.pragma('mmap_size', { simple: true }) as number;
  if (size === 0) return;
  db.pragma('mmap_size = 0');
  db.pragma(`mmap_size = ${size}`);
}

const asBlob = (values: Float32Array | Int8Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength);
const byDistanceThenId = (a: Neighbour, b: Neighbour) => a.distance - b.distance || a.id - b.id;
type DistanceRow = { id: number | bigint; distance: number };
const toNeighbour = (row: DistanceRow): Neighbour => ({ id: Number(row.id), distance: row.distance });

type ExactTable = ReturnType<typeof exactTable>;

function exactTable(db: Database, table: string) {
  const insert = db.prepare(`INSERT INTO ${table}(rowid, embedding) VALUES (?, ?)`);
  const remove = db.prepare(`DELETE FROM ${table} WHERE rowid = ?`);
  // count(*) on the vec0 table itself visits every row (~0.3 s at 1M); its rowid shadow table is a plain b-tree.
  const count = db.prepare(`SELECT count(*) FROM ${table}_rowids`).pluck();
  const ids = db.prepare(`SELECT rowid FROM ${table}_rowids ORDER BY rowid`).pluck();
  const knn = db.prepare(`SELECT rowid AS id, distance FROM ${table} WHERE embedding MATCH ? AND k = ? ORDER BY distance`);
  // CROSS JOIN keeps json_each outside: one vec0 point look-up per id.
  const vectorsOf = db.prepare(`SELECT v.rowid AS id, v.embedding AS embedding FROM json_each(?) AS wanted CROSS JOIN ${table} AS v ON v.rowid = wanted.value`);
  return {
    table,
    put(id: number, vector: Float32Array) {
      remove.run(BigInt(id));
      insert.run(BigInt(id), asBlob(vector));
    },
    remove: (id: number) => remove.run(BigInt(id)),
    count: () => count.get() as number,
    allIds: () => (ids.all() as Array<number | bigint>).map(Number),
    knn: (query: Float32Array, k: number) => (knn.all(asBlob(query), k) as DistanceRow[]).map(toNeighbour).sort(byDistanceThenId),
    vectors(batch: number[]): Item[] {
      const rows = vectorsOf.all(JSON.stringify(batch)) as Array<{ id: number | bigint; embedding: Buffer }>;
      return rows.map(({ id, embedding }) => ({ id: Number(id), vector: new Float32Array(embedding.buffer.slice(embedding.byteOffset, embedding.byteOffset + embedding.byteLength)) }));
    },
  };
}

/** Fibonacci hashing: ids spread evenly over the buckets whatever their pattern. */
const bucketOf = (id: number) => Math.imul(id, 0x9e3779b1) >>> 28;

/**
 * int8 codes under L1 distance: sqlite-vec 0.1.9's int8 L1 kernel sums integers, about 4× faster
 * than its float or int8 L2 kernels (which sum floats one at a time), and L1 order is close enough
 * to L2 order that 16 candidates per neighbour hold the true ones. (Bit codes scan faster still but
 * need about a tenth of a 128-d table as candidates for the same recall.)
 *
 * The companion is partitioned into buckets by id. Bucket 0 is a sample: the L1 radius holding
 * wanted/BUCKETS of its rows holds about `wanted` rows of the whole table, so the other buckets are
 * scanned within that radius, which keeps sqlite-vec's top-k bookkeeping small. Each scan joins its
 * candidates to the main table for their exact distances; this thread and a worker each take half
 * of the buckets.
 *
 * memoryKnn instead scans a copy of the codes held in memory (held-codes.ts: SIMD int8 L2, half on
 * the worker) and looks the exact distances of its candidates up by id. Nothing more is stored: the
 * copy is loaded from the companion on first use and kept in step with it.
 */
function int8Companion(db: Database, table: string, dim: number, exact: ExactTable, secondCore: boolean) {
  const name = `${table}_int8`;
  const scaleTable = `${name}_scale`;
  const exactDistances = (candidates: string) =>
    `SELECT c.id AS id, vec_distance_l2(v.embedding, ?) AS distance, c.l1 AS l1 FROM (${candidates}) AS c CROSS JOIN ${exact.table} AS v ON v.rowid = c.id`;
  const sampleSql = exactDistances(`SELECT rowid AS id, distance AS l1 FROM ${name} WHERE embedding MATCH vec_int8(?) AND k = ? AND bucket = 0`);
  const withinSql = exactDistances(
    `SELECT rowid AS id, distance AS l1 FROM ${name} WHERE embedding MATCH vec_int8(?) AND k = ? AND bucket >= ? AND bucket <= ? AND distance <= ?`,
  );
  const exists = db.prepare('SELECT count(*) FROM sqlite_master WHERE name = ?').pluck();
  let statements: ReturnType<typeof prepare> | undefined;
  let scale = 0;
  let held: HeldCodes | undefined;

  function prepare() {
    return {
      insert: db.prepare(`INSERT INTO ${name}(rowid, bucket, embedding) VALUES (?, ?, vec_int8(?))`),
      remove: db.prepare(`DELETE FROM ${name} WHERE rowid = ?`),
      sample: db.prepare(sampleSql),
      within: db.prepare(withinSql),
      scale: db.prepare(`SELECT scale FROM ${scaleTable}`).pluck(),
      exactOf: db.prepare(
        `SELECT v.rowid AS id, vec_distance_l2(v.embedding, ?) AS distance FROM json_each(?) AS wanted CROSS JOIN ${exact.table} AS v ON v.rowid = wanted.value`,
      ),
    };
  }
  /** Prepared on first use, and again after a build or drop. */
  function use() {
    statements ??= prepare();
    scale ||= statements.scale.get() as number;
    return statements;
  }
  function quantise(vector: Float32Array): Int8Array {
    const code = new Int8Array(dim);
    for (let i = 0; i < dim; i++) code[i] = Math.max(-127, Math.min(127, Math.round(vector[i] * scale)));
    return code;
  }
  function put(items: Item[]) {
    const { insert, remove } = use();
    for (const { id, vector } of items) {
      remove.run(BigInt(id));
      insert.run(BigInt(id), BigInt(bucketOf(id)), asBlob(quantise(vector)));
    }
    held?.touch(items.map((item) => item.id));
  }
  function forget() {
    statements = undefined;
    scale = 0;
    held = undefined;
  }

  return {
    exists: () => (exists.get(name) as number) > 0 && (exists.get(scaleTable) as number) > 0,
    put,
    remove(ids: number[]) {
      const { remove } = use();
      for (const id of ids) remove.run(BigInt(id));
      held?.touch(ids);
    },
    /** From the stored float vectors. The scale (127 / largest |value| of the first vectors) stays fixed; later outliers are clamped. */
    build() {
      const ids = exact.allIds();
      const first = exact.vectors(ids.slice(0, SCALE_SAMPLE));
      const largest = first.reduce((max, { vector }) => vector.reduce((m, v) => Math.max(m, Math.abs(v)), max), 0);
      db.exec(`DROP TABLE IF EXISTS ${name}; DROP TABLE IF EXISTS ${scaleTable};
        CREATE VIRTUAL TABLE ${name} USING vec0(bucket integer partition key, embedding int8[${dim}] distance_metric=l1);
        CREATE TABLE ${scaleTable}(scale REAL NOT NULL)`);
      db.prepare(`INSERT INTO ${scaleTable}(scale) VALUES (?)`).run(largest > 0 ? 127 / largest : 1);
      forget();
      put(first);
      for (let start = SCALE_SAMPLE; start < ids.length; start += BUILD_BATCH) put(exact.vectors(ids.slice(start, start + BUILD_BATCH)));
    },
    knn(query: Float32Array, k: number, wanted: number): Neighbour[] {
      const { sample, within } = use();
      const floats = asBlob(query);
      const code = asBlob(quantise(query));
      const sampled = sample.all(floats, code, Math.ceil(wanted / BUCKETS)) as Array<DistanceRow & { l1: number }>;
      const radius = sampled.length > 0 ? Math.max(...sampled.map((row) => row.l1)) : Number.MAX_VALUE;
      const cap = 4 * wanted;
      const scan = (from: number, to: number) => within.all(floats, code, cap, from, to, radius) as DistanceRow[];
      const found: DistanceRow[] = [...sampled];
      // The worker reads the file, so it sees committed rows only.
      const usable = secondCore && !db.memory && !db.inTransaction;
      const args = [floats, code, cap, WORKER_BUCKETS_FROM, LAST_BUCKET, radius];
      const theirs = usable ? onScanWorker({ kind: 'sql', path: resolve(db.name), sql: withinSql, args }, cap * 2, sqlRows) : undefined;
      if (!theirs) found.push(...scan(1, LAST_BUCKET));
      else {
        found.push(...scan(1, WORKER_BUCKETS_FROM - 1));
        found.push(...(theirs() ?? scan(WORKER_BUCKETS_FROM, LAST_BUCKET)));
      }
      return found.map(toNeighbour).sort(byDistanceThenId).slice(0, k);
    },
    memoryBytes: () => held?.bytes() ?? 0,
    memoryKnn(query: Float32Array, k: number, wanted: number): Neighbour[] {
      use();
      held ??= heldCodes(db, name, dim, exact.count);
      const codes = held.codes();
      const offload: Offload | undefined = secondCore ? (share) => onScanWorker({ kind: 'codes', share }, 2 * share.wanted, (pairs) => Int32Array.from(pairs)) : undefined;
      const candidates = codes.nearest(quantise(query), wanted, offload);
      const rows = use().exactOf.all(asBlob(query), JSON.stringify(candidates.map((c) => c.id))) as DistanceRow[];
      return rows.map(toNeighbour).sort(byDistanceThenId).slice(0, k);
    },
    drop() {
      db.exec(`DROP TABLE IF EXISTS ${name}; DROP TABLE IF EXISTS ${scaleTable}`);
      forget();
    },
  };
}

interface ScanWorker {
  worker: Worker;
  /** search-worker.ts stores WORKER_READY here once it can take requests. */
  ready: Int32Array;
}
let scanWorker: ScanWorker | undefined;
/**
 * Set when the worker could not start, died or missed a deadline: from then on this thread scans
 * alone. (A worker that cannot load would otherwise cost every large knn a full SCAN_TIMEOUT_MS.)
 */
let scanWorkerRetired = false;

function startScanWorker(): ScanWorker {
  const ready = new Int32Array(new SharedArrayBuffer(4));
  const worker = startModuleWorker(import.meta.url, 'search-worker', { workerData: { ready } });
  worker.unref(); // idle, it must not keep the process alive
  worker.on('error', retireScanWorker).on('exit', retireScanWorker);
  return { worker, ready };
}

function retireScanWorker(): void {
  scanWorkerRetired = true;
  void scanWorker?.worker.terminate();
  scanWorker = undefined;
}

/** The worker if it is ready; the first call starts it, and until it is ready callers scan alone rather than wait. */
function readyScanWorker(): Worker | undefined {
  if (scanWorkerRetired) return undefined;
  try {
    scanWorker ??= startScanWorker();
  } catch {
    retireScanWorker(); // no worker threads here
    return undefined;
  }
  return Atomics.load(scanWorker.ready, 0) === WORKER_READY ? scanWorker.worker : undefined;
}

/**
 * Starts the second-core worker and resolves true once it takes requests (false if it cannot run
 * here), so that the first large knn does not scan alone. Optional: knn starts it by itself.
 */
export async function warmScanWorker(timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!readyScanWorker() && !scanWorkerRetired && Date.now() < deadline) await sleep(5);
  return readyScanWorker() !== undefined;
}

/** (id, distance) float64 pairs from the worker's SELECT. */
const sqlRows = (pairs: Float64Array): DistanceRow[] => Array.from({ length: pairs.length / 2 }, (_, i) => ({ id: pairs[2 * i], distance: pairs[2 * i + 1] }));

/**
 * Starts a scan on a ready worker, with room for `values` numbers of the pairs it answers (float64
 * for a SELECT, int32 for codes); the function returned waits for them, decoded (undefined if it failed).
 */
function onScanWorker<T, P extends Float64Array | Int32Array>(
  request: SqlScan | CodesScan,
  values: number,
  decode: (pairs: P) => T,
): (() => T | undefined) | undefined {
  const worker = readyScanWorker();
  if (!worker) return undefined;
  const wide = request.kind === 'sql';
  const reply = new SharedArrayBuffer(8 + (wide ? 8 : 4) * values);
  worker.postMessage({ ...request, reply } satisfies ScanRequest);
  return () => {
    const state = new Int32Array(reply, 0, 2);
    if (Atomics.wait(state, 0, SCAN_PENDING, SCAN_TIMEOUT_MS) === 'timed-out') {
      retireScanWorker();
      return undefined;
    }
    if (Atomics.load(state, 0) !== SCAN_DONE) return undefined;
    return decode((wide ? new Float64Array(reply, 8, 2 * state[1]) : new Int32Array(reply, 8, 2 * state[1])) as P);
  };
}
