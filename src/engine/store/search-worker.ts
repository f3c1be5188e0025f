/**
 * The second core of a large knn, while the calling thread scans the other half: either the share
 * of the in-memory int8 codes it is handed (scanned with the same SIMD kernel, writing (slot, score)
 * int32 pairs), or one candidate scan (a SELECT of id, distance) on its own read-only connection
 * to the same database file (writing (id, distance) float64 pairs), into the caller's shared
 * buffer. See `onScanWorker` in search.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { kernelCache, scanShare } from './int8-codes.js';
import { MMAP_BYTES, SCAN_DONE, SCAN_FAILED, WORKER_READY, type ScanRequest, type SqlScan } from './search.js';

/** Connections close after this long unused, so the file is not held open after the app is done with it. */
const IDLE_MS = 10_000;

const connections = new Map<string, { db: Database; statements: Map<string, Statement> }>();
let idle: NodeJS.Timeout | undefined;
const kernelFor = kernelCache();

function statementFor(path: string, sql: string): Statement {
  let connection = connections.get(path);
  if (!connection) {
    const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
    sqliteVec.load(db);
    db.pragma(`mmap_size = ${MMAP_BYTES}`);
    connection = { db, statements: new Map() };
    connections.set(path, connection);
  }
  let statement = connection.statements.get(sql);
  if (!statement) {
    statement = connection.db.prepare(sql).raw();
    connection.statements.set(sql, statement);
  }
  return statement;
}

function closeAll(): void {
  for (const { db } of connections.values()) db.close();
  connections.clear();
}

/** Writes a SELECT's (id, distance) rows as float64 pairs after the header; returns how many. */
function sqlScan({ path, sql, args }: SqlScan, reply: SharedArrayBuffer): number {
  const pairs = new Float64Array(reply, 8);
  // Buffers arrive as plain Uint8Arrays, which better-sqlite3 does not bind.
  const bound = args.map((arg) => (arg instanceof Uint8Array ? Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength) : arg));
  const rows = statementFor(path, sql).all(...bound) as Array<[number | bigint, number]>;
  const count = Math.min(rows.length, pairs.length / 2);
  for (let i = 0; i < count; i++) {
    pairs[2 * i] = Number(rows[i][0]);
    pairs[2 * i + 1] = rows[i][1];
  }
  return count;
}

parentPort!.on('message', (request: ScanRequest) => {
  const state = new Int32Array(request.reply, 0, 2);
  try {
    if (request.kind === 'codes') {
      const pairs = scanShare(kernelFor(request.share), request.share);
      new Int32Array(request.reply, 8, pairs.length).set(pairs);
      state[1] = pairs.length / 2;
    } else state[1] = sqlScan(request, request.reply);
    Atomics.store(state, 0, SCAN_DONE);
  } catch {
    closeAll(); // a dropped or rebuilt table: start afresh next time; the caller scans this half itself
    Atomics.store(state, 0, SCAN_FAILED);
  }
  Atomics.notify(state, 0);
  clearTimeout(idle);
  idle = setTimeout(closeAll, IDLE_MS);
});

// Imports done and listening: from now on the caller may hand this thread half of a scan.
const { ready } = workerData as { ready: Int32Array };
Atomics.store(ready, 0, WORKER_READY);
