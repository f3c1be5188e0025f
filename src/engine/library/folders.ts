import { existsSync } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, parse, sep } from 'node:path';
import type { FolderEntry, FolderListing } from '../../shared/api.js';
import { invalidInput, notFound } from '../../shared/errors.js';
import { typedFolderPath } from '../common/paths.js';

/** More sub-folders than this are counted, not listed. */
export const MAX_LISTED_FOLDERS = 2000;

/**
 * The sub-folders of a folder, for the browser's folder picker (a web page cannot open the system
 * dialog): `~` and absolute paths, home when none is given; hidden folders left out; the breadcrumb
 * from the root down; and the libraries opened before that still exist.
 */
export async function listFolders(typed: string | undefined, options: { recent?: string[]; home?: string } = {}): Promise<FolderListing> {
  const home = options.home ?? homedir();
  const asked = typed === undefined || typed.trim() === '' ? home : typedFolderPath(typed, home);
  let path: string;
  try {
    path = await realpath(asked);
    if (!(await stat(path)).isDirectory()) throw invalidInput(`${asked}: not a folder`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(`${asked}: folder not found`);
    if (code === 'EACCES' || code === 'EPERM') throw invalidInput(`${asked}: permission denied (the folder cannot be read)`);
    throw error;
  }
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw invalidInput(`${path}: permission denied (the folder cannot be read)`);
    throw error;
  }
  const names: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    if (entry.isDirectory() || (entry.isSymbolicLink() && (await stat(join(path, entry.name)).then((s) => s.isDirectory(), () => false)))) names.push(entry.name);
  }
  names.sort((a, b) => a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' }));
  const root = parse(path).root;
  return {
    path,
    parent: path === root ? null : dirname(path),
    crumbs: crumbsOf(path),
    folders: names.slice(0, MAX_LISTED_FOLDERS).map((name) => ({ name, path: join(path, name) })),
    more: Math.max(0, names.length - MAX_LISTED_FOLDERS),
    home,
    recent: (options.recent ?? []).filter((folder) => existsSync(folder)).map((folder) => ({ name: basename(folder) || folder, path: folder })),
  };
}

function crumbsOf(path: string): FolderEntry[] {
  const root = parse(path).root;
  const crumbs: FolderEntry[] = [{ name: root, path: root }];
  let at = root;
  for (const part of path.slice(root.length).split(sep).filter(Boolean)) {
    at = join(at, part);
    crumbs.push({ name: part, path: at });
  }
  return crumbs;
}
