import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from './migrations.js';
import { APPLICATION_ID, Store, StoreError } from './store.js';

let dir: string;
let dbPath: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-store-'));
  dbPath = join(dir, 'nested', 'lookalike.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const photo = (relPath: string, className: string | null, hash: string, size = 100) => ({ relPath, className, size, mtimeMs: 1000, hash });

describe('store on a real SQLite file', () => {
  it('creates the schema in WAL mode and reopens it', () => {
    const store = Store.open(dbPath);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    const id = store.upsertLibrary('/photos');
    store.close();
    const again = Store.open(dbPath);
    expect(again.findLibrary('/photos')).toBe(id);
    again.close();
    const file = new BetterSqlite3(dbPath, { readonly: true });
    try {
      expect(file.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(file.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      file.close();
    }
  });

  it('syncs a library: adds, relabels, updates changed content and removes what is gone', () => {
    const store = Store.open(dbPath);
    const lib = store.upsertLibrary('/photos');
    expect(store.syncLibrary(lib, ['cats', 'dogs'], [photo('cats/a.jpg', 'cats', 'h1'), photo('dogs/b.jpg', 'dogs', 'h2'), photo('loose.jpg', null, 'h3')])).toEqual({
      added: 3,
      changed: 0,
      removed: 0,
      unchanged: 0,
    });
    expect(store.classes(lib).map((c) => [c.name, c.photoCount])).toEqual([
      ['cats', 1],
      ['dogs', 1],
    ]);
    const result = store.syncLibrary(lib, ['cats', 'dogs'], [photo('cats/a.jpg', 'cats', 'h1-edited', 120), photo('loose.jpg', 'dogs', 'h3')]);
    expect(result).toEqual({ added: 0, changed: 2, removed: 1, unchanged: 0 });
    const rows = store.photos(lib);
    expect(rows.map((r) => [r.relPath, r.className, r.hash])).toEqual([
      ['cats/a.jpg', 'cats', 'h1-edited'],
      ['loose.jpg', 'dogs', 'h3'],
    ]);
    store.close();
  });

  it('keeps photos, and their features, that a scan could not read this time, whole folders included', () => {
    const store = Store.open(dbPath);
    const lib = store.upsertLibrary('/photos');
    store.syncLibrary(lib, ['cats', 'dogs'], [photo('cats/a.jpg', 'cats', 'h1'), photo('cats/deep/b.jpg', 'cats', 'h2'), photo('dogs/c.jpg', 'dogs', 'h3'), photo('dogs/d.jpg', 'dogs', 'h4')]);
    const modelId = store.createModel({ libraryId: lib, name: 'base', kind: 'baseline', backbone: 'bb', backboneDim: 2, dim: 2, config: {}, runId: null });
    store.putEmbeddings(modelId, 2, store.photos(lib).map((p, i) => ({ photoId: p.id, hash: p.hash, vector: Float32Array.from([i, 1]) })));
    // cats/deep could not be listed and dogs/c.jpg not read: only dogs/d.jpg is really gone.
    const result = store.syncLibrary(lib, ['cats', 'dogs'], [photo('cats/a.jpg', 'cats', 'h1')], ['cats/deep/', 'dogs/c.jpg']);
    expect(result).toEqual({ added: 0, changed: 0, removed: 1, unchanged: 1 });
    expect(store.photos(lib).map((r) => r.relPath)).toEqual(['cats/a.jpg', 'cats/deep/b.jpg', 'dogs/c.jpg']);
    expect(store.embeddingCount(modelId)).toBe(3);
    // 'cats/deep/' keeps what is under it, not a sibling that merely starts alike.
    store.syncLibrary(lib, ['cats'], [photo('cats/deepest.jpg', 'cats', 'h5')], ['cats/deep/']);
    expect(store.photos(lib).map((r) => r.relPath)).toEqual(['cats/deep/b.jpg', 'cats/deepest.jpg']);
    store.close();
  });

  it('names the photos embedded under a model, and groups the photos of one content held more than once', () => {
    const store = Store.open(dbPath);
    const lib = store.upsertLibrary('/photos');
    const other = store.upsertLibrary('/other');
    store.syncLibrary(lib, ['cats'], [photo('cats/a.jpg', 'cats', 'h1'), photo('cats/b.jpg', 'cats', 'h2'), photo('a-copy.jpg', null, 'h1'), photo('cats/c.jpg', 'cats', 'h1')]);
    store.syncLibrary(other, [], [photo('h2-elsewhere.jpg', null, 'h2')]);
    const id = (relPath: string) => store.photoByPath(lib, relPath)!.id;
    expect(store.exactCopyGroups(lib).map((group) => group.sort((x, y) => x - y))).toEqual([[id('cats/a.jpg'), id('a-copy.jpg'), id('cats/c.jpg')].sort((x, y) => x - y)]);
    expect(store.exactCopyGroups(other)).toEqual([]);
    const modelId = store.createModel({ libraryId: lib, name: 'base', kind: 'baseline', backbone: 'bb', backboneDim: 2, dim: 2, config: {}, runId: null });
    expect(store.embeddedPhotoIds(modelId)).toEqual([]);
    store.putEmbeddings(modelId, 2, [id('cats/c.jpg'), id('cats/a.jpg')].map((photoId) => ({ photoId, hash: 'h1', vector: Float32Array.from([1, 0]) })));
    expect(store.embeddedPhotoIds(modelId)).toEqual([id('cats/a.jpg'), id('cats/c.jpg')].sort((x, y) => x - y));
    store.close();
  });

  it('splits each class near the fraction, and keeps copies of one photo (same content) on the same side', () => {
    const store = Store.open(dbPath);
    const lib = store.upsertLibrary('/photos');
    const cats = Array.from({ length: 10 }, (_, i) => photo(`cats/${i}.jpg`, 'cats', `h${i}`));
    store.syncLibrary(lib, ['cats'], [...cats, photo('cats/copy-of-0.jpg', 'cats', 'h0'), photo('cats/copy-of-1.jpg', 'cats', 'h1')]);
    // Validation takes the first candidates offered: the copies' originals among them.
    store.assignSplit(lib, 0.2, (_, candidates, wanted) => candidates.slice(0, wanted));
    const splitOf = () => new Map(store.photos(lib).map((p) => [p.relPath, p.split]));
    let split = splitOf();
    expect([...split.values()].filter((s) => s === 'validation')).toHaveLength(4); // 2 of 10 distinct photos, 2 files each
    expect(split.get('cats/copy-of-0.jpg')).toBe(split.get('cats/0.jpg'));
    expect(split.get('cats/copy-of-1.jpg')).toBe(split.get('cats/1.jpg'));
    expect(split.get('cats/0.jpg')).toBe('validation');
    // A copy added later joins its original's side, whatever the chooser would pick.
    store.syncLibrary(lib, ['cats'], [...cats, photo('cats/copy-of-0.jpg', 'cats', 'h0'), photo('cats/copy-of-1.jpg', 'cats', 'h1'), photo('cats/again-0.jpg', 'cats', 'h0')]);
    store.assignSplit(lib, 0.2, () => []);
    split = splitOf();
    expect(split.get('cats/again-0.jpg')).toBe('validation');
    store.close();
  });

  it('caches features by content hash and stores embeddings searchable by Euclidean distance', () => {
    const store = Store.open(dbPath);
    const lib = store.upsertLibrary('/photos');
    store.syncLibrary(lib, ['a', 'b'], [photo('a/1.jpg', 'a', 'h1'), photo('a/2.jpg', 'a', 'h2'), photo('b/3.jpg', 'b', 'h3')]);
    store.putFeatures('bb', [{ hash: 'h1', vector: Float32Array.from([1, 0]) }]);
    expect(store.features('bb', ['h1', 'h2']).get('h1')).toEqual(Float32Array.from([1, 0]));
    expect(store.features('bb', ['h1', 'h2']).has('h2')).toBe(false);

    const modelId = store.createModel({ libraryId: lib, name: 'base', kind: 'baseline', backbone: 'bb', backboneDim: 2, dim: 2, config: {}, runId: null });
    const [p1, p2, p3] = store.photos(lib);
    store.putEmbeddings(modelId, 2, [
      { photoId: p1.id, hash: p1.hash, vector: Float32Array.from([0, 0]) },
      { photoId: p2.id, hash: p2.hash, vector: Float32Array.from([3, 4]) },
      { photoId: p3.id, hash: p3.hash, vector: Float32Array.from([1, 0]) },
    ]);
    const hits = store.vectorIndex(modelId, 2).knn(Float32Array.from([0, 0]), 3);
    expect(hits.map((h) => h.id)).toEqual([p1.id, p3.id, p2.id]);
    expect(hits.map((h) => h.distance)).toEqual([0, 1, 5]);
    expect(store.photosToEmbed(lib, modelId)).toEqual([]);

    // A photo whose content changed needs embedding again; a removed one leaves the index.
    store.syncLibrary(lib, ['a', 'b'], [photo('a/1.jpg', 'a', 'h1-new'), photo('b/3.jpg', 'b', 'h3')]);
    expect(store.photosToEmbed(lib, modelId).map((p) => p.relPath)).toEqual(['a/1.jpg']);
    expect(store.vectorIndex(modelId, 2).knn(Float32Array.from([0, 0]), 3).map((h) => h.id)).not.toContain(p2.id);
    store.close();
  });

  it('records epochs and checkpoints atomically and finds a run to resume', () => {
    const store = Store.open(dbPath);
    const lib = store.upsertLibrary('/photos');
    const settings = { epochs: 3, gap: 1 };
    const run = store.createRun(lib, settings);
    const metrics = { k: 30, queries: 2, database: 8, precision_at_k: 0.5, map_at_r: 0.4 };
    store.saveEpoch(run, { epoch: 1, meanLoss: 0.8, validation: metrics, seconds: 1 }, [{ step: 1, epoch: 1, loss: 0.9 }], Buffer.from('state-1'));
    store.saveEpoch(run, { epoch: 2, meanLoss: 0.6, validation: metrics, seconds: 1 }, [{ step: 2, epoch: 2, loss: 0.7 }], Buffer.from('state-2'));
    expect(store.latestCheckpoint(run)).toMatchObject({ epoch: 2, state: Buffer.from('state-2') });
    expect(store.epochs(run).map((e) => e.meanLoss)).toEqual([0.8, 0.6]);
    expect(store.lossPoints(run).map((p) => p.loss)).toEqual([0.9, 0.7]);
    expect(store.run(run)).toMatchObject({ epochsDone: 2, finalLoss: 0.6, status: 'running' });
    expect(store.resumableRun(lib, settings)?.id).toBe(run);
    expect(store.resumableRun(lib, { ...settings, gap: 2 })).toBeNull();
    store.updateRun(run, { status: 'done', finished: true });
    expect(store.resumableRun(lib, settings)).toBeNull();
    store.close();
  });

  it('numbers runs within their library: the first run of a library opened second is its run 1', () => {
    const store = Store.open(dbPath);
    const sample = store.upsertLibrary('/sample-library');
    const flowers = store.upsertLibrary('/flowers17');
    const first = store.createRun(sample, {});
    const second = store.createRun(flowers, {});
    const third = store.createRun(flowers, { epochs: 2 });
    expect(second).toBeGreaterThan(first);
    expect(store.run(second)?.number).toBe(1);
    expect(store.runs(flowers).map((r) => [r.id, r.number])).toEqual([
      [third, 2],
      [second, 1],
    ]);
    expect(store.runs(sample).map((r) => r.number)).toEqual([1]);
    expect(store.resumableRun(flowers, { epochs: 2 })?.number).toBe(2);
    store.close();
  });

  it('runs a transaction: its value back when it ends, none of its writes when it throws, a nested one as a savepoint', () => {
    const store = Store.open(dbPath);
    expect(store.transaction(() => [store.upsertLibrary('/kept'), store.upsertLibrary('/kept too')])).toHaveLength(2);
    expect(() =>
      store.transaction(() => {
        store.upsertLibrary('/rolled back');
        throw new Error('half way');
      }),
    ).toThrow('half way');
    store.transaction(() => {
      store.upsertLibrary('/outer');
      expect(() =>
        store.transaction(() => {
          store.upsertLibrary('/inner');
          throw new Error('inner only');
        }),
      ).toThrow('inner only');
    });
    expect(store.libraries().map((l) => l.root)).toEqual(['/kept', '/kept too', '/outer']);
    store.close();
  });

  it('refuses a file that is not an SQLite database and leaves it untouched', () => {
    const path = join(dir, 'notes.db');
    writeFileSync(path, 'these are my notes, not a database');
    expect(() => Store.open(path)).toThrow(StoreError);
    expect(() => Store.open(path)).toThrow(/not an SQLite database/);
    expect(readFileSync(path, 'utf8')).toBe('these are my notes, not a database');
  });

  it('refuses a foreign SQLite database and leaves it untouched', () => {
    const path = join(dir, 'other.db');
    const other = new BetterSqlite3(path);
    other.exec('CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL); INSERT INTO invoices(amount) VALUES (12.5)');
    other.close();
    const before = readFileSync(path);
    expect(() => Store.open(path)).toThrow(/not a Lookalike database/);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('migrates an older schema after writing a backup copy, keeping what it held and adding the new tables', () => {
    expect(MIGRATIONS.length).toBeGreaterThan(1); // a file at schema 1 is older than this build
    const path = join(dir, 'old.db');
    const old = new BetterSqlite3(path);
    old.exec(MIGRATIONS[0]);
    old.pragma(`application_id = ${APPLICATION_ID}`);
    old.pragma('user_version = 1');
    old.prepare('INSERT INTO libraries(root) VALUES (?)').run('/photos');
    old.close();
    const tables = (db: { prepare: (sql: string) => { pluck: () => { all: () => unknown[] } } }) =>
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    const store = Store.open(path);
    expect(store.schemaVersion).toBe(MIGRATIONS.length);
    expect(store.findLibrary('/photos')).not.toBeNull();
    store.close();
    const file = new BetterSqlite3(path, { readonly: true });
    const upgraded = tables(file);
    file.close();
    // The backup is the file as it was: schema 1, its row, none of the later tables.
    const backup = new BetterSqlite3(`${path}.schema-v1.bak`, { readonly: true });
    try {
      expect(backup.pragma('user_version', { simple: true })).toBe(1);
      expect(backup.prepare('SELECT root FROM libraries').pluck().all()).toEqual(['/photos']);
      const before = tables(backup);
      const added = upgraded.filter((name) => !before.includes(name));
      expect(added.length).toBeGreaterThan(0);
      for (const sql of MIGRATIONS.slice(1)) for (const [, name] of sql.matchAll(/CREATE TABLE (\w+)/g)) expect(added).toContain(name);
    } finally {
      backup.close();
    }
  });
});

