/**
 * The Duplicates view's "move copies out": chosen photos moved into a folder outside the library,
 * never overwriting (a name there already gets " (2)"…), through the move journal, so the move
 * survives a crash and can be undone. A refused folder creates nothing.
 */
import { lstat, realpath } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, relative, resolve } from 'node:path';
import { conflict, invalidInput, notFound } from '../../../shared/errors.js';
import { isInsideFolder } from '../../common/paths.js';
import { existingPart, makeFoldersInside } from '../../library/move-files.js';
import type { Store } from '../../store/store.js';
import { runMoveBatch, undoLastBatch, type MoveOptions } from './file-moves.js';

export interface MovedOut {
  /** Absolute paths: where each photo was in the library, and where it is now. */
  moved: Array<{ from: string; to: string }>;
}

/** Moves the photos `photoIds` of the library into `folder` (absolute, outside the library; made when missing). */
export async function movePhotosOut(store: Store, libraryId: number, photoIds: unknown, folder: unknown, options: MoveOptions = {}): Promise<MovedOut> {
  if (!Array.isArray(photoIds) || photoIds.length === 0) throw invalidInput('select the photos to move first');
  if (typeof folder !== 'string' || folder.trim() === '') throw invalidInput('choose a folder to move the photos to');
  if (!isAbsolute(folder.trim())) throw invalidInput(`${folder}: give the full path of the folder to move the photos to`);
  const libraryRoot = await realpath(store.libraryRoot(libraryId));
  // Checked by the real path it will have before anything is made: a refused folder leaves nothing behind.
  const { existing, missing } = await existingPart(folder.trim());
  const target = join(existing, ...missing);
  if (isInsideFolder(target, libraryRoot)) {
    throw invalidInput(`${target}: is inside the library; moved photos would be read again as photos of it. Choose a folder outside ${libraryRoot}`);
  }
  if (missing.length === 0 && !(await lstat(existing)).isDirectory()) throw invalidInput(`${folder}: is a file, not a folder`);
  const planned = new Set<string>();
  const steps = [];
  for (const photoId of photoIds) {
    const photo = Number.isInteger(photoId) ? store.photo(photoId as number) : null;
    if (!photo || photo.libraryId !== libraryId) throw notFound(`no photo ${String(photoId)} in this library`);
    // The entry itself (lstat): a photo that is a link moves as the link, never its target.
    const found = await lstat(join(libraryRoot, photo.relPath)).catch(() => null);
    if (!found) throw notFound(`${photo.relPath}: no longer in the library folder; let the library be read again`);
    if (!found.isFile() && !found.isSymbolicLink()) throw invalidInput(`${photo.relPath}: not a file`);
    const name = await freeName(target, basename(photo.relPath), planned);
    steps.push({ photoId: photo.id, from: photo.relPath, to: name, size: found.size, labelBefore: null, labelAfter: null });
  }
  // Folders made for the move are the batch's (relative to the target; its undo removes them when empty).
  const made = await makeFoldersInside(existing, missing.join('/'));
  const createdFolders = made.map((m) => relative(target, join(existing, m)));
  await runMoveBatch(store, { libraryId, kind: 'move-out', fromRoot: libraryRoot, toRoot: target, createdFolders }, steps, options);
  return { moved: steps.map((s) => ({ from: join(libraryRoot, s.from), to: join(target, s.to) })) };
}

/** Puts back the photos of the last move out (finished or interrupted); returns how many went back. */
export async function undoMoveOut(store: Store, libraryId: number, options: MoveOptions = {}): Promise<number> {
  return undoLastBatch(store, libraryId, 'move-out', options);
}

/** `name` in `folder`, or "name (2)"… when a file there or another planned move has it. */
async function freeName(folder: string, name: string, planned: Set<string>): Promise<string> {
  const stem = basename(name, extname(name));
  for (let n = 1; n < 10_000; n++) {
    const candidate = n === 1 ? name : `${stem} (${n})${extname(name)}`;
    if (planned.has(candidate) || (await lstat(resolve(folder, candidate)).catch(() => null))) continue;
    planned.add(candidate);
    return candidate;
  }
  throw conflict(`${folder}: too many files named like ${name}`);
}
