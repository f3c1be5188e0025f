import { createHash, randomBytes } from 'node:crypto';
import { rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { MAX_INPUT_PIXELS } from './image.js';
import { checkPhotoBytes, checkPhotoStats, readPhoto } from './photo-gate.js';
import { CACHEDIR_SIGNATURE, CACHEDIR_TAG } from './scan.js';
import { makePrivateFolder, writePrivateFile } from '../common/private-files.js';

/** Bump when the way thumbnails are made changes, so old cache entries are not reused. */
const RECIPE = 'v1-webp-q80-cover-centre';

/** Jobs in flight, by cache key: concurrent requests for the same thumbnail share one. */
const inFlight = new Map<string, Promise<string>>();
let encodes = 0;

/** How many thumbnails this process has encoded (cache hits and shared jobs don't count). */
export function thumbnailsEncoded(): number {
  return encodes;
}

/** The cache key of a thumbnail: the photo's absolute path, its mtime and byte size, and the edge. */
export function thumbnailKey(absPath: string, mtimeMs: number, bytes: number, edge: number): string {
  return createHash('sha256').update(JSON.stringify([RECIPE, absPath, Math.trunc(mtimeMs), bytes, edge])).digest('hex');
}

/**
 * A square WebP thumbnail of a photo (EXIF orientation applied, centre cover-cropped to `size` x `size`),
 * made once with sharp and cached in `cacheDir` under a key of (path, mtime, file size, edge). An edited
 * photo gets a new key, so a stale thumbnail is never served. Resolves to the thumbnail's absolute path.
 */
export async function thumbnailFile(absPath: string, cacheDir: string, size = 256): Promise<string> {
  if (!Number.isInteger(size) || size < 16 || size > 2048) throw new RangeError(`thumbnail size must be an integer in 16..2048, got ${size}`);
  const info = await stat(absPath);
  checkPhotoStats(info, absPath);
  const key = thumbnailKey(absPath, info.mtimeMs, info.size, size);
  const target = join(cacheDir, key.slice(0, 2), `${key}.webp`);

  const pending = inFlight.get(key);
  if (pending) return pending;
  const job = makeOnce(absPath, target, size, cacheDir).finally(() => inFlight.delete(key));
  inFlight.set(key, job);
  return job;
}

async function makeOnce(absPath: string, target: string, size: number, cacheDir: string): Promise<string> {
  if (await exists(target)) return target;
  await tagAsCache(cacheDir);
  await makePrivateFolder(join(target, '..'));
  // Write beside the target and rename: a reader never sees half a file, even across processes.
  const partial = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.part`;
  try {
    // Through the same guard as decoding: sharp gets checked bytes, never a path (an SVG could load other files).
    const bytes = await readPhoto(absPath);
    checkPhotoBytes(bytes, absPath);
    encodes += 1;
    const webp = await sharp(bytes, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1, failOn: 'error' })
      .rotate()
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .webp({ quality: 80, effort: 2 })
      .toBuffer();
    await writePrivateFile(partial, webp);
    await rename(partial, target);
  } catch (error) {
    await unlink(partial).catch(() => undefined);
    throw error;
  }
  return target;
}

const tagged = new Set<string>();

/**
 * Makes the cache folder private (thumbnails show the person's photos; it is Lookalike's own folder, so
 * one left readable by an older version is tightened) and marks it as a cache (CACHEDIR.TAG): backups
 * skip it, and a library scan never indexes it.
 */
async function tagAsCache(cacheDir: string): Promise<void> {
  if (tagged.has(cacheDir)) return;
  await makePrivateFolder(cacheDir, { tighten: true });
  await writePrivateFile(join(cacheDir, CACHEDIR_TAG), `${CACHEDIR_SIGNATURE}\n# This file marks Lookalike's thumbnail cache; see https://bford.info/cachedir/\n`).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  tagged.add(cacheDir);
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).size > 0;
  } catch {
    return false;
  }
}
