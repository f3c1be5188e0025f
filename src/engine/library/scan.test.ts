import { chmodSync, copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { PathLike } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { scanLibrary, type ScanResult } from './scan.js';

/** Folders whose listing the mocked readdir refuses with EACCES (root can read anything, so chmod can't). */
const refusedFolders = vi.hoisted(() => new Set<string>());
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const readdir = (path: PathLike, options?: unknown) =>
    refusedFolders.has(String(path))
      ? Promise.reject(Object.assign(new Error(`EACCES: permission denied, scandir '${String(path)}'`), { code: 'EACCES' }))
      : fs.readdir(path, options as never);
  return { ...fs, readdir };
});

let jpeg: Buffer;
let png: Buffer;
let root: string;
let outside: string;

beforeAll(async () => {
  jpeg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#c33' } }).jpeg().toBuffer();
  png = await sharp({ create: { width: 8, height: 8, channels: 4, background: '#3c38' } }).png().toBuffer();
});
beforeEach(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'lookalike-scan-')));
  outside = realpathSync(mkdtempSync(join(tmpdir(), 'lookalike-outside-')));
});
afterEach(() => {
  refusedFolders.clear();
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

/** Writes a file under the library root, making its folders. */
function put(relPath: string, content: Buffer | string = jpeg): string {
  const path = join(root, relPath);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content);
  return path;
}

function link(relPath: string, target: string): void {
  mkdirSync(join(root, relPath, '..'), { recursive: true });
  symlinkSync(target, join(root, relPath));
}

/** Every entry under dir (links not followed) with its mode, size and mtime; names as bytes, some aren't UTF-8. */
function snapshot(dir: Buffer | string): string[] {
  const entries: string[] = [];
  for (const name of readdirSync(dir, { encoding: 'buffer' })) {
    const path = Buffer.concat([Buffer.from(dir), Buffer.from('/'), name]);
    const info = lstatSync(path);
    entries.push(`${path.toString('hex')} ${info.mode} ${info.size} ${info.mtimeMs}`);
    if (info.isDirectory()) entries.push(...snapshot(path));
  }
  return entries.sort();
}

const paths = (scan: ScanResult) => scan.files.map((f) => f.relPath);
const labelled = (scan: ScanResult) => scan.files.map((f) => [f.relPath, f.className]);
const reasonFor = (scan: ScanResult, path: string) => scan.problems.filter((p) => p.path === path).map((p) => p.reason);

describe('library scan', () => {
  it('makes classes of first-level folders; deeper photos belong to them, root photos are unlabelled', async () => {
    put('cats/a.jpg');
    put('cats/indoor/sofa/b.PNG', png);
    put('dogs/c.jpeg');
    put('dogs/d.Jpe');
    put('loose.webp');
    mkdirSync(join(root, 'empty-class'));
    mkdirSync(join(root, 'only-subfolders/deeper'), { recursive: true });

    const scan = await scanLibrary(root);

    expect(scan.root).toBe(root);
    expect(scan.classes).toEqual(['cats', 'dogs', 'empty-class', 'only-subfolders']);
    expect(labelled(scan)).toEqual([
      ['cats/a.jpg', 'cats'],
      ['cats/indoor/sofa/b.PNG', 'cats'],
      ['dogs/c.jpeg', 'dogs'],
      ['dogs/d.Jpe', 'dogs'],
      ['loose.webp', null],
    ]);
    expect(scan.problems).toEqual([]);
  });

  it('gives each photo its absolute path, size and mtime', async () => {
    const path = put('cats/indoor/b.png', png);
    const [file] = (await scanLibrary(root)).files;
    const info = lstatSync(path);
    expect(file).toEqual({ relPath: 'cats/indoor/b.png', absPath: path, className: 'cats', size: png.length, mtimeMs: Math.round(info.mtimeMs) });
  });

  it('skips hidden entries and non-images silently, and reports empty photos', async () => {
    put('cats/.hidden.jpg');
    put('.thumbnails/x.jpg');
    put('cats/.cache/y.jpg');
    put('.DS_Store', 'junk');
    put('cats/notes.txt', 'hello');
    put('cats/raw.cr2', 'not ours');
    put('cats/jpg', 'no extension');
    put('cats/empty.txt', '');
    put('cats/zero.jpg', Buffer.alloc(0));
    put('cats/ok.jpg');

    const scan = await scanLibrary(root);

    expect(scan.classes).toEqual(['cats']);
    expect(paths(scan)).toEqual(['cats/ok.jpg']);
    expect(scan.problems).toEqual([{ path: 'cats/zero.jpg', reason: 'file is empty' }]);
  });

  it('handles names with spaces, quotes and emoji', async () => {
    const classes = [`flowers "best" 🌻`, "it's", 'a b  c'];
    put(`${classes[0]}/it's a "photo" 🌼.jpg`);
    put(`${classes[1]}/x.png`, png);
    put(`${classes[2]}/sub folder/ü.jpg`);

    const scan = await scanLibrary(root);

    expect(scan.classes).toEqual([...classes].sort());
    expect(labelled(scan)).toEqual([
      [`a b  c/sub folder/ü.jpg`, 'a b  c'],
      [`flowers "best" 🌻/it's a "photo" 🌼.jpg`, `flowers "best" 🌻`],
      [`it's/x.png`, "it's"],
    ]);
    expect(scan.problems).toEqual([]);
  });

  it('reports names that are not valid UTF-8 (readably) and skips them', async () => {
    put('odd/fine.jpg');
    const inOdd = (...bytes: number[]) => Buffer.concat([Buffer.from(`${join(root, 'odd')}/`), Buffer.from(bytes)]);
    writeFileSync(inOdd(0x66, 0xff, 0x2e, 0x6a, 0x70, 0x67), jpeg); // "f\xff.jpg"
    writeFileSync(inOdd(0x6e, 0xfe, 0x2e, 0x74, 0x78, 0x74), 'a note'); // "n\xfe.txt": not an image, so silent
    mkdirSync(inOdd(0x64, 0xc3, 0x28)); // "d\xc3(": an invalid sequence, as a folder
    writeFileSync(Buffer.concat([inOdd(0x64, 0xc3, 0x28), Buffer.from('/inside.jpg')]), jpeg);

    const scan = await scanLibrary(root);

    expect(paths(scan)).toEqual(['odd/fine.jpg']);
    expect(scan.problems).toEqual([
      { path: 'odd/d\uFFFD(', reason: 'folder name is not valid UTF-8; rename it to include it' },
      { path: 'odd/f\uFFFD.jpg', reason: 'file name is not valid UTF-8; rename it to include it' },
    ]);
  });

  describe('symlinks', () => {
    it('follows links to photos and folders inside the library', async () => {
      put('cats/a.jpg');
      put('cats/best/b.jpg');
      put('.store/birds/c.jpg');
      link('cats/alias.jpg', join(root, 'cats/a.jpg'));
      link('cats/relative.jpg', 'a.jpg');
      link('favourites', join(root, 'cats/best')); // a class made of a link
      link('dogs/borrowed', '../cats/best'); // another class's folder, inside a real class
      link('birds', join(root, '.store/birds')); // a class whose photos live in a hidden folder

      const scan = await scanLibrary(root);

      expect(scan.classes).toEqual(['birds', 'cats', 'dogs', 'favourites']);
      expect(labelled(scan)).toEqual([
        ['birds/c.jpg', 'birds'],
        ['cats/a.jpg', 'cats'],
        ['cats/alias.jpg', 'cats'],
        ['cats/best/b.jpg', 'cats'],
        ['cats/relative.jpg', 'cats'],
        ['dogs/borrowed/b.jpg', 'dogs'],
        ['favourites/b.jpg', 'favourites'],
      ]);
      expect(scan.files.find((f) => f.relPath === 'cats/alias.jpg')!.size).toBe(jpeg.length);
      expect(scan.problems).toEqual([]);
    });

    it('reports links pointing outside the library and never lists what they point at', async () => {
      put('cats/a.jpg');
      writeFileSync(join(outside, 'secret.jpg'), jpeg);
      link('cats/escape.jpg', join(outside, 'secret.jpg'));
      link('elsewhere', outside);
      link('cats/sneaky', '../../' + outside.split('/').pop());

      const scan = await scanLibrary(root);

      expect(paths(scan)).toEqual(['cats/a.jpg']);
      expect(scan.classes).toEqual(['cats']);
      expect(scan.problems).toEqual([
        { path: 'cats/escape.jpg', reason: 'symlink points outside the library; skipped' },
        { path: 'cats/sneaky', reason: 'symlink points outside the library; skipped' },
        { path: 'elsewhere', reason: 'symlink points outside the library; skipped' },
      ]);
    });

    it('reports each loop once and finishes', async () => {
      put('cats/a.jpg');
      put('dogs/b.jpg');
      link('cats/loop', join(root, 'cats')); // back to its own folder
      link('cats/up', root); // back to the root
      link('dogs/to-cats', '../cats'); // into another class, where cats/loop waits
      link('self.jpg', 'self.jpg'); // a link to itself

      const scan = await scanLibrary(root);

      expect(scan.classes).toEqual(['cats', 'dogs']);
      expect(labelled(scan)).toEqual([
        ['cats/a.jpg', 'cats'],
        ['dogs/b.jpg', 'dogs'],
        ['dogs/to-cats/a.jpg', 'dogs'],
      ]);
      const loop = 'symlink loop (points back to a folder that contains it); skipped';
      // cats/loop and cats/up are met twice (also as dogs/to-cats/loop and /up) but are one link each.
      expect(scan.problems).toEqual([
        { path: 'cats/loop', reason: loop },
        { path: 'cats/up', reason: loop },
        { path: 'self.jpg', reason: 'symlink loop (the link leads back to itself)' },
      ]);
    });

    it('finishes when folders link to each other in a ring', async () => {
      for (const name of ['a', 'b', 'c']) put(`${name}/${name}.jpg`);
      link('a/next', '../b');
      link('b/next', '../c');
      link('c/next', '../a');

      const scan = await scanLibrary(root);

      // Each class takes the ring once, up to the link back into itself.
      expect(labelled(scan)).toEqual([
        ['a/a.jpg', 'a'],
        ['a/next/b.jpg', 'a'],
        ['a/next/next/c.jpg', 'a'],
        ['b/b.jpg', 'b'],
        ['b/next/c.jpg', 'b'],
        ['b/next/next/a.jpg', 'b'],
        ['c/c.jpg', 'c'],
        ['c/next/a.jpg', 'c'],
        ['c/next/next/b.jpg', 'c'],
      ]);
      // Reported where each link really is (a/next/next/next is the link c/next).
      expect(scan.problems.map((p) => p.path)).toEqual(['a/next', 'b/next', 'c/next']);
      expect(scan.problems.every((p) => p.reason.startsWith('symlink loop'))).toBe(true);
    });

    it('lists a photo under its real path when a link in the same class leads to it again', async () => {
      put('cats/zzz/a.jpg');
      link('cats/aaa', 'zzz'); // sorts (and is listed by the OS) before the real folder

      const scan = await scanLibrary(root);

      expect(paths(scan)).toEqual(['cats/zzz/a.jpg']);
      expect(scan.problems).toEqual([{ path: 'cats/aaa', reason: 'folder already included in this class through another path (symlink); skipped' }]);
    });

    it('reports a problem met through a link once, where it really is', async () => {
      put('cats/a.jpg');
      put('cats/zero.jpg', Buffer.alloc(0));
      writeFileSync(Buffer.concat([Buffer.from(`${root}/cats/`), Buffer.from([0x66, 0xff, 0x2e, 0x6a, 0x70, 0x67])]), jpeg);
      link('cats/escape', outside);
      link('dogs/cats', '../cats');

      const scan = await scanLibrary(root);

      expect(paths(scan)).toEqual(['cats/a.jpg', 'dogs/cats/a.jpg']);
      expect(scan.problems).toEqual([
        { path: 'cats/escape', reason: 'symlink points outside the library; skipped' },
        { path: 'cats/f\uFFFD.jpg', reason: 'file name is not valid UTF-8; rename it to include it' },
        { path: 'cats/zero.jpg', reason: 'file is empty' },
      ]);
    });

    it('reports broken links', async () => {
      put('cats/a.jpg');
      link('cats/gone.jpg', join(root, 'cats/deleted.jpg'));
      const scan = await scanLibrary(root);
      expect(paths(scan)).toEqual(['cats/a.jpg']);
      expect(scan.problems).toEqual([{ path: 'cats/gone.jpg', reason: 'broken symlink (its target does not exist)' }]);
    });
  });

  it('reports a folder it may not read and goes on', async () => {
    put('cats/a.jpg');
    put('cats/private/b.jpg');
    put('dogs/c.jpg');
    refusedFolders.add(join(root, 'cats/private'));
    refusedFolders.add(join(root, 'dogs'));

    const scan = await scanLibrary(root);

    expect(scan.classes).toEqual(['cats', 'dogs']);
    expect(paths(scan)).toEqual(['cats/a.jpg']);
    expect(scan.problems).toEqual([
      { path: 'cats/private', reason: 'cannot read folder (permission denied)' },
      { path: 'dogs', reason: 'cannot read folder (permission denied)' },
    ]);
    // So that a sync keeps what it already stored from there.
    expect(scan.unreadable).toEqual(['cats/private/', 'dogs/']);
  });

  it.skipIf(process.getuid?.() === 0)('reports a folder the OS refuses to list (chmod 000) and goes on', async () => {
    put('cats/a.jpg');
    put('cats/private/b.jpg');
    chmodSync(join(root, 'cats/private'), 0o000);
    let scan: ScanResult;
    try {
      scan = await scanLibrary(root);
    } finally {
      chmodSync(join(root, 'cats/private'), 0o755); // so afterEach can remove it
    }
    expect(paths(scan)).toEqual(['cats/a.jpg']);
    expect(reasonFor(scan, 'cats/private')).toEqual(['cannot read folder (permission denied)']);
  });

  it('counts every photo in a folder of 10,000', async () => {
    const first = put('many/00000.jpg');
    const names = Array.from({ length: 10_000 }, (_, i) => `${String(i).padStart(5, '0')}.jpg`);
    for (const name of names.slice(1)) copyFileSync(first, join(root, 'many', name));
    put('many/notes.txt', 'not a photo');

    const scan = await scanLibrary(root);

    expect(scan.files).toHaveLength(10_000);
    expect(paths(scan)).toEqual(names.map((name) => `many/${name}`));
    expect(scan.files.every((f) => f.className === 'many' && f.size === jpeg.length)).toBe(true);
    expect(scan.problems).toEqual([]);
  });

  it('only reads: everything under the root is unchanged after a scan', async () => {
    put('cats/a.jpg');
    put('cats/deep/b.png', png);
    put('dogs/zero.jpg', Buffer.alloc(0));
    put('.hidden/c.jpg');
    put('loose.jpg');
    link('cats/alias.jpg', 'a.jpg');
    link('cats/loop', '..');
    link('outside', outside);
    writeFileSync(Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0x66, 0xff, 0x2e, 0x6a, 0x70, 0x67])]), jpeg);
    const before = snapshot(root);
    const outsideBefore = snapshot(outside);

    const scan = await scanLibrary(root);

    expect(scan.files.length).toBeGreaterThan(0);
    expect(scan.problems.length).toBeGreaterThan(0);
    expect(snapshot(root)).toEqual(before);
    expect(snapshot(outside)).toEqual(outsideBefore);
  });

  describe('a root it cannot use', () => {
    it('throws naming a missing folder', async () => {
      const missing = join(root, 'nope');
      await expect(scanLibrary(missing)).rejects.toThrow(`${missing}: folder not found`);
    });

    it('throws naming a file given as the root', async () => {
      const file = put('file.jpg');
      await expect(scanLibrary(file)).rejects.toThrow(`${file}: not a folder`);
    });

    it('throws when the root itself cannot be listed (rather than finding it empty)', async () => {
      refusedFolders.add(root);
      await expect(scanLibrary(root)).rejects.toThrow(`${root}: cannot read folder (permission denied)`);
    });

    it('resolves a root reached through a symlink to its real path', async () => {
      put('cats/a.jpg');
      const via = join(outside, 'library-link');
      symlinkSync(root, via);
      const scan = await scanLibrary(via);
      expect(scan.root).toBe(root);
      expect(scan.files.map((f) => f.absPath)).toEqual([join(root, 'cats/a.jpg')]);
    });
  });
});
