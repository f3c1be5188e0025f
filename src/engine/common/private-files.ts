/**
 * Folders and files only this user can read: the database and its folder, the thumbnail cache,
 * exported models. The modes are given at creation (so a file is never readable by others, not even
 * for a moment) and set again after it (a umask can only take bits away, and 0277 would leave us a
 * read-only folder), so they come out 0700 and 0600 whatever the umask.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { chmod, mkdir, open } from 'node:fs/promises';

export const PRIVATE_FOLDER_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

export interface PrivateFolderOptions {
  /**
   * Also make an existing folder private: for folders that are Lookalike's own (the thumbnail cache),
   * never for one the person named that may hold other things (a database path's folder).
   */
  tighten?: boolean;
}

/** Creates `folder` (and missing parents) as 0700; an existing one is left as it is unless `tighten`. */
export async function makePrivateFolder(folder: string, options: PrivateFolderOptions = {}): Promise<void> {
  const created = await mkdir(folder, { recursive: true, mode: PRIVATE_FOLDER_MODE });
  if (created !== undefined || options.tighten) await chmod(folder, PRIVATE_FOLDER_MODE);
}

export function makePrivateFolderSync(folder: string, options: PrivateFolderOptions = {}): void {
  const created = mkdirSync(folder, { recursive: true, mode: PRIVATE_FOLDER_MODE });
  if (created !== undefined || options.tighten) chmodSync(folder, PRIVATE_FOLDER_MODE);
}

/** Writes a new file as 0600; refuses to replace anything already there (a symlink included). */
export async function writePrivateFile(path: string, data: string | Uint8Array): Promise<void> {
  const handle = await open(path, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.chmod(PRIVATE_FILE_MODE);
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}

/** Makes the file at `path` 0600, creating it empty when it is missing (an existing one is not changed otherwise). */
export function makePrivateFileSync(path: string): void {
  closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  chmodSync(path, PRIVATE_FILE_MODE);
}
