import { createHash } from 'node:crypto';
import { open, readFile, stat } from 'node:fs/promises';
import sharp from 'sharp';

/** Decompression-bomb guard: sharp refuses to decode anything larger (about 16k x 16k). */
export const MAX_INPUT_PIXELS = 268_402_689;

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

const SUPPORTED_FORMATS = 'JPEG, PNG, WebP, GIF, TIFF or AVIF';

export interface DecodedImage {
  /** RGB, row-major, size x size x 3, values 0-255. */
  pixels: Uint8Array;
  size: number;
  /** Width and height of the photo as shown (after EXIF orientation). */
  width: number;
  height: number;
}

/** A photo that cannot be used, with the reason a person can act on. */
export class ImageError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'ImageError';
  }
}

/**
 * Decodes a photo into the network's square RGB input: EXIF orientation applied, the first frame of
 * an animation, grey/CMYK/alpha converted to sRGB on white, shorter side scaled to `size` and the
 * centre cropped (the photo's subject is rarely at its edges).
 */
export async function decodeForModel(input: string | Buffer, size: number, label = describe(input)): Promise<DecodedImage> {
  const head = await readHead(input, label);
  try {
    return await decodeSquare(input, size);
  } catch (error) {
    throw new ImageError(label, await explainDecodeFailure(error, input, head));
  }
}

/** SHA-256 of the file's bytes: a renamed or moved photo keeps its hash, an edited one changes it. */
export async function hashFile(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

async function decodeSquare(input: string | Buffer, size: number): Promise<DecodedImage> {
  const image = sharp(input, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1, failOn: 'error' });
  const meta = await image.metadata();
  const swapsSides = (meta.orientation ?? 1) >= 5;
  const data = await image
    .rotate()
    .flatten({ background: '#ffffff' })
    .toColourspace('srgb')
    .resize(size, size, { fit: 'cover', position: 'centre' })
    .removeAlpha()
    .raw()
    .toBuffer();
  if (data.length !== size * size * 3) throw new Error(`decoded to ${data.length} bytes, expected ${size * size * 3}`);
  return {
    pixels: new Uint8Array(data.buffer, data.byteOffset, data.length),
    size,
    width: (swapsSides ? meta.height : meta.width) ?? 0,
    height: (swapsSides ? meta.width : meta.height) ?? 0,
  };
}

const HEAD_BYTES = 32;

/**
 * The first bytes of the photo, which name its real format when the decoder fails. Reading them
 * ourselves also tells a missing, unreadable or empty file apart: sharp reports an unreadable file
 * as "unsupported image format".
 */
async function readHead(input: string | Buffer, label: string): Promise<Buffer> {
  if (Buffer.isBuffer(input)) {
    if (input.length === 0) throw new ImageError(label, 'file is empty');
    return input.subarray(0, HEAD_BYTES);
  }
  try {
    const info = await stat(input);
    if (info.isDirectory()) throw new ImageError(label, 'is a folder, not a photo');
    // Opening a FIFO or device would block or never end.
    if (!info.isFile()) throw new ImageError(label, 'not a regular file');
    if (info.size === 0) throw new ImageError(label, 'file is empty');
    return await readFileHead(input);
  } catch (error) {
    if (error instanceof ImageError) throw error;
    throw new ImageError(label, explainFileError(error as NodeJS.ErrnoException));
  }
}

async function readFileHead(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function explainFileError(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return 'file not found';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (the file cannot be read)';
    default:
      return `cannot read the file (${error.code ?? error.message})`;
  }
}

/** Turns what sharp/libvips says into a reason a person can act on; the messages quoted are sharp 0.34's. */
async function explainDecodeFailure(error: unknown, input: string | Buffer, head: Buffer): Promise<string> {
  const message = error instanceof Error ? error.message : String(error);
  if (/exceeds pixel limit/i.test(message)) return describeOversize(input);
  const format = sniffFormat(head);
  if (format === null) return `not a supported image (its contents are not ${SUPPORTED_FORMATS})`;
  if (format === 'HEIF') return 'HEIC/HEIF photos are not supported (save it as JPEG)';
  const detail = decoderDetail(message);
  if (/premature end|end of stream|end of .*data|truncat|corrupt header|checksum|unable to parse|invalid input|unsupported image format/i.test(message)) {
    return `damaged or truncated ${format} (${detail})`;
  }
  return `cannot decode this ${format} (${detail})`;
}

/** Reads only the header again, without the limit, to say how big the refused image claims to be. */
async function describeOversize(input: string | Buffer): Promise<string> {
  const limit = `${MAX_INPUT_PIXELS.toLocaleString('en')}-pixel limit (refused as a possible decompression bomb)`;
  const { width, height } = await sharp(input, { limitInputPixels: false })
    .metadata()
    .catch(() => ({ width: undefined, height: undefined }));
  if (!width || !height) return `image is larger than the ${limit}`;
  return `image is ${width.toLocaleString('en')} × ${height.toLocaleString('en')} pixels, more than the ${limit}`;
}

/**
 * The useful part of a libvips message. They look like "Input file has corrupt header: VipsJpeg:
 * premature end of JPEG image" or, for HEIF, many "<path>: bad seek to N" lines before the real one.
 */
function decoderDetail(message: string): string {
  const lines = message
    .replace(/^Input (file|buffer) has corrupt header:\s*/i, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !/bad seek to/.test(line) && !/^Input (file|buffer) contains unsupported image format$/i.test(line));
  const last = lines.at(-1);
  return last ? last.replace(/^(VipsJpeg|pngload|gifload|webp|heif|tiff2vips|tiffload)\s*:\s*/i, '') : 'the decoder cannot read its header';
}

/** The format the file's first bytes announce, whatever its extension says. */
function sniffFormat(head: Buffer): string | null {
  const ascii = (start: number, end: number) => head.toString('latin1', start, end);
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'JPEG';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'PNG';
  if (/^GIF8[79]a$/.test(ascii(0, 6))) return 'GIF';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  if (['II*\0', 'MM\0*', 'II+\0', 'MM\0+'].includes(ascii(0, 4))) return 'TIFF';
  if (ascii(4, 8) === 'ftyp') return /avi[fs]/.test(ascii(8, Math.min(head.length, head.readUInt32BE(0)))) ? 'AVIF' : 'HEIF';
  return null;
}

function describe(input: string | Buffer): string {
  return typeof input === 'string' ? input : '(image data)';
}
