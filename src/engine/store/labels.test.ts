import BetterSqlite3 from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from './migrations.js';
import { APPLICATION_ID, Store } from './store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-label-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('label undo steps (label-undo-steps migration)', () => {
  it('a database from before, with its one step of undo, keeps that step as the first of several', () => {
    const path = join(dir, 'old.db');
    const stepsAt = MIGRATIONS.findIndex((sql) => sql.includes('label_undo_one_step'));
    expect(stepsAt).toBeGreaterThan(0);
    const old = new BetterSqlite3(path);
    for (const sql of MIGRATIONS.slice(0, stepsAt)) old.exec(sql);
    old.pragma(`application_id = ${APPLICATION_ID}`);
    old.pragma(`user_version = ${stepsAt}`);
    const libraryId = Number(old.prepare('INSERT INTO libraries(root) VALUES (?)').run('/photos').lastInsertRowid);
    old.prepare('INSERT INTO label_folders(library_id, folder, class_name) VALUES (?, ?, NULL)').run(libraryId, 'junk');
    old.prepare('INSERT INTO label_undo(library_id, description, restore) VALUES (?, ?, ?)').run(libraryId, 'Excluded folder "junk"', JSON.stringify([{ kind: 'folder', folder: 'junk' }]));
    old.close();

    const store = Store.open(path);
    try {
      const labels = store.labels;
      expect(labels.undoSteps(libraryId)).toEqual(['Excluded folder "junk"']);
      store.transaction(() => labels.change(libraryId, 'Renamed "cats" to "kittens"', [{ kind: 'folder', folder: 'cats', className: 'kittens' }], 5));
      expect(labels.undoSteps(libraryId)).toEqual(['Renamed "cats" to "kittens"', 'Excluded folder "junk"']);
      expect(store.transaction(() => [labels.undo(libraryId), labels.undo(libraryId), labels.undo(libraryId)])).toEqual([
        'Renamed "cats" to "kittens"',
        'Excluded folder "junk"',
        null,
      ]);
      expect(labels.rules(libraryId)).toEqual({ folders: new Map(), photos: new Map() });
    } finally {
      store.close();
    }
  });
});
