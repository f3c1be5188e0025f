import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../../shared/errors.js';
import { Store } from '../../store/store.js';
import { markedPairsForTraining, markNotSimilar, marksState } from './not-similar-marks.js';

let dir: string;
let store: Store;
let lib: number;
const photo = (relPath: string, className: string | null) => ({ relPath, className, size: 100, mtimeMs: 1000, hash: relPath });
const id = (relPath: string) => store.photoByPath(lib, relPath)!.id;
/** Backbone features of the training photos: dogs/c.jpg lies nearest to cats/b.jpg. */
const FEATURES: Record<string, Float32Array> = Object.fromEntries(
  Object.entries({ 'cats/a.jpg': [1, 0], 'cats/b.jpg': [0, 1], 'dogs/c.jpg': [0.1, 0.9], 'dogs/d.jpg': [0.9, 0.1] }).map(([path, v]) => [path, Float32Array.from(v)]),
);

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
    expect(markNotSimilar(store, lib, { queryPhotoId: query, photoId: id('dogs/c.jpg'), marked: true })).toEqual({ marked: [id('dogs/c.jpg')], total: 1, usable: 1, standIn: 0, unused: [] });
    expect(markNotSimilar(store, lib, { queryPhotoId: query, photoId: id('dogs/d.jpg'), marked: true }).marked.sort()).toEqual([id('dogs/c.jpg'), id('dogs/d.jpg')].sort());
    expect(markNotSimilar(store, lib, { queryPhotoId: query, photoId: id('dogs/c.jpg'), marked: false })).toEqual({ marked: [id('dogs/d.jpg')], total: 1, usable: 1, standIn: 0, unused: [] });
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
    mark('cats/v.jpg', 'dogs/c.jpg'); // the query is a validation photo: dogs/c.jpg trains against its stand-in
    mark('dogs/c.jpg', 'cats/v.jpg'); // the marked photo is a validation photo: the same
    mark('cats/a.jpg', 'loose.jpg'); // unlabelled
    const state = marksState(store, lib);
    expect({ total: state.total, usable: state.usable, standIn: state.standIn }).toEqual({ total: 6, usable: 4, standIn: 2 });
    expect(Object.fromEntries(state.unused.map((u) => [u.reason, u.count]))).toEqual({ 'same class as the query': 1, 'a photo has no class': 1 });

    const trainPhotos = store.photos(lib).filter((p) => p.split === 'train');
    const at = (relPath: string) => trainPhotos.findIndex((p) => p.relPath === relPath);
    const vectors = (photos: typeof trainPhotos) => photos.map((p) => FEATURES[p.relPath]);
    // The validation cat's stand-in is the training cat nearest to dogs/c.jpg: cats/b.jpg, never cats/v.jpg itself.
    const sorted = (pairs: Array<{ query: number; negative: number }>) => pairs.slice().sort((x, y) => x.query - y.query || x.negative - y.negative);
    expect(sorted(markedPairsForTraining(store, lib, trainPhotos, vectors(trainPhotos)))).toEqual(sorted([
      { query: at('cats/a.jpg'), negative: at('dogs/c.jpg') },
      { query: at('dogs/d.jpg'), negative: at('cats/b.jpg') },
      { query: at('dogs/c.jpg'), negative: at('cats/b.jpg') },
      { query: at('dogs/c.jpg'), negative: at('cats/b.jpg') },
    ]));
    // A photo without features (left out of the training photos) leaves its marks out.
    const withoutA = trainPhotos.filter((p) => p.relPath !== 'cats/a.jpg');
    const inWithoutA = (relPath: string) => withoutA.findIndex((p) => p.relPath === relPath);
    expect(sorted(markedPairsForTraining(store, lib, withoutA, vectors(withoutA)))).toEqual(
      sorted([
        { query: inWithoutA('dogs/d.jpg'), negative: inWithoutA('cats/b.jpg') },
        { query: inWithoutA('dogs/c.jpg'), negative: inWithoutA('cats/b.jpg') },
        { query: inWithoutA('dogs/c.jpg'), negative: inWithoutA('cats/b.jpg') },
      ]),
    );
    // So does a query that would be the only training photo of its class (no positive to draw).
    const withoutD = trainPhotos.filter((p) => p.relPath !== 'dogs/d.jpg');
    const inWithoutD = (relPath: string) => withoutD.findIndex((p) => p.relPath === relPath);
    expect(markedPairsForTraining(store, lib, withoutD, vectors(withoutD))).toEqual([{ query: inWithoutD('cats/a.jpg'), negative: inWithoutD('dogs/c.jpg') }]);
  });

  it('a mark between two validation photos waits, and says why', () => {
    store.assignSplit(lib, 0, () => []);
    store.syncLibrary(lib, ['cats', 'dogs'], [...store.photos(lib).map((p) => photo(p.relPath, p.className)), photo('dogs/w.jpg', 'dogs')]);
    store.assignSplit(lib, 0.3, (_classId, candidates) => candidates.filter((c) => c === id('cats/v.jpg') || c === id('dogs/w.jpg')));
    markNotSimilar(store, lib, { queryPhotoId: id('cats/v.jpg'), photoId: id('dogs/w.jpg'), marked: true });
    expect(marksState(store, lib)).toMatchObject({ total: 1, usable: 0, unused: [{ reason: 'both are validation photos', count: 1 }] });
    const trainPhotos = store.photos(lib).filter((p) => p.split === 'train');
    expect(markedPairsForTraining(store, lib, trainPhotos, trainPhotos.map((p) => FEATURES[p.relPath]))).toEqual([]);
  });

  it('a relabel that puts both photos in one class makes the mark wait, and one that parts them uses it again', () => {
    markNotSimilar(store, lib, { queryPhotoId: id('cats/a.jpg'), photoId: id('loose.jpg'), marked: true });
    expect(marksState(store, lib).usable).toBe(0);
    store.syncLibrary(lib, ['cats', 'dogs'], store.photos(lib).map((p) => ({ ...photo(p.relPath, p.relPath === 'loose.jpg' ? 'dogs' : p.className) })));
    store.assignSplit(lib, 0, () => []);
    expect(marksState(store, lib)).toMatchObject({ total: 1, usable: 1 });
  });
});
