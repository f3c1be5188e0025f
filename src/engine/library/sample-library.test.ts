import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeForModel, hashFile } from './image.js';
import { scanLibrary } from './scan.js';
import { SAMPLE_CLASSES, makeSampleLibrary } from './sample-library.js';

describe('the sample library npm start draws', () => {
  it('is a labelled folder of real, distinct JPEGs in four classes plus unlabelled ones, the same for the same seed', async () => {
    const a = mkdtempSync(join(tmpdir(), 'lookalike-sample-'));
    const b = mkdtempSync(join(tmpdir(), 'lookalike-sample-'));
    try {
      await makeSampleLibrary(a, { perClass: 3, unlabelled: 2 });
      await makeSampleLibrary(b, { perClass: 3, unlabelled: 2 });
      const scan = await scanLibrary(a);
      expect(scan.classes).toEqual([...SAMPLE_CLASSES].sort());
      expect(scan.files.filter((f) => f.className !== null)).toHaveLength(12);
      expect(scan.files.filter((f) => f.className === null)).toHaveLength(2);
      expect(scan.problems).toEqual([]);
      const hashes = await Promise.all(scan.files.map((f) => hashFile(f.absPath)));
      expect(new Set(hashes).size).toBe(14);
      expect((await decodeForModel(scan.files[0].absPath, 224)).pixels).toHaveLength(224 * 224 * 3);
      expect(await hashFile(join(b, scan.files[0].relPath))).toBe(hashes[0]);
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });

  it('refuses a folder that is not empty, and writes nothing there', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lookalike-sample-'));
    try {
      mkdirSync(join(dir, 'circles'));
      writeFileSync(join(dir, 'circles', 'circles-01.jpg'), 'my own photo');
      await expect(makeSampleLibrary(dir, { perClass: 2, unlabelled: 1 })).rejects.toThrow(/not empty.*nothing was written/);
      expect(readFileSync(join(dir, 'circles', 'circles-01.jpg'), 'utf8')).toBe('my own photo');
      expect(readdirSync(dir)).toEqual(['circles']);
      expect(readdirSync(join(dir, 'circles'))).toEqual(['circles-01.jpg']);
      writeFileSync(join(dir, 'file'), 'x');
      await expect(makeSampleLibrary(join(dir, 'file'))).rejects.toThrow(/is a file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
