import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { describeFileError, formatBytes } from '../common/error-words.js';

/**
 * The one door every photo comes in by (the scan's hashing, decoding for the backbone, thumbnails,
 * `similar` on a file, an image dropped in the UI): only a regular file, never larger than any photo
 * could reasonably be, and only bytes that announce a supported format reach the decoder. sharp is
 * never handed anything else, so an SVG (which can load other files) or a FIFO never gets to it.
 */
export const MAX_PHOTO_BYTES = 256 * 1024 * 1024;

export const SUPPORTED_FORMATS = 'JPEG, PNG, WebP, GIF, TIFF or AVIF';

/** A photo that cannot be used, with the reason a person can act on. */
export class ImageError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    /** The file could not be read this time (gone, locked, unplugged): worth trying again later. */
    readonly passing = false,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'ImageError';
  }
}

/** Refuses what is not a regular file or is larger than any photo; a directory, FIFO or device never gets read. */
export function checkPhotoStats(info: Stats, label: string): void {
  if (info.isDirectory()) throw new ImageError(label, 'is a folder, not a photo');
  if (!info.isFile()) throw new ImageError(label, 'not a regular file (a pipe, device or socket); refused');
  if (info.size === 0) throw new ImageError(label, 'file is empty');
  if (info.size > MAX_PHOTO_BYTES) throw new ImageError(label, tooLarge(info.size));
}

/**
 * Opens a photo without ever blocking (O_NONBLOCK: opening a FIFO with no writer would wait forever)
 * and checks what was opened, not what the path pointed to a moment before.
 */
export async function openPhoto(path: string, label = path): Promise<{ handle: FileHandle; size: number }> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    throw new ImageError(label, describeFileError(error), true);
  }
  try {
    const info = await handle.stat();
    checkPhotoStats(info, label);
    return { handle, size: info.size };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The photo's bytes, after the checks above; at most the size it had when opened. */
export async function readPhoto(path: string, label = path): Promise<Buffer> {
  const { handle, size } = await openPhoto(path, label);
  try {
    const bytes = Buffer.alloc(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await handle.read(bytes, filled, size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    if (filled === 0) throw new ImageError(label, 'file is empty');
    return filled === size ? bytes : bytes.subarray(0, filled);
  } catch (error) {
    if (error instanceof ImageError) throw error;
    throw new ImageError(label, describeFileError(error), true);
  } finally {
    await handle.close();
  }
}

/** SHA-256 of the file's bytes, streamed (memory stays flat whatever the size; the size limit holds). */
export async function hashPhoto(path: string, label = path): Promise<string> {
  const { handle } = await openPhoto(path, label);
  const hash = createHash('sha256');
  try {
    let read = 0;
    for await (const chunk of handle.createReadStream({ autoClose: false, highWaterMark: 1 << 20 })) {
      read += (chunk as Buffer).length;
      if (read > MAX_PHOTO_BYTES) throw new ImageError(label, tooLarge(read));
      hash.update(chunk as Buffer);
    }
  } catch (error) {
    if (error instanceof ImageError) throw error;
    throw new ImageError(label, describeFileError(error), true);
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/** The format the bytes announce (whatever the file's name says), or a reason to refuse them before any decoder sees them. */
export function checkPhotoBytes(bytes: Buffer, label: string): string {
  if (bytes.length === 0) throw new ImageError(label, 'file is empty');
  if (bytes.length > MAX_PHOTO_BYTES) throw new ImageError(label, tooLarge(bytes.length));
  const format = sniffFormat(bytes);
  if (format === 'HEIF') throw new ImageError(label, 'HEIC/HEIF photos are not supported (save it as JPEG)');
  if (format !== null) return format;
  if (looksLikeSvg(bytes)) throw new ImageError(label, `an SVG drawing, not a photo; SVG is not supported (${SUPPORTED_FORMATS} are)`);
  throw new ImageError(label, `not a supported image (its contents are not ${SUPPORTED_FORMATS})`);
}

/** The format the first bytes announce, or null. */
export function sniffFormat(head: Buffer): string | null {
  const ascii = (start: number, end: number) => head.toString('latin1', start, Math.min(end, head.length));
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'JPEG';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'PNG';
  if (/^GIF8[79]a$/.test(ascii(0, 6))) return 'GIF';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  if (['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].includes(ascii(0, 4))) return 'TIFF';
  if (head.length >= 12 && ascii(4, 8) === 'ftyp') return /avi[fs]/.test(ascii(8, Math.min(head.length, head.readUInt32BE(0)))) ? 'AVIF' : 'HEIF';
  return null;
}

function looksLikeSvg(bytes: Buffer): boolean {
  const start = bytes.toString('utf8', 0, Math.min(bytes.length, 4096)).replace(/^\uFEFF/, '').trimStart().toLowerCase();
  return start.startsWith('<svg') || ((start.startsWith('<?xml') || start.startsWith('<!doctype svg') || start.startsWith('<!--')) && start.includes('<svg'));
}

function tooLarge(size: number): string {
  return `file is ${formatBytes(size)}, larger than any photo Lookalike takes (limit ${formatBytes(MAX_PHOTO_BYTES)}); refused without reading it`;
}
