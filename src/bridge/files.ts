import { realpath, stat } from 'node:fs/promises';
import { extname, isAbsolute, resolve } from 'node:path';
import { isInside } from '../engine/common/paths.js';

/** Content types for the photos we serve; anything else is refused. */
export const IMAGE_TYPES: Readonly<Record<string, string>> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.jpe': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.avif': 'image/avif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

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

export function imageContentType(path: string): string | null {
  return IMAGE_TYPES[extname(path).toLowerCase()] ?? null;
}

export { isInside } from '../engine/common/paths.js';

/**
 * The real path of `file` when it is a regular file whose real path (symlinks resolved) lies inside one
 * of `roots` (also resolved), else null. Relative paths are refused outright: a caller must know
 * exactly which file it means.
 */
export async function servableFile(file: string, roots: ReadonlyArray<string | null | undefined>): Promise<string | null> {
  if (typeof file !== 'string' || file.includes('\0') || !isAbsolute(file)) return null;
  const real = await realpath(file).catch(() => null);
  if (!real) return null;
  const info = await stat(real).catch(() => null);
  if (!info?.isFile()) return null;
  for (const root of roots) {
    if (!root) continue;
    const realRoot = await realpath(root).catch(() => null);
    if (realRoot && isInside(real, realRoot)) return real;
  }
  return null;
}

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
