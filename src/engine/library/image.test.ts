import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeForModel, hashFile, ImageError, MAX_INPUT_PIXELS } from './image.js';
import { drawPhoto } from '../testing/test-photos.js';

type Rgb = [number, number, number];
const RED: Rgb = [255, 0, 0];
const GREEN: Rgb = [0, 255, 0];
const BLUE: Rgb = [0, 0, 255];
const WHITE: Rgb = [255, 255, 255];

let dir: string;
/** A photo-like JPEG drawn here: 300x200, many colours. */
let photo: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-img-'));
  photo = await drawPhoto(join(dir, 'drawn.jpg'), 300, 200);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, content: Buffer | string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

const realPhoto = () => photo;

/** Vertical stripes of equal width, one per colour, left to right. */
function stripes(width: number, height: number, colours: Rgb[]): sharp.Sharp {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) pixels.set(colours[Math.floor((x * colours.length) / width)], (y * width + x) * 3);
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } });
}

const halves = (width: number, height: number) => stripes(width, height, [RED, BLUE]);

const pixelAt = (decoded: { pixels: Uint8Array; size: number }, x: number, y: number) =>
  Array.from(decoded.pixels.subarray((y * decoded.size + x) * 3, (y * decoded.size + x) * 3 + 3));

/** Lossy formats and colour conversions move values a little; a wrong colour is far off. */
const expectColour = (actual: number[], expected: Rgb, what: string) =>
  expect(
    actual.every((v, i) => Math.abs(v - expected[i]) < 40),
    `${what}: got ${actual}, expected about ${expected}`,
  ).toBe(true);

/** Decodes at 8x8 and checks the left and right halves came out red and blue. */
async function expectRedLeftBlueRight(path: string) {
  const decoded = await decodeForModel(path, 8);
  expectColour(pixelAt(decoded, 1, 4), RED, `${path} left`);
  expectColour(pixelAt(decoded, 6, 4), BLUE, `${path} right`);
  return decoded;
}

async function decodeError(input: string | Buffer, label?: string): Promise<ImageError> {
  const error = await decodeForModel(input, 32, label).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `${label ?? String(input)} should fail`).toBeInstanceOf(ImageError);
  return error as ImageError;
}

/** A valid 1x1 PNG whose IHDR (with a correct CRC) now claims width x height. */
async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } }).png().toBuffer());
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}

/**
 * A baseline uncompressed RGB TIFF with 16 bits per sample, written by hand: sharp's own TIFF
 * output is always 8-bit, whatever the pipeline's depth.
 */
function tiff16(width: number, height: number, colourAt: (x: number, y: number) => number[]): Buffer {
  const entries: Array<[tag: number, type: number, count: number, value: number]> = [];
  const SHORT = 3;
  const LONG = 4;
  const ifdSize = 2 + 10 * 12 + 4;
  const bitsOffset = 8 + ifdSize;
  const dataOffset = bitsOffset + 6;
  const dataBytes = width * height * 6;
  entries.push(
    [256, LONG, 1, width],
    [257, LONG, 1, height],
    [258, SHORT, 3, bitsOffset], // BitsPerSample: 16,16,16 stored after the IFD
    [259, SHORT, 1, 1], // no compression
    [262, SHORT, 1, 2], // RGB
    [273, LONG, 1, dataOffset],
    [277, SHORT, 1, 3],
    [278, LONG, 1, height],
    [279, LONG, 1, dataBytes],
    [284, SHORT, 1, 1], // chunky (interleaved) samples
  );
  const out = Buffer.alloc(dataOffset + dataBytes);
  out.write('II*\0', 0, 'latin1');
  out.writeUInt32LE(8, 4);
  out.writeUInt16LE(entries.length, 8);
  entries.forEach(([tag, type, count, value], i) => {
    const at = 10 + i * 12;
    out.writeUInt16LE(tag, at);
    out.writeUInt16LE(type, at + 2);
    out.writeUInt32LE(count, at + 4);
    if (type === SHORT && count === 1) out.writeUInt16LE(value, at + 8);
    else out.writeUInt32LE(value, at + 8);
  });
  for (let i = 0; i < 3; i++) out.writeUInt16LE(16, bitsOffset + i * 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) colourAt(x, y).forEach((v, c) => out.writeUInt16LE(v, dataOffset + (y * width + x) * 6 + c * 2));
  }
  return out;
}

describe('decoding photos for the network', () => {
  it('decodes a photo to size x size x 3 RGB with its real dimensions', async () => {
    const meta = await sharp(realPhoto()).metadata();
    for (const size of [224, 97]) {
      const decoded = await decodeForModel(realPhoto(), size);
      expect(decoded.size).toBe(size);
      expect(decoded.pixels.length).toBe(size * size * 3);
      expect([decoded.width, decoded.height]).toEqual([meta.width, meta.height]);
      expect(new Set(decoded.pixels).size, 'a photo, not a flat colour').toBeGreaterThan(50);
    }
  });

  it('decodes bytes as well as files', async () => {
    const decoded = await decodeForModel(readFileSync(realPhoto()), 64);
    expect(decoded.pixels).toEqual((await decodeForModel(realPhoto(), 64)).pixels);
  });

  it('scales the shorter side and keeps the centre of a wide photo', async () => {
    const path = file('wide.png', await stripes(60, 20, [RED, GREEN, BLUE]).png().toBuffer());
    const decoded = await decodeForModel(path, 10);
    expect([decoded.width, decoded.height]).toEqual([60, 20]);
    for (const [x, y] of [[0, 0], [9, 0], [5, 5], [0, 9], [9, 9]]) expectColour(pixelAt(decoded, x, y), GREEN, `(${x},${y})`);
  });

  it('applies the EXIF orientation', async () => {
    // Stored 40x20 with "rotate 90° clockwise to show": shown 20x40, the red left half ends up on top.
    const path = file('rotated.jpg', await halves(40, 20).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer());
    const stored = await sharp(path).metadata();
    expect([stored.width, stored.height, stored.orientation]).toEqual([40, 20, 6]);
    const decoded = await decodeForModel(path, 32);
    expect([decoded.width, decoded.height]).toEqual([20, 40]);
    for (const x of [2, 29]) {
      expectColour(pixelAt(decoded, x, 2), RED, `top (${x})`);
      expectColour(pixelAt(decoded, x, 29), BLUE, `bottom (${x})`);
    }
  });

  it('turns a grayscale image into grey RGB', async () => {
    const grey = await sharp({ create: { width: 10, height: 10, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const decoded = await decodeForModel(file('grey.png', grey), 8);
    expectColour(pixelAt(decoded, 4, 4), [128, 128, 128], 'grey');
  });

  it('converts a CMYK JPEG to sRGB', async () => {
    const cmyk = await halves(20, 20).toColourspace('cmyk').jpeg().toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const decoded = await decodeForModel(file('cmyk.jpg', cmyk), 8);
    // CMYK's gamut dulls pure blue on the way back; what matters is the right colour in the right place.
    const [r1, g1, b1] = pixelAt(decoded, 1, 4);
    const [r2, g2, b2] = pixelAt(decoded, 6, 4);
    expect(r1 > 200 && g1 < 60 && b1 < 60, `left ${[r1, g1, b1]}`).toBe(true);
    expect(b2 > r2 + 60 && b2 > g2 + 60, `right ${[r2, g2, b2]}`).toBe(true);
  });

  it('puts transparent pixels on white', async () => {
    // Left half opaque red, right half fully transparent (black underneath).
    const pixels = Buffer.alloc(16 * 8 * 4);
    for (let i = 0; i < 16 * 8; i++) if (i % 16 < 8) pixels.set([255, 0, 0, 255], i * 4);
    const png = await sharp(pixels, { raw: { width: 16, height: 8, channels: 4 } }).png().toBuffer();
    expect((await sharp(png).metadata()).hasAlpha).toBe(true);
    const decoded = await decodeForModel(file('clear.png', png), 8);
    expectColour(pixelAt(decoded, 1, 4), RED, 'opaque half');
    expect(pixelAt(decoded, 6, 4)).toEqual(WHITE);
  });

  it('uses the first frame of an animated GIF', async () => {
    const frame = (colour: Rgb) => Buffer.concat(Array.from({ length: 8 * 8 }, () => Buffer.from(colour)));
    const gif = await sharp(Buffer.concat([frame(RED), frame(BLUE)]), { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const decoded = await decodeForModel(file('anim.gif', gif), 8);
    expect([decoded.width, decoded.height]).toEqual([8, 8]);
    expectColour(pixelAt(decoded, 4, 4), RED, 'first frame');
  });

  it('reduces 16-bit TIFF and PNG to 8-bit RGB by their high bytes', async () => {
    // The right half's low bytes are all zero: reading them instead of scaling would give black.
    const tiff = tiff16(20, 20, (x) => (x < 10 ? [0xffff, 0, 0] : [0x2000, 0x8000, 0xc000]));
    expect((await sharp(tiff).metadata()).depth).toBe('ushort');
    const fromTiff = await decodeForModel(file('deep.tif', tiff), 8);
    expectColour(pixelAt(fromTiff, 1, 4), RED, 'left');
    expectColour(pixelAt(fromTiff, 6, 4), [0x20, 0x80, 0xc0], 'right');

    const png = await halves(20, 20).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png).metadata()).depth).toBe('ushort');
    await expectRedLeftBlueRight(file('deep.png', png));
  });

  it('decodes WebP and AVIF', async () => {
    const webp = await halves(20, 20).webp({ quality: 95 }).toBuffer();
    expect((await sharp(webp).metadata()).format).toBe('webp');
    await expectRedLeftBlueRight(file('photo.webp', webp));

    const avif = await halves(32, 32).avif({ quality: 90 }).toBuffer();
    expect((await sharp(avif).metadata()).compression).toBe('av1');
    await expectRedLeftBlueRight(file('photo.avif', avif));
  });

  it('trusts the contents, not the extension', async () => {
    await expectRedLeftBlueRight(file('really-a-png.jpg', await halves(20, 20).png().toBuffer()));
  });
});

describe('photos that cannot be used', () => {
  it('says a truncated JPEG is damaged', async () => {
    const whole = readFileSync(realPhoto());
    const path = file('truncated.jpg', whole.subarray(0, whole.length / 2));
    const error = await decodeError(path);
    expect(error.message).toBe(`${path}: damaged or truncated JPEG (premature end of JPEG image)`);
    expect(error.path).toBe(path);
  });

  it('says a truncated PNG, GIF, WebP, TIFF or AVIF is damaged and names the format', async () => {
    const base = () => stripes(64, 64, [RED, GREEN, BLUE]);
    const encoded: Array<[string, string, Buffer]> = [
      ['PNG', 'png', await base().png().toBuffer()],
      ['GIF', 'gif', await base().gif().toBuffer()],
      ['WebP', 'webp', await base().webp().toBuffer()],
      ['TIFF', 'tif', await base().tiff().toBuffer()],
      ['AVIF', 'avif', await base().avif().toBuffer()],
    ];
    for (const [format, ext, bytes] of encoded) {
      const error = await decodeError(file(`truncated.${ext}`, bytes.subarray(0, bytes.length / 2)));
      expect(error.reason, format).toMatch(new RegExp(`^damaged or truncated ${format} \\(.+\\)$`));
      // libvips repeats the path on every "bad seek" line for HEIF; none of that belongs in the reason.
      expect(error.reason, format).not.toMatch(/bad seek|\n/);
      expect(error.reason, format).not.toContain(dir);
    }
  });

  it('says an empty file is empty', async () => {
    const path = file('zero.jpg', Buffer.alloc(0));
    expect((await decodeError(path)).message).toBe(`${path}: file is empty`);
    expect((await decodeError(Buffer.alloc(0), 'upload.jpg')).message).toBe('upload.jpg: file is empty');
  });

  it('says a text file named .jpg is not an image', async () => {
    const path = file('text.jpg', 'just some words');
    expect((await decodeError(path)).message).toBe(`${path}: not a supported image (its contents are not JPEG, PNG, WebP, GIF, TIFF or AVIF)`);
  });

  it('says HEIC (the prebuilt libvips has no HEVC decoder) is not supported rather than damaged', async () => {
    const ftyp = Buffer.from('\0\0\0\x18ftypheic\0\0\0\0mif1heic', 'latin1');
    const path = file('iphone.jpg', Buffer.concat([ftyp, Buffer.alloc(64, 7)]));
    expect((await decodeError(path)).reason).toBe('HEIC/HEIF photos are not supported (save it as JPEG)');
  });

  it('refuses a PNG claiming 20000x20000 as a decompression bomb, from its header alone', async () => {
    const path = file('bomb.png', await pngClaiming(20_000, 20_000));
    expect(20_000 * 20_000).toBeGreaterThan(MAX_INPUT_PIXELS);
    const rssBefore = process.memoryUsage().rss;
    const error = await decodeError(path);
    expect(error.reason).toBe('image is 20,000 × 20,000 pixels, more than the 268,402,689-pixel limit (refused as a possible decompression bomb)');
    // Decoding it would need 1.2 GB for the pixels alone.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
  });

  it('says a missing file is missing and a folder is not a photo', async () => {
    const missing = join(dir, 'missing.jpg');
    expect((await decodeError(missing)).message).toBe(`${missing}: file not found`);
    const folder = join(dir, 'folder.jpg');
    mkdirSync(folder);
    expect((await decodeError(folder)).message).toBe(`${folder}: is a folder, not a photo`);
  });

  it.skipIf(process.getuid?.() === 0)('says an unreadable file cannot be read (sharp alone calls it "unsupported")', async () => {
    const path = file('locked.jpg', readFileSync(realPhoto()));
    const { chmodSync } = await import('node:fs');
    chmodSync(path, 0o000);
    expect((await decodeError(path)).reason).toBe('permission denied (the file cannot be read)');
  });

  it('names the photo by its label when one is given', async () => {
    const error = await decodeError(Buffer.from('not an image'), 'daisy/odd.jpg');
    expect(error.path).toBe('daisy/odd.jpg');
    expect(error.message.startsWith('daisy/odd.jpg: not a supported image')).toBe(true);
  });
});

describe('content hash', () => {
  it('is the same for the same bytes under any name and changes when one byte does', async () => {
    const a = file('a.jpg', await halves(16, 16).jpeg().toBuffer());
    const b = file('b.jpg', readFileSync(a));
    expect(await hashFile(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(await hashFile(b)).toBe(await hashFile(a));
    const changed = readFileSync(a);
    changed[changed.length - 10] ^= 1;
    writeFileSync(b, changed);
    expect(await hashFile(b)).not.toBe(await hashFile(a));
  });
});
