import { homedir } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { invalidInput } from '../../shared/errors.js';

/** The per-user data folder: XDG on Linux, Application Support on macOS, AppData on Windows. */
export function userDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.LOOKALIKE_HOME) return env.LOOKALIKE_HOME;
  if (platform === 'win32') return join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'Lookalike');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Application Support', 'Lookalike');
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'lookalike');
}

export function userCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.LOOKALIKE_HOME) return join(env.LOOKALIKE_HOME, 'cache');
  if (platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'Lookalike', 'Cache');
  if (platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'Lookalike');
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lookalike');
}

export function defaultDbPath(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  return join(userDataDir(env, platform), 'lookalike.db');
}

/** A path inside a library as the store keeps it: relative to the root, '/'-separated. */
export function toLibraryPath(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

/**
 * A folder path as a person types it into the app: `~` and `~/…` are the home folder; anything else
 * must be absolute. A relative path is refused (the server's working folder means nothing to the
 * person in the browser), with a message saying what to type instead.
 */
export function typedFolderPath(typed: string, home: string = homedir()): string {
  const text = typed.trim();
  if (text === '') throw invalidInput('choose a folder to open');
  if (text === '~' || text.startsWith('~/') || text.startsWith(`~${sep}`)) return resolve(home, text.slice(2));
  if (text.startsWith('~')) throw invalidInput(`${text}: only your own home folder can be written with ~ (give the full path, e.g. /home/name/Pictures)`);
  if (!isAbsolute(text)) throw invalidInput(`${text}: give the full path of the folder, starting with / or ~/ (e.g. ~/Pictures); a relative path is not resolved`);
  return resolve(text);
}

/**
 * True when `path` is `folder` itself or lies inside it (both absolute and already resolved). By
 * path segments, not string prefixes: a folder that ends in a separator (`/`, `C:\\`) has no second
 * one appended, and `/photos2` is not inside `/photos`.
 */
export function isInsideFolder(path: string, folder: string): boolean {
  const rel = relative(folder, path);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

/** Strictly inside: a file of the folder, never the folder itself. */
export function isStrictlyInside(path: string, folder: string): boolean {
  return path !== folder && relative(folder, path) !== '' && isInsideFolder(path, folder);
}
