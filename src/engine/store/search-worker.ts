/**
 * The second core of a large knn: runs one candidate scan (a SELECT of id, distance) on its own
 * read-only connection to the same database file and writes the rows into the caller's shared
 * buffer, while the calling thread scans the other half. See `onScanWorker` in search.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { MMAP_BYTES, SCAN_DONE, SCAN_FAILED, WORKER_READY, type ScanRequest } from './search.js';

/** Connections close after this long unused, so the file is not held open after the app is done with it. */
const IDLE_MS = 10_000;

const connections = new Map<string, { db: Database; statements: Map<string, Statement> }>();
let idle: NodeJS.Timeout | undefined;

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

parentPort!.on('message', ({ path, sql, args, reply }: ScanRequest) => {
  const state = new Int32Array(reply, 0, 2);
  const pairs = new Float64Array(reply, 8);
  try {
    // Buffers arrive as plain Uint8Arrays, which better-sqlite3 does not bind.
    const bound = args.map((arg) => (arg instanceof Uint8Array ? Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength) : arg));
    const rows = statementFor(path, sql).all(...bound) as Array<[number | bigint, number]>;
    const count = Math.min(rows.length, pairs.length / 2);
    for (let i = 0; i < count; i++) {
      pairs[2 * i] = Number(rows[i][0]);
      pairs[2 * i + 1] = rows[i][1];
    }
    state[1] = count;
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
