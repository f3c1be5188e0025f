import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { labelledFeatures } from './labelled-features.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-split-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const CLASSES = ['bluebell', 'cowslip', 'daisy'];
const photosOf = (prefix: string) =>
  CLASSES.flatMap((name) => Array.from({ length: 10 }, (_, i) => ({ relPath: `${name}/${i}.jpg`, className: name, size: 100, mtimeMs: 1000, hash: `${prefix}${name}-${i}` })));

/** The split of a library of the same content, by photo path, in a database where `before` was opened first. */
function splitOf(dbName: string, before: string[], seed = 1): Map<string, string | null> {
  const store = Store.open(join(dir, dbName));
  for (const root of before) {
    const other = store.upsertLibrary(root);
    store.syncLibrary(other, ['aaa', ...CLASSES, 'zzz'], photosOf(`${root}:`).map((p, i) => ({ ...p, className: ['aaa', 'zzz'][i % 2] })));
    labelledFeatures(store, other, 'no-features', 0.3, seed);
  }
  const library = store.upsertLibrary(join(dir, 'flowers'));
  store.syncLibrary(library, CLASSES, photosOf(''));
  labelledFeatures(store, library, 'no-features', 0.3, seed);
  const split = new Map(store.photos(library).map((p) => [p.relPath, p.split]));
  store.close();
  return split;
}

it('splits a folder by its content and the seed alone: the same split whatever was opened before it', () => {
  const alone = splitOf('alone.db', []);
  const second = splitOf('second.db', ['/sample-library', '/another']);
  expect([...alone.values()].filter((s) => s === 'validation')).toHaveLength(9);
  expect(second).toEqual(alone);
  // The seed still chooses: another seed gives another split of the same photos.
  expect(splitOf('seed2.db', [], 2)).not.toEqual(alone);
});
