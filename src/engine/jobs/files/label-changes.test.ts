import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { openLibrary } from '../library/library-sync.js';
import { changeLabels, labelsState, undoLabels } from './label-changes.js';
import { toWireError } from '../../../shared/errors.js';
import { MAX_LABEL_UNDO_STEPS } from '../../../shared/settings.js';

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
      undoSteps: ['Put 2 photos in new class "roots"', 'Renamed "daisy" to "flowers"', 'Merged "tulip" into "daisy"', 'Excluded folder "pansy"'],
      lastWrite: null,
    });

    // A rescan (the folder watched, or the library opened again) keeps every choice.
    await openLibrary({ store }, root);
    expect(counts(libraryId)).toEqual({ empty: 0, flowers: 5, roots: 2 });

    expect(undoLabels(store, libraryId)).toBe('Put 2 photos in new class "roots"');
    expect(counts(libraryId)).toEqual({ empty: 0, flowers: 5 });
    expect(store.photo(photoId('loose-0.jpg'))!.className).toBeNull();
    // The changes before it stay, to be undone next.
    expect(labelsState(store, libraryId).lastChange).toBe('Renamed "daisy" to "flowers"');

    // The stored choices survive closing and reopening the database.
    store.close();
    store = Store.open(join(dir, 'l.db'));
    await openLibrary({ store }, root);
    expect(counts(libraryId)).toEqual({ empty: 0, flowers: 5 });
    expect(listing()).toEqual(before);
  });

  it('undoes several changes, newest first, each as one step, also after the database is opened again', async () => {
    const { libraryId } = await openLibrary({ store }, root);
    const photoId = (relPath: string) => store.photos(libraryId).find((p) => p.relPath === relPath)!.id;
    const loose = photoId('loose-0.jpg');
    const classOf = () => Object.fromEntries(store.photos(libraryId).map((p) => [p.relPath, p.className]));
    const original = classOf();
    changeLabels(store, libraryId, { kind: 'rename-class', from: 'daisy', to: 'flowers' });
    const renamed = classOf();
    changeLabels(store, libraryId, { kind: 'merge-classes', from: 'tulip', into: 'flowers' });
    const merged = classOf();
    changeLabels(store, libraryId, { kind: 'assign-photos', photoIds: [loose], className: 'flowers' });
    changeLabels(store, libraryId, { kind: 'exclude-folder', folder: 'pansy' });
    expect(labelsState(store, libraryId).undoSteps).toEqual(['Excluded folder "pansy"', 'Put 1 photo in "flowers"', 'Merged "tulip" into "flowers"', 'Renamed "daisy" to "flowers"']);

    expect(undoLabels(store, libraryId)).toBe('Excluded folder "pansy"');
    expect(undoLabels(store, libraryId)).toBe('Put 1 photo in "flowers"');
    expect(classOf()).toEqual(merged);
    store.close();
    store = Store.open(join(dir, 'l.db'));
    expect(labelsState(store, libraryId).undoSteps).toEqual(['Merged "tulip" into "flowers"', 'Renamed "daisy" to "flowers"']);
    expect(undoLabels(store, libraryId)).toBe('Merged "tulip" into "flowers"');
    expect(classOf()).toEqual(renamed);
    expect(counts(libraryId)).toEqual({ empty: 0, flowers: 3, pansy: 2, tulip: 2 });
    expect(undoLabels(store, libraryId)).toBe('Renamed "daisy" to "flowers"');
    expect(classOf()).toEqual(original);
    expect(store.photo(loose)!.className).toBeNull();
    expect(() => undoLabels(store, libraryId)).toThrow(/no label change to undo/);
    expect(labelsState(store, libraryId)).toMatchObject({ lastChange: null, undoSteps: [] });
  });

  it('keeps the newest MAX_LABEL_UNDO_STEPS changes to undo, per library', async () => {
    const { libraryId } = await openLibrary({ store }, root);
    for (let i = 0; i <= MAX_LABEL_UNDO_STEPS; i++) changeLabels(store, libraryId, { kind: i % 2 === 0 ? 'exclude-folder' : 'include-folder', folder: 'pansy' });
    const steps = labelsState(store, libraryId).undoSteps;
    expect(steps).toHaveLength(MAX_LABEL_UNDO_STEPS);
    expect(steps[0]).toBe('Excluded folder "pansy"');
    for (let i = 0; i < MAX_LABEL_UNDO_STEPS; i++) undoLabels(store, libraryId);
    // The first exclusion was forgotten: undoing all that is kept leaves it.
    expect(counts(libraryId)).toEqual({ daisy: 3, empty: 0, tulip: 2 });
    expect(() => undoLabels(store, libraryId)).toThrow(/no label change to undo/);
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

  it('refuses a new class name the scan would skip or a disk cannot hold, when it is named (rename or new class), as a 400 naming it', async () => {
    const { libraryId } = await openLibrary({ store }, root);
    const loose = store.photos(libraryId).find((p) => p.relPath === 'loose-0.jpg')!;
    const named: Array<[string, RegExp]> = [
      ['.hidden', /"\.hidden" cannot be a class name: it starts with a dot/],
      ['CON', /"CON" cannot be a class name: CON is a device name Windows reserves/],
      ['lpt1.txt', /LPT1 is a device name/],
      ['a:b', /"a:b" cannot be a class name: it has :/],
      ['roses.', /it ends with a dot/],
      ['猫'.repeat(90), /at most 255 bytes in UTF-8/],
    ];
    for (const [name, reason] of named) {
      for (const change of [
        { kind: 'rename-class', from: 'daisy', to: name },
        { kind: 'assign-photos', photoIds: [loose.id], className: name },
      ] as const) {
        const error = toWireError(caught(() => changeLabels(store, libraryId, change)));
        expect(error, `${change.kind} ${name}`).toEqual({ kind: 'invalid-input', message: expect.stringMatching(reason) });
      }
    }
    expect(counts(libraryId)).toEqual({ daisy: 3, empty: 0, pansy: 2, tulip: 2 });
    expect(store.photo(loose.id)).toMatchObject({ relPath: 'loose-0.jpg', className: null });
    expect(labelsState(store, libraryId).lastChange).toBeNull();
  });

  it('lets a class keep a name its folder gave it: photos can join it, and it can be renamed to a name the rule takes', async () => {
    mkdirSync(join(root, 'CON:old'));
    copyFileSync(join(root, 'daisy', 'daisy-0.jpg'), join(root, 'CON:old', 'x.jpg'));
    const { libraryId } = await openLibrary({ store }, root);
    const loose = store.photos(libraryId).find((p) => p.relPath === 'loose-0.jpg')!.id;
    changeLabels(store, libraryId, { kind: 'assign-photos', photoIds: [loose], className: 'CON:old' });
    expect(counts(libraryId)['CON:old']).toBe(2);
    changeLabels(store, libraryId, { kind: 'rename-class', from: 'CON:old', to: 'console' });
    expect(counts(libraryId)).toEqual({ console: 2, daisy: 3, empty: 0, pansy: 2, tulip: 2 });
  });

  it('answers wrong types in a label change with a 400 naming the field, never a failure', async () => {
    const { libraryId } = await openLibrary({ store }, root);
    const daisy = store.photos(libraryId).find((p) => p.relPath === 'daisy/daisy-0.jpg')!.id;
    const wrong: Array<[unknown, string]> = [
      [{ kind: 'exclude-folder', folder: { name: 'pansy' } }, 'the folder ("folder" of the exclude-folder change) must be text (got an object)'],
      [{ kind: 'include-folder', folder: ['pansy'] }, 'the folder ("folder" of the include-folder change) must be text (got a list)'],
      [{ kind: 'rename-class', from: 7, to: 'x' }, 'the class to rename ("from" of the rename-class change) must be text (got a number)'],
      [{ kind: 'rename-class', from: 'daisy' }, 'the new class name ("to" of the rename-class change) must be text (got nothing)'],
      [{ kind: 'merge-classes', from: 'daisy', into: null }, 'the class to merge into ("into" of the merge-classes change) must be text (got null)'],
      [{ kind: 'assign-photos', photoIds: String(daisy), className: 'x' }, '"photoIds" of the assign-photos change must be a list of photo ids (got text)'],
      [{ kind: 'assign-photos', photoIds: [daisy, { id: daisy }], className: 'x' }, '"photoIds" must hold photo ids (whole numbers); item 2 is an object'],
      [{ kind: 'unassign-photos', photoIds: [1.5] }, '"photoIds" must hold photo ids (whole numbers); item 1 is 1.5'],
      [{ kind: 'assign-photos', photoIds: [daisy], className: { name: 'x' } }, 'the class name ("className" of the assign-photos change) must be text (got an object)'],
      [{ kind: { x: 1 } }, 'unknown label change "an object"'],
      [null, 'a label change must be an object with a "kind" (got null)'],
      ['rename', 'a label change must be an object with a "kind" (got text)'],
    ];
    for (const [change, message] of wrong) {
      expect(toWireError(caught(() => changeLabels(store, libraryId, change as never))), JSON.stringify(change)).toEqual({ kind: 'invalid-input', message });
    }
    expect(counts(libraryId)).toEqual({ daisy: 3, empty: 0, pansy: 2, tulip: 2 });
  });
});
