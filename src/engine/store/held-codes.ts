import type { Database } from 'better-sqlite3';
import { Int8Codes } from './int8-codes.js';

type CodeRow = { id: number | bigint; code: Buffer };
type ChunkRow = { validity: Buffer; rowids: Buffer; vectors: Buffer };

/** Room for this many times the rows at load, so that the first additions do not copy the codes. */
const HEADROOM = 1.25;

/**
 * The codes of an int8 vec0 table (`companion`, `dim` bytes a row) held in memory for the SIMD scan,
 * kept equal to what this connection reads from the table:
 *  - loaded whole on first use, from sqlite-vec's chunk tables directly (a few hundred rows of
 *    packed codes: about 10× faster than a SELECT of a million rows), or row by row if their layout
 *    is not the one expected;
 *  - ids this connection writes are `touch`ed and read again from the table before the next use,
 *    and once more after the transaction they were read in, so a write rolled back leaves no trace
 *    (codes loaded inside a transaction are loaded again after it);
 *  - a commit by another connection (PRAGMA data_version changes) reloads them whole.
 */
export function heldCodes(db: Database, companion: string, dim: number, rows: () => number, { fromChunks = true } = {}) {
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  const allRows = db.prepare(`SELECT rowid AS id, embedding AS code FROM ${companion}`);
  const rowsOf = db.prepare(`SELECT c.rowid AS id, c.embedding AS code FROM json_each(?) AS wanted CROSS JOIN ${companion} AS c ON c.rowid = wanted.value`);
  let held: { codes: Int8Codes; version: number; provisional: boolean } | undefined;
  const touched = new Set<number>();
  const codeOf = (bytes: Buffer, at = 0) => new Int8Array(bytes.buffer, bytes.byteOffset + at * dim, dim);

  function loadChunks(codes: Int8Codes): boolean {
    let chunks: ChunkRow[];
    try {
      chunks = db
        .prepare(`SELECT c.validity AS validity, c.rowids AS rowids, v.vectors AS vectors FROM ${companion}_chunks AS c JOIN ${companion}_vector_chunks00 AS v ON v.rowid = c.chunk_id`)
        .all() as ChunkRow[];
    } catch {
      return false; // not sqlite-vec 0.1's layout
    }
    let found = 0;
    for (const { validity, rowids, vectors } of chunks) {
      const slots = rowids.byteLength / 8;
      if (vectors.byteLength !== slots * dim || validity.byteLength * 8 < slots) return false;
      const ids = new BigInt64Array(rowids.buffer.slice(rowids.byteOffset, rowids.byteOffset + rowids.byteLength));
      for (let slot = 0; slot < slots; slot++) {
        if (!(validity[slot >> 3] & (1 << (slot & 7)))) continue;
        codes.set(Number(ids[slot]), codeOf(vectors, slot));
        found++;
      }
    }
    return found === rows();
  }

  function load(): Int8Codes {
    touched.clear();
    const expected = Math.ceil(rows() * HEADROOM);
    let codes = new Int8Codes(dim, expected);
    if (!(fromChunks && loadChunks(codes))) {
      codes = new Int8Codes(dim, expected);
      for (const row of allRows.iterate() as Iterable<CodeRow>) codes.set(Number(row.id), codeOf(row.code));
    }
    return codes;
  }

  function refresh(codes: Int8Codes): void {
    const ids = [...touched];
    if (!db.inTransaction) touched.clear();
    const present = new Set<number>();
    for (const row of rowsOf.all(JSON.stringify(ids)) as CodeRow[]) {
      codes.set(Number(row.id), codeOf(row.code));
      present.add(Number(row.id));
    }
    for (const id of ids) if (!present.has(id)) codes.delete(id);
  }

  return {
    /** The codes, brought up to date with the table. */
    codes(): Int8Codes {
      const version = dataVersion.get() as number;
      if (!held || held.version !== version || (held.provisional && !db.inTransaction)) held = { codes: load(), version, provisional: db.inTransaction };
      else if (touched.size > 0) refresh(held.codes);
      return held.codes;
    },
    /** These ids were written (upserted or removed) by this connection. */
    touch(ids: Iterable<number>): void {
      if (held) for (const id of ids) touched.add(id);
    },
    bytes: () => held?.codes.bytes ?? 0,
  };
}

export type HeldCodes = ReturnType<typeof heldCodes>;
