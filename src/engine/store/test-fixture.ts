import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store, type ScannedPhoto } from './store.js';

/** A scanned photo as a store test writes it: the path, its class folder (null: unsorted) and a made-up content hash. */
export const scannedPhoto = (relPath: string, className: string | null, hash: string): ScannedPhoto => ({ relPath, className, size: 100, mtimeMs: 1000, hash });

/**
 * A real SQLite file in a folder of its own, with one library ("/photos", no files on disk) synced
 * from `scan`: where the store's tests start. `remove` deletes the folder (close the store first).
 */
export function scannedStore(prefix: string, classes: string[], scan: ScannedPhoto[]) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const store = Store.open(join(dir, 'lookalike.db'));
  const lib = store.upsertLibrary('/photos');
  store.syncLibrary(lib, classes, scan);
  return { dir, store, lib, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
