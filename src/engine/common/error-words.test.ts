import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorInWords, formatBytes } from './error-words.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-words-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a call really throws, caught. */
async function thrown(work: () => unknown): Promise<unknown> {
  try {
    await work();
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('system errors in words, naming the file', () => {
  it('SQLite: a full disk and a read-only database name the database and say what happened', async () => {
    const dbPath = join(dir, 'full.db');
    const db = new BetterSqlite3(dbPath);
    db.exec('CREATE TABLE t (x BLOB)');
    db.pragma('max_page_count = 8'); // the disk "fills up" after 8 pages
    const full = await thrown(() => {
      for (let i = 0; i < 100; i++) db.prepare('INSERT INTO t VALUES (?)').run(Buffer.alloc(4096));
    });
    db.close();
    expect(String((full as Error).message)).toBe('database or disk is full');
    expect(errorInWords(full, { dbPath })).toBe(`${dbPath}: the disk is full: the database could not be written (free some space and try again)`);

    const readonly = new BetterSqlite3(dbPath, { readonly: true });
    const refused = await thrown(() => readonly.prepare('INSERT INTO t VALUES (1)').run());
    readonly.close();
    expect((refused as Error).message).toMatch(/readonly/);
    expect(errorInWords(refused, { dbPath })).toBe(`${dbPath}: the database cannot be written (the file or its folder is read-only)`);
  });

  it('errno: a folder where a file was expected, a missing file; no raw codes', async () => {
    const isDir = await thrown(() => readFile(dir));
    expect((isDir as Error).message).toBe('EISDIR: illegal operation on a directory, read');
    expect(errorInWords(isDir, { path: dir })).toBe(`${dir}: is a folder, not a file`);
    const missing = await thrown(() => open(join(dir, 'gone.jpg')));
    expect(errorInWords(missing)).toBe(`${join(dir, 'gone.jpg')}: file not found`);
    expect(errorInWords(new Error('a sentence of ours'))).toBe('a sentence of ours');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GB');
  });
});
