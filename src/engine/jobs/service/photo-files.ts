/**
 * Which file a photo URL may send, for both transports (Electron's photo scheme in src/main, the
 * bridge's /photo/<id>): only a photo of the open library, an original only from inside the library,
 * a thumbnail from the library or the thumbnail cache, after resolving symlinks, and only images.
 */
import { realpath, stat } from 'node:fs/promises';
import { extname, isAbsolute } from 'node:path';
import type { PhotoSize } from '../../../shared/api.js';
import { isInsideFolder } from '../../common/paths.js';
import type { EngineService } from './service-contract.js';

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

export function imageContentType(path: string): string | null {
  return IMAGE_TYPES[extname(path).toLowerCase()] ?? null;
}

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
    if (realRoot && isInsideFolder(real, realRoot)) return real;
  }
  return null;
}

export type PhotoToServe =
  | { ok: true; file: string; contentType: string }
  /** 404: no such photo in the open library; 403: a file that is not served; 422: the photo has no preview. */
  | { ok: false; status: 404 | 403 | 422; message: string };

/** What a photo URL (its id text and size text, as they came) should answer. */
export async function photoToServe(service: EngineService, idText: string, sizeText: string, cacheDir: string | undefined): Promise<PhotoToServe> {
  if (!/^[0-9]{1,15}$/.test(idText) || (sizeText !== 'thumb' && sizeText !== 'full')) return { ok: false, status: 404, message: 'no such photo' };
  const size: PhotoSize = sizeText;
  let file: string | null;
  try {
    file = await service.photoFile(Number(idText), size);
  } catch (error) {
    // An unreadable photo has no thumbnail: that is the photo's problem, not the server's.
    return { ok: false, status: 422, message: `no preview: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (!file) return { ok: false, status: 404, message: 'no such photo' };
  const roots = size === 'full' ? [service.libraryRoot()] : [service.libraryRoot(), cacheDir];
  const real = await servableFile(file, roots);
  const contentType = real && imageContentType(real);
  if (!real || !contentType) return { ok: false, status: 403, message: 'that file is not served' };
  return { ok: true, file: real, contentType };
}
