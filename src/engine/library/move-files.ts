import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, link, lstat, mkdir, readFile, realpath, unlink } from 'node:fs/promises';
import { basename, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { invalidInput, notFound } from '../../shared/errors.js';

export interface MovedFile {
  from: string;
  to: string;
  /** 'rename': same device, a hard link then the old name removed; 'copy': another device, copied, checked byte for byte, then removed. */
  how: 'link' | 'copy';
}

/**
 * Moves files (absolute paths inside `root`) into `folder` (outside it), never overwriting: a name
 * already there gets " (2)", " (3)"… Nothing is deleted before its new copy exists: on one device
 * the file gets a second name (a hard link, which cannot overwrite) and then loses the old one;
 * across devices it is copied (refusing to overwrite), read back and compared by SHA-256, and only
 * then removed from the library.
 */
export async function moveFilesOut(root: string, files: string[], folder: string): Promise<MovedFile[]> {
  if (typeof folder !== 'string' || folder.trim() === '') throw invalidInput('choose a folder to move the photos to');
  if (!isAbsolute(folder.trim())) throw invalidInput(`${folder}: give the full path of the folder to move the photos to`);
  const libraryRoot = await realpath(root);
  await mkdir(resolve(folder.trim()), { recursive: true });
  const target = await realpath(resolve(folder.trim()));
  if (target === libraryRoot || target.startsWith(libraryRoot + sep)) {
    throw invalidInput(`${target}: is inside the library; moved photos would be read again as photos of it. Choose a folder outside ${libraryRoot}`);
  }
  const moved: MovedFile[] = [];
  for (const file of files) {
    const from = await realpath(file).catch(() => {
      throw notFound(`${file}: no longer there`);
    });
    if (!from.startsWith(libraryRoot + sep)) throw invalidInput(`${file}: not a photo of the library`);
    if (!(await lstat(from)).isFile()) throw invalidInput(`${file}: not a file`);
    moved.push(await moveOne(from, target));
  }
  return moved;
}

async function moveOne(from: string, folder: string): Promise<MovedFile> {
  const stem = basename(from, extname(from));
  for (let n = 1; n < 10_000; n++) {
    const to = join(folder, `${n === 1 ? stem : `${stem} (${n})`}${extname(from)}`);
    const moved = await moveFileTo(from, to).catch((error: unknown) => {
      if (error instanceof NameTakenError) return null;
      throw error;
    });
    if (moved) return moved;
  }
  throw new Error(`${from}: too many files named like it in ${folder}`);
}

/** `to` exists already: nothing was moved and nothing overwritten. */
export class NameTakenError extends Error {}

/**
 * Moves one file to exactly `to` (its folder must exist), never overwriting: on one device a hard
 * link then the old name removed; across devices a copy (refusing to overwrite) read back and
 * compared by SHA-256 before the original is removed. A name already taken is a NameTakenError.
 */
export async function moveFileTo(from: string, to: string): Promise<MovedFile> {
  const taken = () => new NameTakenError(`${to}: a file of that name is there already; nothing was overwritten`);
  try {
    await link(from, to);
    await unlink(from);
    return { from, to, how: 'link' };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw taken();
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
  }
  try {
    await copyFile(from, to, constants.COPYFILE_EXCL);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw taken();
    throw error;
  }
  const [original, copy] = await Promise.all([readFile(from), readFile(to)]);
  if (sha256(original) !== sha256(copy)) {
    await unlink(to);
    throw new Error(`${from}: the copy at ${to} did not match the original; the original was kept`);
  }
  await unlink(from);
  return { from, to, how: 'copy' };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** For messages: a path inside the library as the person knows it. */
export const insideLibrary = (root: string, file: string) => relative(root, file).split(sep).join('/');
