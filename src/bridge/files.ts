import { resolve } from 'node:path';
import { IMAGE_TYPES, servableFile } from '../engine/jobs/photo-files.js';

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
