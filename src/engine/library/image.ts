import sharp from 'sharp';
import { checkPhotoBytes, ImageError, readPhoto } from './photo-gate.js';

export { hashPhoto as hashFile, ImageError, MAX_PHOTO_BYTES } from './photo-gate.js';

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

/**
 * Decodes a photo into the network's square RGB input: EXIF orientation applied, the first frame of
 * an animation, grey/CMYK/alpha converted to sRGB on white, shorter side scaled to `size` and the
 * centre cropped (the photo's subject is rarely at its edges).
 */
export async function decodeForModel(input: string | Buffer, size: number, label = describe(input)): Promise<DecodedImage> {
  // sharp only ever gets bytes read through the guard (never a path it would open itself), and only
  // once they announce a supported format.
  const bytes = Buffer.isBuffer(input) ? input : await readPhoto(input, label);
  const format = checkPhotoBytes(bytes, label);
  try {
    return await decodeSquare(bytes, size);
  } catch (error) {
    throw new ImageError(label, await explainDecodeFailure(error, bytes, format));
  }
}

async function decodeSquare(input: Buffer, size: number): Promise<DecodedImage> {
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

/** Turns what sharp/libvips says into a reason a person can act on; the messages quoted are sharp 0.34's. */
async function explainDecodeFailure(error: unknown, input: Buffer, format: string): Promise<string> {
  const message = error instanceof Error ? error.message : String(error);
  if (/exceeds pixel limit/i.test(message)) return describeOversize(input);
  const detail = decoderDetail(message);
  if (/premature end|end of stream|end of .*data|truncat|corrupt header|checksum|unable to parse|invalid input|unsupported image format/i.test(message)) {
    return `damaged or truncated ${format} (${detail})`;
  }
  return `cannot decode this ${format} (${detail})`;
}

/** Reads only the header again, without the limit, to say how big the refused image claims to be. */
async function describeOversize(input: Buffer): Promise<string> {
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

function describe(input: string | Buffer): string {
  return typeof input === 'string' ? input : '(image data)';
}
