import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from './migrations.js';
import { APPLICATION_ID, Store } from './store.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'lookalike-journal-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the move journal', () => {
  it('carries writes logged before it existed over as batches that can still be undone', () => {
    const path = join(dir, 'old.db');
    // A database made just before the journal's migration (wherever it ends up in the list).
    const journalAt = MIGRATIONS.findIndex((sql) => sql.includes('CREATE TABLE move_batches'));
    const old = new BetterSqlite3(path);
    for (const sql of MIGRATIONS.slice(0, journalAt)) old.exec(sql);
    old.pragma(`application_id = ${APPLICATION_ID}`);
    old.pragma(`user_version = ${journalAt}`);
    old.prepare('INSERT INTO libraries(id, root) VALUES (1, ?)').run('/photos');
    const log = (moves: unknown[]) => JSON.stringify({ moves, createdFolders: ['boxes'] });
    old.prepare('INSERT INTO label_writes(library_id, log, undone_at) VALUES (1, ?, ?)').run(log([{ photoId: 3, from: 'a.jpg', to: 'x/a.jpg', how: 'link', ownLabel: null }]), '2026-01-01');
    old.prepare('INSERT INTO label_writes(library_id, log) VALUES (1, ?)').run(log([{ photoId: 7, from: 'squares/s.jpg', to: 'boxes/s.jpg', how: 'copy', ownLabel: 'boxes' }]));
    old.close();

    const store = Store.open(path);
    try {
      const journal = store.moveJournal;
      const last = journal.last(1, 'write-labels')!;
      expect(last).toMatchObject({ id: 2, state: 'moved', fromRoot: '/photos', toRoot: '/photos', createdFolders: ['boxes'] });
      expect(journal.steps(last.id)).toEqual([{ seq: 0, photoId: 7, from: 'squares/s.jpg', to: 'boxes/s.jpg', size: 0, labelBefore: 'boxes', labelAfter: null, state: 'done' }]);
      expect(journal.batch(1)!.state).toBe('undone');
    } finally {
      store.close();
    }
  });
});
