import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { scanLibrary } from './library.js';

let root: string;
let outside: string;
let jpeg: Buffer;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'lookalike-scan-'));
  outside = mkdtempSync(join(tmpdir(), 'lookalike-outside-'));
  jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#c33' } }).jpeg().toBuffer();
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

const put = (rel: string, content: Buffer | string = jpeg) => {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), content);
};

function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((entry) => `${entry}:${statSync(join(dir, entry), { throwIfNoEntry: false })?.mtimeMs ?? 'link'}`);
}

describe('library scan', () => {
  it('makes classes of first-level folders, nested photos belong to them, root photos are unlabelled', async () => {
    put('cats/a.jpg');
    put('cats/indoor/b.PNG');
    put('dogs/c.jpeg');
    put('loose.webp');
    mkdirSync(join(root, 'empty-class'));
    const scan = await scanLibrary(root);
    expect(scan.classes).toEqual(['cats', 'dogs', 'empty-class']);
    expect(scan.files.map((f) => [f.relPath, f.className])).toEqual([
      ['cats/a.jpg', 'cats'],
      ['cats/indoor/b.PNG', 'cats'],
      ['dogs/c.jpeg', 'dogs'],
      ['loose.webp', null],
    ]);
    expect(scan.files[0].size).toBe(jpeg.length);
    expect(scan.problems).toEqual([]);
  });

  it('skips hidden entries and non-images silently, reports empty files', async () => {
    put('cats/.hidden.jpg');
    put('.thumbnails/x.jpg');
    put('cats/notes.txt', 'hello');
    put('cats/zero.jpg', Buffer.alloc(0));
    put('cats/ok.jpg');
    const scan = await scanLibrary(root);
    expect(scan.classes).toEqual(['cats']);
    expect(scan.files.map((f) => f.relPath)).toEqual(['cats/ok.jpg']);
    expect(scan.problems).toEqual([{ path: 'cats/zero.jpg', reason: 'file is empty' }]);
  });

  it('handles names with spaces, quotes and emoji, and reports names that are not UTF-8', async () => {
    put(`flowers "best" 🌻/it's a photo.jpg`);
    mkdirSync(join(root, 'odd'));
    writeFileSync(Buffer.from(`${join(root, 'odd')}/f\xff.jpg`, 'latin1'), jpeg);
    const scan = await scanLibrary(root);
    expect(scan.files.map((f) => f.relPath)).toEqual([`flowers "best" 🌻/it's a photo.jpg`]);
    expect(scan.problems).toHaveLength(1);
    expect(scan.problems[0].path.startsWith('odd/f')).toBe(true);
    expect(scan.problems[0].reason).toMatch(/not valid UTF-8/);
  });

  it('follows symlinks inside the library, refuses ones pointing outside, and survives a loop', async () => {
    put('cats/a.jpg');
    writeFileSync(join(outside, 'secret.jpg'), jpeg);
    symlinkSync(join(outside, 'secret.jpg'), join(root, 'cats', 'escape.jpg'));
    symlinkSync(outside, join(root, 'elsewhere'));
    symlinkSync(join(root, 'cats', 'a.jpg'), join(root, 'cats', 'alias.jpg'));
    symlinkSync(join(root, 'cats'), join(root, 'cats', 'loop'));
    const scan = await scanLibrary(root);
    expect(scan.files.map((f) => f.relPath)).toEqual(['cats/a.jpg', 'cats/alias.jpg']);
    expect(scan.problems.map((p) => p.path).sort()).toEqual(['cats/escape.jpg', 'cats/loop', 'elsewhere']);
    expect(scan.problems.find((p) => p.path === 'elsewhere')!.reason).toMatch(/outside the library/);
    expect(scan.problems.find((p) => p.path === 'cats/loop')!.reason).toMatch(/loop/);
  });

  it('scans a folder of 10,000 photos', async () => {
    mkdirSync(join(root, 'many'));
    put('many/0.jpg');
    for (let i = 1; i < 10_000; i++) copyFileSync(join(root, 'many/0.jpg'), join(root, 'many', `${i}.jpg`));
    const scan = await scanLibrary(root);
    expect(scan.files).toHaveLength(10_000);
    expect(new Set(scan.files.map((f) => f.relPath)).size).toBe(10_000);
  });

  it('only reads: the folder is unchanged after a scan', async () => {
    put('cats/a.jpg');
    put('dogs/b.jpg');
    const before = listing(root);
    await scanLibrary(root);
    expect(listing(root)).toEqual(before);
  });

  it('names the folder and the reason when the root cannot be used', async () => {
    await expect(scanLibrary(join(root, 'nope'))).rejects.toThrow(/nope: folder not found/);
    put('file.jpg');
    await expect(scanLibrary(join(root, 'file.jpg'))).rejects.toThrow(/file.jpg: not a folder/);
  });
});
