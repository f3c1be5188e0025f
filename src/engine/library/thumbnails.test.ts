import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { thumbnailFile, thumbnailsEncoded } from './thumbnails.js';
import { drawPhoto } from '../testing/test-photos.js';

let dir: string;
let cache: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lookalike-thumbs-'));
  cache = join(dir, 'cache');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function pixel(file: string, x: number, y: number): Promise<[number, number, number]> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const i = (y * info.width + x) * 3;
  return [data[i], data[i + 1], data[i + 2]];
}

/** Every file under the cache, relative. */
async function cacheFiles(): Promise<string[]> {
  return (await readdir(cache, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
}

describe('thumbnailFile', () => {
  it('makes a square WebP of a photo, cover-cropped to the requested edge', async () => {
    const photo = await drawPhoto(join(dir, 'wide.jpg'), 320, 240, 1);
    const source = await sharp(photo).metadata();
    expect(source.width).not.toBe(source.height);

    const thumb = await thumbnailFile(photo, cache, 256);
    const meta = await sharp(thumb).metadata();
    expect(meta.format).toBe('webp');
    expect([meta.width, meta.height]).toEqual([256, 256]);
    expect(thumb.startsWith(cache)).toBe(true);

    const small = await thumbnailFile(photo, cache, 64);
    expect(small).not.toBe(thumb);
    expect((await sharp(small).metadata()).width).toBe(64);
  });

  it('applies the EXIF orientation before cropping', async () => {
    // 200x100 stored, left half red and right half blue; orientation 6 shows it turned 90° clockwise,
    // i.e. 100x200 with red on top and blue below.
    const half = (r: number, b: number) => sharp({ create: { width: 100, height: 100, channels: 3, background: { r, g: 0, b } } }).png().toBuffer();
    const stored = await sharp({ create: { width: 200, height: 100, channels: 3, background: '#000' } })
      .composite([
        { input: await half(255, 0), left: 0, top: 0 },
        { input: await half(0, 255), left: 100, top: 0 },
      ])
      .jpeg({ quality: 95 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    const photo = join(dir, 'rotated.jpg');
    await writeFile(photo, stored);

    const thumb = await thumbnailFile(photo, cache, 128);
    const top = await pixel(thumb, 64, 8);
    const bottom = await pixel(thumb, 64, 120);
    expect(top[0]).toBeGreaterThan(200);
    expect(top[2]).toBeLessThan(60);
    expect(bottom[2]).toBeGreaterThan(200);
    expect(bottom[0]).toBeLessThan(60);
  });

  it('is made once: a second request is a cache hit, concurrent requests share one job', async () => {
    const photo = await drawPhoto(join(dir, 'second.jpg'), 240, 320, 2);
    const before = thumbnailsEncoded();
    const paths = await Promise.all(Array.from({ length: 6 }, () => thumbnailFile(photo, cache, 200)));
    expect(new Set(paths).size).toBe(1);
    expect(thumbnailsEncoded() - before).toBe(1);

    const firstMtime = (await stat(paths[0])).mtimeMs;
    expect(await thumbnailFile(photo, cache, 200)).toBe(paths[0]);
    expect(thumbnailsEncoded() - before).toBe(1);
    expect((await stat(paths[0])).mtimeMs).toBe(firstMtime);
    expect((await cacheFiles()).filter((name) => name.endsWith('.part'))).toEqual([]);
  });

  it('makes a new thumbnail when the photo changes', async () => {
    const photo = await drawPhoto(join(dir, 'third.jpg'), 300, 300, 3);
    const first = await thumbnailFile(photo, cache);
    const later = new Date(Date.UTC(2030, 0, 1));
    await utimes(photo, later, later);
    const second = await thumbnailFile(photo, cache);
    expect(second).not.toBe(first);
  });

  it('rejects a file that is not an image and leaves nothing behind', async () => {
    const bogus = join(dir, 'notes.jpg');
    await writeFile(bogus, 'this is not a JPEG');
    const before = await cacheFiles();
    await expect(thumbnailFile(bogus, cache)).rejects.toThrow();
    expect(await cacheFiles()).toEqual(before);
    await expect(thumbnailFile(join(dir, 'missing.jpg'), cache)).rejects.toThrow(/ENOENT/);
  });
});
