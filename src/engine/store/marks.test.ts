import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from './store.js';
import { scannedPhoto as photo, scannedStore } from './test-fixture.js';

let dir: string;
let store: Store;
let lib: number;
const scan = [photo('cats/a.jpg', 'cats', 'h1'), photo('cats/b.jpg', 'cats', 'h2'), photo('dogs/c.jpg', 'dogs', 'h3'), photo('loose.jpg', null, 'h4')];

let remove: () => void;

beforeEach(() => {
  ({ dir, store, lib, remove } = scannedStore('lookalike-marks-', ['cats', 'dogs'], scan));
});
afterEach(() => {
  store.close();
  remove();
});

describe('marks on a real SQLite file', () => {
  it('adds a mark once, lists it with both photos as they are, and removes it', () => {
    const marks = store.marks;
    expect(marks.add(lib, 'cats/a.jpg', 'dogs/c.jpg')).toBe(true);
    expect(marks.add(lib, 'cats/a.jpg', 'dogs/c.jpg')).toBe(false);
    const [mark] = marks.all(lib);
    const a = store.photoByPath(lib, 'cats/a.jpg')!;
    const c = store.photoByPath(lib, 'dogs/c.jpg')!;
    expect(mark).toMatchObject({ queryPath: 'cats/a.jpg', markedPath: 'dogs/c.jpg', query: { id: a.id, classId: a.classId, split: null }, marked: { id: c.id, classId: c.classId, split: null } });
    expect(mark.createdAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(marks.markedFor(lib, 'cats/a.jpg')).toEqual(['dogs/c.jpg']);
    expect(marks.markedFor(lib, 'dogs/c.jpg')).toEqual([]); // a mark has a direction: query → marked
    expect(marks.remove(lib, 'cats/a.jpg', 'dogs/c.jpg')).toBe(true);
    expect(marks.remove(lib, 'cats/a.jpg', 'dogs/c.jpg')).toBe(false);
    expect(marks.all(lib)).toEqual([]);
  });

  it('keeps marks across a rescan, follows a relabel, and shows a photo that is gone as null until it comes back', () => {
    const marks = store.marks;
    marks.add(lib, 'cats/a.jpg', 'dogs/c.jpg');
    marks.add(lib, 'cats/b.jpg', 'loose.jpg');
    // The same files scanned again, loose.jpg now in class dogs, dogs/c.jpg gone.
    store.syncLibrary(lib, ['cats', 'dogs'], [scan[0], scan[1], photo('loose.jpg', 'dogs', 'h4')]);
    const dogs = store.classes(lib).find((c) => c.name === 'dogs')!.id;
    let rows = marks.all(lib);
    expect(rows.map((r) => [r.queryPath, r.markedPath, r.marked?.classId ?? null])).toEqual([
      ['cats/a.jpg', 'dogs/c.jpg', null],
      ['cats/b.jpg', 'loose.jpg', dogs],
    ]);
    expect(rows[0].marked).toBeNull();
    // Back again (a new photo id): the mark finds it by its path.
    store.syncLibrary(lib, ['cats', 'dogs'], scan);
    rows = marks.all(lib);
    expect(rows[0].marked?.id).toBe(store.photoByPath(lib, 'dogs/c.jpg')!.id);
    store.close();
    store = Store.open(join(dir, 'lookalike.db'));
    expect(store.marks.all(lib)).toHaveLength(2);
  });

  it('keeps marks per library and records how many a run used', () => {
    const marks = store.marks;
    const other = store.upsertLibrary('/other');
    store.syncLibrary(other, ['cats', 'dogs'], scan);
    marks.add(lib, 'cats/a.jpg', 'dogs/c.jpg');
    expect(marks.all(other)).toEqual([]);
    const runId = store.createRun(lib, {});
    expect(marks.runMarks(runId)).toBeNull();
    marks.setRunMarks(runId, 2);
    expect(marks.runMarks(runId)).toBe(2);
  });
});
