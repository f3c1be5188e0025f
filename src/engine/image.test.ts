import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeForModel, hashFile, ImageError } from './image.js';
import { FLOWERS17, photosOf } from './testing/sample-library.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-img-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, content: Buffer | string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

/** Left half red, right half blue. */
const halves = (width: number, height: number) => {
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) pixels.set(x < width / 2 ? [255, 0, 0] : [0, 0, 255], (y * width + x) * 3);
  return sharp(pixels, { raw: { width, height, channels: 3 } });
};

const pixelAt = (decoded: { pixels: Uint8Array; size: number }, x: number, y: number) => Array.from(decoded.pixels.subarray((y * decoded.size + x) * 3, (y * decoded.size + x) * 3 + 3));
const near = (actual: number[], expected: number[]) => actual.every((v, i) => Math.abs(v - expected[i]) < 40);

describe('decoding photos for the network', () => {
  it('decodes a real flowers17 photo to size x size x 3 RGB', async () => {
    const decoded = await decodeForModel(join(FLOWERS17, 'daisy', photosOf('daisy')[0]), 224);
    expect(decoded.pixels.length).toBe(224 * 224 * 3);
    expect(decoded.width).toBeGreaterThan(0);
  });

  it('applies the EXIF orientation', async () => {
    // Stored 40x20 with "rotate 90° clockwise to show": shown 20x40, red (left) ends up on top.
    const path = file('rotated.jpg', await halves(40, 20).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer());
    const decoded = await decodeForModel(path, 32);
    expect([decoded.width, decoded.height]).toEqual([20, 40]);
    expect(near(pixelAt(decoded, 16, 2), [255, 0, 0])).toBe(true);
    expect(near(pixelAt(decoded, 16, 29), [0, 0, 255])).toBe(true);
  });

  it('converts grayscale, CMYK, 16-bit and transparent images to 8-bit sRGB on white', async () => {
    const grey = file('grey.png', await sharp({ create: { width: 10, height: 10, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toBuffer());
    const cmyk = file('cmyk.jpg', await halves(20, 20).toColourspace('cmyk').jpeg().toBuffer());
    const deep = file('deep.tif', await halves(20, 20).toColourspace('rgb16').tiff().toBuffer());
    const clear = file('clear.png', await sharp({ create: { width: 10, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer());
    expect(near(pixelAt(await decodeForModel(grey, 8), 4, 4), [128, 128, 128])).toBe(true);
    const fromCmyk = await decodeForModel(cmyk, 8);
    // CMYK's gamut dulls pure blue on the way back; what matters is the right colour in the right place.
    const [r1, g1, b1] = pixelAt(fromCmyk, 1, 4);
    const [r2, g2, b2] = pixelAt(fromCmyk, 6, 4);
    expect(r1 > 200 && g1 < 60 && b1 < 60).toBe(true);
    expect(b2 > r2 + 60 && b2 > g2 + 60).toBe(true);
    expect(near(pixelAt(await decodeForModel(deep, 8), 1, 4), [255, 0, 0])).toBe(true);
    expect(pixelAt(await decodeForModel(clear, 8), 4, 4)).toEqual([255, 255, 255]);
  });

  it('uses the first frame of an animated GIF', async () => {
    const red = Buffer.alloc(8 * 8 * 3, 0);
    const frames = Buffer.concat([Buffer.from(red.map((_, i) => (i % 3 === 0 ? 255 : 0))), Buffer.from(red.map((_, i) => (i % 3 === 2 ? 255 : 0)))]);
    const gif = await sharp(frames, { raw: { width: 8, height: 16, channels: 3, pageHeight: 8 } }).gif().toBuffer();
    expect((await sharp(gif, { pages: -1 }).metadata()).pages).toBe(2);
    const decoded = await decodeForModel(file('anim.gif', gif), 8);
    expect(near(pixelAt(decoded, 4, 4), [255, 0, 0])).toBe(true);
  });

  it('gives each bad file an error naming it and a specific reason', async () => {
    const jpeg = await halves(64, 48).jpeg().toBuffer();
    const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } }).png().toBuffer();
    const bomb = Buffer.from(png);
    bomb.writeUInt32BE(20000, 16);
    bomb.writeUInt32BE(20000, 20);
    bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29); // a valid header that claims 20000x20000
    const cases: Array<[string, Buffer | string, RegExp]> = [
      ['truncated.jpg', jpeg.subarray(0, jpeg.length / 2), /damaged or truncated/],
      ['zero.jpg', Buffer.alloc(0), /file is empty/],
      ['text.jpg', 'just some words', /not a supported image/],
      ['bomb.png', bomb, /pixel limit.*decompression bomb/],
    ];
    for (const [name, content, reason] of cases) {
      const path = file(name, content);
      const error = await decodeForModel(path, 224).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(ImageError);
      expect((error as ImageError).message.startsWith(`${path}: `), name).toBe(true);
      expect((error as ImageError).reason, name).toMatch(reason);
    }
    await expect(decodeForModel(join(dir, 'missing.jpg'), 224)).rejects.toThrow(/missing.jpg: file not found/);
  });

  it('hashes content: same bytes same hash, one byte changed a different one', async () => {
    const a = file('a.jpg', await halves(16, 16).jpeg().toBuffer());
    const b = file('b.jpg', readFileSync(a));
    expect(await hashFile(a)).toBe(await hashFile(b));
    const changed = readFileSync(a);
    changed[changed.length - 10] ^= 1;
    writeFileSync(b, changed);
    expect(await hashFile(a)).not.toBe(await hashFile(b));
  });
});
