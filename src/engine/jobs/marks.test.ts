import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../shared/errors.js';
import { Store } from '../store/store.js';
import { markedPairsForTraining, markNotSimilar, marksState } from './marks.js';

let dir: string;
let store: Store;
let lib: number;
const photo = (relPath: string, className: string | null) => ({ relPath, className, size: 100, mtimeMs: 1000, hash: relPath });
const id = (relPath: string) => store.photoByPath(lib, relPath)!.id;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-marks-job-'));
  store = Store.open(join(dir, 'lookalike.db'));
  lib = store.upsertLibrary('/photos');
  store.syncLibrary(lib, ['cats', 'dogs'], [
    photo('cats/a.jpg', 'cats'),
    photo('cats/b.jpg', 'cats'),
    photo('cats/v.jpg', 'cats'),
    photo('dogs/c.jpg', 'dogs'),
    photo('dogs/d.jpg', 'dogs'),
    photo('loose.jpg', null),
  ]);
  // cats/v.jpg is the one validation photo; the rest of the labelled photos train.
  store.assignSplit(lib, 0.3, (_classId, candidates) => candidates.filter((c) => c === id('cats/v.jpg')));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function kindOf(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    return error instanceof ApiError ? `${error.kind}: ${error.message}` : `not an ApiError: ${String(error)}`;
  }
  return 'no error';
}

describe('marking a result as not similar', () => {
  it('marks and unmarks, answering with the query\'s marks', () => {
    const query = id('cats/a.jpg');
    expect(markNotSimilar(store, lib, { queryPhotoId: query, photoId: id('dogs/c.jpg'), marked: true })).toEqual({ marked: [id('dogs/c.jpg')], total: 1, usable: 1, unused: [] });
    expect(markNotSimilar(store, lib, { queryPhotoId: query, photoId: id('dogs/d.jpg'), marked: true }).marked.sort()).toEqual([id('dogs/c.jpg'), id('dogs/d.jpg')].sort());
    expect(markNotSimilar(store, lib, { queryPhotoId: query, photoId: id('dogs/c.jpg'), marked: false })).toEqual({ marked: [id('dogs/d.jpg')], total: 1, usable: 1, unused: [] });
    expect(marksState(store, lib, id('cats/b.jpg')).marked).toEqual([]);
  });

  it('refuses an unknown photo (not found), a photo against itself and a missing mark/unmark (invalid input)', () => {
    const query = id('cats/a.jpg');
    expect(kindOf(() => markNotSimilar(store, lib, { queryPhotoId: 9999, photoId: query, marked: true }))).toBe('not-found: no photo 9999 in this library');
    expect(kindOf(() => markNotSimilar(store, lib, { queryPhotoId: query, photoId: 'x', marked: true }))).toBe('not-found: no photo x in this library');
    expect(kindOf(() => markNotSimilar(store, lib, { queryPhotoId: query, photoId: query, marked: true }))).toBe('invalid-input: cats/a.jpg: a photo cannot be marked as not similar to itself');
    expect(kindOf(() => markNotSimilar(store, lib, { queryPhotoId: query, photoId: id('dogs/c.jpg'), marked: 'yes' }))).toMatch(/^invalid-input: /);
    // A photo of another library is not one of this library's.
    const other = store.upsertLibrary('/other');
    store.syncLibrary(other, ['cats'], [photo('cats/z.jpg', 'cats')]);
    const foreign = store.photoByPath(other, 'cats/z.jpg')!.id;
    expect(kindOf(() => markNotSimilar(store, lib, { queryPhotoId: query, photoId: foreign, marked: true }))).toBe(`not-found: no photo ${foreign} in this library`);
    expect(marksState(store, lib).total).toBe(0);
  });

  it('says which marks training will use and why the others wait; training gets the usable ones as positions', () => {
    const mark = (q: string, n: string) => markNotSimilar(store, lib, { queryPhotoId: id(q), photoId: id(n), marked: true });
    mark('cats/a.jpg', 'dogs/c.jpg'); // used
    mark('dogs/d.jpg', 'cats/b.jpg'); // used
    mark('cats/a.jpg', 'cats/b.jpg'); // same class
    mark('cats/v.jpg', 'dogs/c.jpg'); // the query is a validation photo
    mark('dogs/c.jpg', 'cats/v.jpg'); // the marked photo is a validation photo
    mark('cats/a.jpg', 'loose.jpg'); // unlabelled
    const state = marksState(store, lib);
    expect({ total: state.total, usable: state.usable }).toEqual({ total: 6, usable: 2 });
    expect(Object.fromEntries(state.unused.map((u) => [u.reason, u.count]))).toEqual({ 'same class as the query': 1, 'a validation photo': 2, 'a photo has no class': 1 });

    const trainPhotos = store.photos(lib).filter((p) => p.split === 'train');
    const at = (relPath: string) => trainPhotos.findIndex((p) => p.relPath === relPath);
    expect(markedPairsForTraining(store, lib, trainPhotos)).toEqual([
      { query: at('cats/a.jpg'), negative: at('dogs/c.jpg') },
      { query: at('dogs/d.jpg'), negative: at('cats/b.jpg') },
    ]);
    // A photo without features (left out of the training photos) leaves its mark out.
    const withoutC = trainPhotos.filter((p) => p.relPath !== 'dogs/c.jpg');
    const inWithoutC = (relPath: string) => withoutC.findIndex((p) => p.relPath === relPath);
    expect(markedPairsForTraining(store, lib, withoutC)).toEqual([{ query: inWithoutC('dogs/d.jpg'), negative: inWithoutC('cats/b.jpg') }]);
  });

  it('a relabel that puts both photos in one class makes the mark wait, and one that parts them uses it again', () => {
    markNotSimilar(store, lib, { queryPhotoId: id('cats/a.jpg'), photoId: id('loose.jpg'), marked: true });
    expect(marksState(store, lib).usable).toBe(0);
    store.syncLibrary(lib, ['cats', 'dogs'], store.photos(lib).map((p) => ({ ...photo(p.relPath, p.relPath === 'loose.jpg' ? 'dogs' : p.className) })));
    store.assignSplit(lib, 0, () => []);
    expect(marksState(store, lib)).toMatchObject({ total: 1, usable: 1 });
  });
});
