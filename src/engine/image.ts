import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import sharp from 'sharp';

/** Decompression-bomb guard: sharp refuses to decode anything larger (about 16k x 16k). */
export const MAX_INPUT_PIXELS = 268_402_689;

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

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
  try {
    const bytes = typeof input === 'string' ? (await stat(input)).size : input.length;
    if (bytes === 0) throw new Error('empty');
    const image = sharp(input, { limitInputPixels: MAX_INPUT_PIXELS, pages: 1, failOn: 'error' });
    const meta = await image.metadata();
    const swapsSides = (meta.orientation ?? 1) >= 5;
    const { data } = await image
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(size, size, { fit: 'cover', position: 'centre' })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (data.length !== size * size * 3) throw new Error(`decoded to ${data.length} bytes, expected ${size * size * 3}`);
    return {
      pixels: new Uint8Array(data.buffer, data.byteOffset, data.length),
      size,
      width: (swapsSides ? meta.height : meta.width) ?? 0,
      height: (swapsSides ? meta.width : meta.height) ?? 0,
    };
  } catch (error) {
    throw new ImageError(label, explainDecodeFailure(error));
  }
}

/** SHA-256 of the file's bytes: a renamed or moved photo keeps its hash, an edited one changes it. */
export async function hashFile(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

function explainDecodeFailure(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) return `image is larger than the ${MAX_INPUT_PIXELS.toLocaleString('en')} pixel limit (refused as a possible decompression bomb)`;
  if (/unsupported image format|Input buffer contains unsupported/i.test(message)) return 'not a supported image (JPEG, PNG, WebP, GIF, TIFF or AVIF)';
  if (message === 'empty') return 'file is empty';
  if (/ENOENT|Input file is missing/.test(message)) return 'file not found';
  if (/premature end|truncated|VipsJpeg|corrupt/i.test(message)) return `damaged or truncated image (${message.split('\n')[0]})`;
  return message.split('\n')[0];
}

function describe(input: string | Buffer): string {
  return typeof input === 'string' ? input : '(image data)';
}
