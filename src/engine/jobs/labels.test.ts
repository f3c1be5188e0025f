import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../store/store.js';
import { openLibrary } from './pipeline.js';
import { changeLabels, labelsState, undoLabels } from './labels.js';
import { toWireError } from '../../shared/errors.js';

function caught(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected a refusal');
}

let dir: string;
let root: string;
let store: Store;

/** Real, distinct little JPEGs (each its own content hash) in class folders and the root. */
async function makeLibrary(): Promise<void> {
  const layout: Record<string, number> = { daisy: 3, pansy: 2, tulip: 2, '': 2 };
  let shade = 0;
  for (const [folder, count] of Object.entries(layout)) {
    mkdirSync(join(root, folder), { recursive: true });
    for (let i = 0; i < count; i++) {
      const jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 20 * ++shade, g: 40, b: 90 } } }).jpeg().toBuffer();
      writeFileSync(join(root, folder, `${folder || 'loose'}-${i}.jpg`), jpeg);
    }
  }
  mkdirSync(join(root, 'empty'));
}

const counts = (libraryId: number) => Object.fromEntries(store.classes(libraryId).map((c) => [c.name, c.photoCount]));
const listing = () => ['', 'daisy', 'pansy', 'tulip', 'empty'].map((f) => readdirSync(join(root, f)).sort().join(','));

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-labels-'));
  root = join(dir, 'photos');
  await makeLibrary();
  store = Store.open(join(dir, 'l.db'));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('labels in the app (stored per library; the folders untouched)', () => {
  it('excludes a folder, merges two, renames one, labels root photos, and undoes the last change', async () => {
    const before = listing();
    const { libraryId } = await openLibrary({ store }, root);
    expect(counts(libraryId)).toEqual({ daisy: 3, empty: 0, pansy: 2, tulip: 2 });
    const photoId = (relPath: string) => store.photos(libraryId).find((p) => p.relPath === relPath)!.id;

    changeLabels(store, libraryId, { kind: 'exclude-folder', folder: 'pansy' });
    expect(counts(libraryId)).toEqual({ daisy: 3, empty: 0, tulip: 2 });
    expect(store.photo(photoId('pansy/pansy-0.jpg'))!.className).toBeNull();

    changeLabels(store, libraryId, { kind: 'merge-classes', from: 'tulip', into: 'daisy' });
    expect(counts(libraryId)).toEqual({ daisy: 5, empty: 0 });

    changeLabels(store, libraryId, { kind: 'rename-class', from: 'daisy', to: 'flowers' });
    expect(counts(libraryId)).toEqual({ empty: 0, flowers: 5 });

    // Root photos become a class of their own: trainable.
    changeLabels(store, libraryId, { kind: 'assign-photos', photoIds: [photoId('loose-0.jpg'), photoId('loose-1.jpg')], className: 'roots' });
    expect(counts(libraryId)).toEqual({ empty: 0, flowers: 5, roots: 2 });
    expect(labelsState(store, libraryId)).toEqual({
      folders: [
        { folder: 'daisy', className: 'flowers', photoCount: 3 },
        { folder: 'empty', className: 'empty', photoCount: 0 },
        { folder: 'pansy', className: null, photoCount: 2 },
        { folder: 'tulip', className: 'flowers', photoCount: 2 },
      ],
      photoLabels: 2,
      lastChange: 'Put 2 photos in new class "roots"',
      lastWrite: null,
    });

    // A rescan (the folder watched, or the library opened again) keeps every choice.
    await openLibrary({ store }, root);
    expect(counts(libraryId)).toEqual({ empty: 0, flowers: 5, roots: 2 });

    expect(undoLabels(store, libraryId)).toBe('Put 2 photos in new class "roots"');
    expect(counts(libraryId)).toEqual({ empty: 0, flowers: 5 });
    expect(store.photo(photoId('loose-0.jpg'))!.className).toBeNull();
    // One step of undo: the change before it stays.
    expect(() => undoLabels(store, libraryId)).toThrow(/no label change to undo/);
    expect(labelsState(store, libraryId).lastChange).toBeNull();

    // The stored choices survive closing and reopening the database.
    store.close();
    store = Store.open(join(dir, 'l.db'));
    await openLibrary({ store }, root);
    expect(counts(libraryId)).toEqual({ empty: 0, flowers: 5 });
    expect(listing()).toEqual(before);
  });

  it('undoes an exclusion and a merge, each as one step', async () => {
    const { libraryId } = await openLibrary({ store }, root);
    changeLabels(store, libraryId, { kind: 'exclude-folder', folder: 'pansy' });
    undoLabels(store, libraryId);
    expect(counts(libraryId)).toEqual({ daisy: 3, empty: 0, pansy: 2, tulip: 2 });
    changeLabels(store, libraryId, { kind: 'merge-classes', from: 'pansy', into: 'tulip' });
    expect(counts(libraryId)).toEqual({ daisy: 3, empty: 0, tulip: 4 });
    undoLabels(store, libraryId);
    expect(counts(libraryId)).toEqual({ daisy: 3, empty: 0, pansy: 2, tulip: 2 });
  });

  it('keeps the train/validation side of photos whose class did not change', async () => {
    const { libraryId } = await openLibrary({ store }, root);
    store.assignSplit(libraryId, 0.5, (_c, candidates, wanted) => candidates.slice(0, wanted));
    const splits = () => Object.fromEntries(store.photos(libraryId).map((p) => [p.relPath, p.split]));
    const was = splits();
    changeLabels(store, libraryId, { kind: 'exclude-folder', folder: 'pansy' });
    const now = splits();
    expect(now['pansy/pansy-0.jpg']).toBeNull();
    for (const path of ['daisy/daisy-0.jpg', 'daisy/daisy-1.jpg', 'tulip/tulip-0.jpg']) expect(now[path]).toBe(was[path]);
  });

  it('refuses a change that names nothing real, saying what, and changes nothing', async () => {
    const { libraryId } = await openLibrary({ store }, root);
    const other = store.upsertLibrary(join(dir, 'elsewhere'));
    store.syncLibrary(other, [], [{ relPath: 'x.jpg', className: null, size: 1, mtimeMs: 1, hash: 'hx' }]);
    const foreign = store.photos(other)[0].id;
    const refusals: Array<[Parameters<typeof changeLabels>[2], RegExp]> = [
      [{ kind: 'exclude-folder', folder: 'nope' }, /no folder "nope" in this library/],
      [{ kind: 'merge-classes', from: 'daisy', into: 'roses' }, /no class "roses"/],
      [{ kind: 'merge-classes', from: 'daisy', into: 'daisy' }, /into itself/],
      [{ kind: 'rename-class', from: 'daisy', to: 'tulip' }, /exists already: merge/],
      [{ kind: 'rename-class', from: 'daisy', to: '  ' }, /cannot be empty/],
      [{ kind: 'assign-photos', photoIds: [], className: 'x' }, /select one or more photos/],
      [{ kind: 'assign-photos', photoIds: [foreign], className: 'x' }, new RegExp(`no photo ${foreign} in this library`)],
      [{ kind: 'fold' } as never, /unknown label change "fold"/],
    ];
    for (const [change, message] of refusals) {
      expect(() => changeLabels(store, libraryId, change)).toThrow(message);
      // The person's mistake (a 4xx over the bridge), never a failure.
      expect(toWireError(caught(() => changeLabels(store, libraryId, change))).kind).not.toBe('failed');
    }
    expect(counts(libraryId)).toEqual({ daisy: 3, empty: 0, pansy: 2, tulip: 2 });
    expect(labelsState(store, libraryId).lastChange).toBeNull();
  });
});
