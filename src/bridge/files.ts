import { constants, type Stats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { IMAGE_TYPES, servableFile } from '../engine/jobs/service/photo-files.js';

/** Content types for the built renderer's files. */
export const STATIC_TYPES: Readonly<Record<string, string>> = {
  ...IMAGE_TYPES,
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/**
 * Maps a URL path to a file under `dir`, or null when it would leave it: `..` segments (raw or
 * percent-encoded), backslashes, NUL bytes and bad escapes are refused before touching the disk, and
 * the final real path must still be inside `dir` (no symlink escape).
 */
export async function staticFile(dir: string, urlPath: string): Promise<string | null> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return null;
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) return null;
  const rel = segments.length === 0 ? 'index.html' : segments.join('/');
  return servableFile(resolve(dir, rel), [dir]);
}

export interface OpenedFile {
  handle: FileHandle;
  info: Stats;
}

/**
 * Opens a file that servableFile already confined (a real path, symlinks resolved), checking what was
 * opened rather than what the path named a moment before: never blocking (O_NONBLOCK: a FIFO swapped
 * in with no writer would hold a thread forever), never through a symlink swapped in for the last
 * component (O_NOFOLLOW), a regular file only, and, where /proc shows it, still at that same path (no
 * folder on the way was swapped for a symlink). Null when any of that fails.
 */
export async function openCheckedFile(real: string): Promise<OpenedFile | null> {
  let handle: FileHandle;
  try {
    handle = await open(real, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0));
  } catch {
    return null;
  }
  try {
    const info = await handle.stat();
    const opened = await realpath(`/proc/self/fd/${handle.fd}`).catch(() => real);
    if (info.isFile() && opened === real) return { handle, info };
  } catch {
    // refused below
  }
  await handle.close();
  return null;
}
