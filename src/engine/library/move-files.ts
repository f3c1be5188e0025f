import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readFile, readlink, realpath, rename, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ApiError, conflict, invalidInput, notFound } from '../../shared/errors.js';
import { describeFileError } from '../common/error-words.js';
import { isInsideFolder } from '../common/paths.js';

/**
 * Moving one file, never overwriting and never leaving it in two places for good. The thing moved
 * is exactly the entry named (lstat): a symlink moves as a link, re-pointed so it still resolves.
 * On one device the file gets a second name (a hard link cannot overwrite) and then loses the old
 * one. Across devices it is copied to a hidden temporary name in the target folder, synced, read
 * back and compared, given its real name (again without overwriting), and only then removed from
 * where it was: a half-written copy only ever has the temporary name (see settleMove). Each folder
 * whose entries changed is synced before the next step, so the order also holds after a power cut
 * (the journal's "done" is only written once the new name is on disk and the old one gone).
 */

/** 'link': same device; 'copy': another device; 'symlink': a link re-created at the target. */
export type MoveHow = 'link' | 'copy' | 'symlink';

/** Where a move may read from and write to: the real paths its files must be inside at the moment of the move. */
export interface MoveBounds {
  fromRoot: string;
  toRoot: string;
  /** A folder the target must not be in even inside toRoot (the library, for a move out of it). */
  toNotIn?: string;
}

/** `to` exists already: nothing was moved and nothing overwritten. */
export class NameTakenError extends ApiError {
  constructor(to: string) {
    super('conflict', `${to}: a file of that name is there already; nothing was overwritten`);
  }
}

/** Moves `from` to exactly `to` (its folder must exist), both checked inside their bounds by real path now. */
export async function moveFileTo(from: string, to: string, bounds: MoveBounds, tempName: string): Promise<MoveHow> {
  const source = await lstat(from).catch((error: unknown) => {
    throw (error as NodeJS.ErrnoException).code === 'ENOENT' ? notFound(`${from}: no longer there, so it was not moved`) : error;
  });
  if (!source.isFile() && !source.isSymbolicLink()) throw invalidInput(`${from}: not a file; only photos are moved`);
  await refuseOutside(dirname(from), bounds.fromRoot);
  await refuseOutside(dirname(to), bounds.toRoot, bounds.toNotIn);
  if (source.isSymbolicLink()) {
    await symlink(await repointedLink(from, to), to).catch(rethrowTaken(to));
    await syncFolder(dirname(to));
    await removeSource(from, to);
    return 'symlink';
  }
  const linked = await link(from, to).then(
    () => true,
    (error: unknown) => {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw taken(to);
      if (code === 'EXDEV' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return false;
      throw inWordsForTarget(error, to);
    },
  );
  if (linked) {
    await syncFolder(dirname(to));
    await removeSource(from, to);
    return 'link';
  }
  const temp = join(dirname(to), tempName);
  await copyVerified(from, temp, to);
  await placeWithoutOverwriting(temp, to);
  await syncFolder(dirname(to));
  await removeSource(from, to);
  return 'copy';
}

/**
 * Writes a folder's entries to disk (fsync of the folder): a name made or removed in it survives a
 * power cut, not only a crash of the app. Where a folder cannot be opened or synced (Windows), the
 * file system's own ordering is all there is.
 */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r').catch(() => null);
  if (!handle) return;
  try {
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EPERM' && code !== 'EISDIR' && code !== 'EBADF') throw error;
  } finally {
    await handle.close();
  }
}

/** The name a file of a batch has while it is being copied across devices (hidden: a scan skips it). */
export const tempNameFor = (batchId: number, seq: number, undo: boolean) => `.lookalike-moving-${batchId}-${seq}${undo ? '-back' : ''}`;

/**
 * After a crash: where the file of a move that may have been under way is now, leaving it in exactly
 * one place. A temporary copy is removed (the original is still there until the copy has its name);
 * a copy or second name at `to` whose original is still at `from` is the finished part of a move
 * (same inode, the same link target, or a verified copy of the same bytes): the original goes.
 */
export async function settleMove(from: string, to: string, temp: string, size: number): Promise<{ where: 'at-from' | 'at-to' | 'lost'; finished: boolean; tempRemoved: boolean }> {
  const tempRemoved = await unlink(temp).then(
    () => true,
    (error: unknown) => (ignoreMissing(error), false),
  );
  const [atFrom, atTo] = await Promise.all([lstat(from).catch(() => null), lstat(to).catch(() => null)]);
  if (!atTo || (!atFrom && !atTo.isSymbolicLink() && atTo.size !== size)) return { where: atFrom ? 'at-from' : 'lost', finished: false, tempRemoved };
  if (!atFrom) return { where: 'at-to', finished: false, tempRemoved };
  if (await sameFile(from, to, atFrom, atTo)) {
    await unlink(from);
    return { where: 'at-to', finished: true, tempRemoved };
  }
  return { where: 'at-from', finished: false, tempRemoved }; // someone else's file took the name meanwhile: ours never got there
}

/**
 * Makes the folders of `relDir` inside `root` that are missing, one level at a time, each made only
 * after its parent was found (by real path) inside `root`: a folder swapped for a link cannot lead
 * the making elsewhere. Returns the folders made (relative, parents first).
 */
export async function makeFoldersInside(root: string, relDir: string): Promise<string[]> {
  const made: string[] = [];
  const parts = relDir.split('/').filter((p) => p !== '' && p !== '.');
  for (let i = 0; i < parts.length; i++) {
    const folder = join(root, ...parts.slice(0, i + 1));
    if (await lstat(folder).catch(() => null)) continue;
    await refuseOutside(dirname(folder), root);
    await mkdir(folder);
    await syncFolder(dirname(folder));
    made.push(parts.slice(0, i + 1).join('/'));
  }
  await refuseOutside(join(root, ...parts), root);
  return made;
}

/** A folder by real path, split into its nearest existing ancestor (resolved) and the names below it still to be made. */
export async function existingPart(folder: string): Promise<{ existing: string; missing: string[] }> {
  const missing: string[] = [];
  let path = resolve(folder);
  for (;;) {
    const real = await realpath(path).catch(() => null);
    if (real) return { existing: real, missing: missing.reverse() };
    const parent = dirname(path);
    if (parent === path) throw notFound(`${folder}: no part of this path exists`);
    missing.push(basename(path));
    path = parent;
  }
}

async function refuseOutside(folder: string, root: string, notIn?: string): Promise<void> {
  const real = await realpath(folder).catch((error: unknown) => {
    throw conflict(`${folder}: ${describeFileError(error)}; nothing was moved there`);
  });
  if (!isInsideFolder(real, root) || (notIn !== undefined && isInsideFolder(real, notIn))) {
    throw conflict(`${folder}: leads to ${real} now (a folder on its way was replaced by a link), not inside ${root}${notIn ? ` and outside ${notIn}` : ''} as it was; nothing was moved there`);
  }
}

/** A relative link keeps pointing at the same file from its new folder; an absolute one is kept as it is. */
async function repointedLink(from: string, to: string): Promise<string> {
  const target = await readlink(from);
  if (isAbsolute(target)) return target;
  return relative(dirname(to), resolve(dirname(from), target)).split(sep).join('/') || '.';
}

/** Copies to `temp` (never over anything), synced and compared byte for byte with the original; a failed copy leaves no temp. */
async function copyVerified(from: string, temp: string, to: string): Promise<void> {
  try {
    await copyFile(from, temp, constants.COPYFILE_EXCL);
    const handle = await open(temp, 'r');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await unlink(temp).catch(ignoreMissing);
    throw inWordsForTarget(error, to);
  }
  const [original, copy] = await Promise.all([readFile(from), readFile(temp)]);
  if (sha256(original) !== sha256(copy)) {
    await unlink(temp);
    throw new Error(`${from}: the copy made in ${dirname(to)} did not match the original; the original was kept and the copy removed`);
  }
}

/** Gives the temporary copy its real name: a hard link where the file system has them (cannot overwrite), else a rename after looking. */
async function placeWithoutOverwriting(temp: string, to: string): Promise<void> {
  try {
    await link(temp, to);
    await unlink(temp);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      await unlink(temp);
      throw taken(to);
    }
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') {
      await unlink(temp).catch(ignoreMissing);
      throw error;
    }
  }
  // No hard links here (FAT, exFAT, some shares): look, then rename (a name taken in between is the one race left).
  if (await lstat(to).catch(() => null)) {
    await unlink(temp);
    throw taken(to);
  }
  await rename(temp, to);
}

/** Removes the original once its new name exists; when it cannot go, the new name goes instead (nothing is left twice). */
async function removeSource(from: string, to: string): Promise<void> {
  try {
    await unlink(from);
  } catch (error) {
    await unlink(to);
    throw conflict(`${from}: cannot be removed from its folder (${describeFileError(error)}), so it was not moved; the copy made at ${to} was removed again`);
  }
  await syncFolder(dirname(from));
}

/** A failure while writing the copy is about the target: a full disk is the target's disk, not the photo's. */
function inWordsForTarget(error: unknown, to: string): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EROFS' || code === 'EACCES') {
    return conflict(`${dirname(to)}: ${describeFileError(error)}; ${basename(to)} could not be written there, and the photo was left where it is`);
  }
  return error as Error;
}

/** The same file at both names: one inode, two links to the same place, or the same bytes (a verified copy). */
async function sameFile(from: string, to: string, atFrom: Stats, atTo: Stats): Promise<boolean> {
  if (atFrom.dev === atTo.dev && atFrom.ino === atTo.ino) return true;
  if (atFrom.isSymbolicLink() || atTo.isSymbolicLink()) {
    if (!atFrom.isSymbolicLink() || !atTo.isSymbolicLink()) return false;
    const [a, b] = await Promise.all([readlink(from), readlink(to)]);
    return resolve(dirname(from), a) === resolve(dirname(to), b);
  }
  if (atFrom.size !== atTo.size) return false;
  const [a, b] = await Promise.all([readFile(from), readFile(to)]);
  return a.equals(b);
}

const taken = (to: string) => new NameTakenError(to);

const rethrowTaken = (to: string) => (error: unknown) => {
  throw (error as NodeJS.ErrnoException).code === 'EEXIST' ? taken(to) : inWordsForTarget(error, to);
};

const ignoreMissing = (error: unknown) => {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
};

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
