import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawPhoto } from '../testing/test-photos.js';
import { decodeForModel } from './image.js';
import { hashPhoto, MAX_PHOTO_BYTES, readPhoto } from './photo-gate.js';
import { scanLibrary } from './scan.js';
import { thumbnailFile } from './thumbnails.js';

let dir: string;
/** A photo-like JPEG drawn here. */
let photo: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-input-'));
  photo = await drawPhoto(join(dir, 'drawn.jpg'));
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A file of `bytes` that takes no disk space (a hole), so the test costs nothing but the read. */
function sparse(name: string, bytes: number, head?: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, head ?? Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
  truncateSync(path, bytes);
  return path;
}

describe('one guard for every way a photo comes in', () => {
  it('hashes by streaming: a 200 MB file costs far less than 200 MB of memory, and the hash is the same', async () => {
    const path = sparse('big-but-allowed.jpg', 200 * 1024 * 1024);
    const before = process.resourceUsage().maxRSS;
    const hash = await hashPhoto(path);
    const grewKb = process.resourceUsage().maxRSS - before;
    expect(grewKb).toBeLessThan(64 * 1024);
    // The same bytes, hashed here a megabyte at a time: the JPEG marker, then the hole's zeros.
    const expected = createHash('sha256').update(Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
    const zeros = Buffer.alloc(1024 * 1024);
    for (let left = 200 * 1024 * 1024 - 4; left > 0; left -= zeros.length) expected.update(left >= zeros.length ? zeros : zeros.subarray(0, left));
    expect(hash).toBe(expected.digest('hex'));
  });

  it('refuses a file larger than any photo before reading it: hashing, decoding, thumbnails and the scan', async () => {
    const huge = sparse('huge.jpg', 3 * 1024 * 1024 * 1024);
    await expect(hashPhoto(huge)).rejects.toThrow(/huge\.jpg: file is 3\.0 GB, larger than any photo Lookalike takes \(limit 256 MB\)/);
    await expect(decodeForModel(huge, 224)).rejects.toThrow(/larger than any photo/);
    await expect(thumbnailFile(huge, join(dir, 'cache'))).rejects.toThrow(/larger than any photo/);
    const library = join(dir, 'library-huge');
    mkdirSync(join(library, 'cats'), { recursive: true });
    sparse('library-huge/cats/huge.jpg', MAX_PHOTO_BYTES + 1);
    const scan = await scanLibrary(library);
    expect(scan.files).toEqual([]);
    expect(scan.problems).toEqual([{ path: 'cats/huge.jpg', reason: expect.stringMatching(/larger than any photo/) }]);
  });

  it('refuses FIFOs and devices at once, without opening them for a blocking read', async () => {
    const fifo = join(dir, 'pipe.jpg');
    execFileSync('mkfifo', [fifo]);
    for (const special of [fifo, '/dev/zero', '/dev/urandom']) {
      await expect(readPhoto(special)).rejects.toThrow(/not a regular file/);
      await expect(hashPhoto(special)).rejects.toThrow(/not a regular file/);
      await expect(decodeForModel(special, 224)).rejects.toThrow(/not a regular file/);
    }
    await expect(readPhoto(dir)).rejects.toThrow(/is a folder/);
  });

  it('never hands sharp an SVG, whatever it is named, and says what it is', async () => {
    // An SVG that would pull another file into the picture if a decoder rendered it.
    const other = photo;
    const svg = `<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64"><image xlink:href="file://${other}" width="64" height="64"/></svg>`;
    const named = join(dir, 'drawing.jpg');
    writeFileSync(named, svg);
    await expect(decodeForModel(named, 224)).rejects.toThrow(/drawing\.jpg: an SVG drawing, not a photo/);
    await expect(decodeForModel(Buffer.from(svg), 224, 'dropped.png')).rejects.toThrow(/dropped\.png: an SVG drawing/);
    await expect(thumbnailFile(named, join(dir, 'cache'))).rejects.toThrow(/an SVG drawing/);
    const html = join(dir, 'page.jpg');
    writeFileSync(html, '<!doctype html><p>hello');
    await expect(decodeForModel(html, 224)).rejects.toThrow(/not a supported image/);
  });

  it('still decodes the real thing', async () => {
    expect((await decodeForModel(photo, 224)).pixels).toHaveLength(224 * 224 * 3);
    const fd = openSync(join(dir, 'copy.jpg'), 'w');
    writeSync(fd, readFileSync(photo));
    closeSync(fd);
    expect(await hashPhoto(join(dir, 'copy.jpg'))).toBe(createHash('sha256').update(readFileSync(photo)).digest('hex'));
  });
});
