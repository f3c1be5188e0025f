import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { moveFilesOut } from './move-files.js';

let dir: string;
let root: string;
const elsewhere: string[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lookalike-move-'));
  root = join(dir, 'library');
  mkdirSync(join(root, 'daisy'), { recursive: true });
  writeFileSync(join(root, 'daisy', 'a.jpg'), 'photo a');
  writeFileSync(join(root, 'daisy', 'b.jpg'), 'photo b');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  for (const folder of elsewhere.splice(0)) rmSync(folder, { recursive: true, force: true });
});

describe('moving photos out of the library (never deleting, never overwriting)', () => {
  it('moves into a folder outside, renaming instead of overwriting what is there', async () => {
    const out = join(dir, 'duplicates');
    mkdirSync(out);
    writeFileSync(join(out, 'a.jpg'), 'someone else’s a');
    const moved = await moveFilesOut(root, [join(root, 'daisy', 'a.jpg')], out);
    expect(moved).toEqual([{ from: join(root, 'daisy', 'a.jpg'), to: join(out, 'a (2).jpg'), how: 'link' }]);
    expect(readFileSync(join(out, 'a.jpg'), 'utf8')).toBe('someone else’s a');
    expect(readFileSync(join(out, 'a (2).jpg'), 'utf8')).toBe('photo a');
    expect(existsSync(join(root, 'daisy', 'a.jpg'))).toBe(false);
    expect(readdirSync(join(root, 'daisy'))).toEqual(['b.jpg']);
  });

  it.skipIf(!existsSync('/dev/shm'))('copies across devices, checks the copy byte for byte, then removes the original', async () => {
    const out = mkdtempSync('/dev/shm/lookalike-move-');
    elsewhere.push(out);
    const moved = await moveFilesOut(root, [join(root, 'daisy', 'b.jpg')], join(out, 'kept'));
    // /dev/shm is a file system of its own (tmpfs) on most Linux machines: then the copy path is taken.
    expect(moved[0].how).toBe(statSync(out).dev === statSync(root).dev ? 'link' : 'copy');
    expect(readFileSync(join(out, 'kept', 'b.jpg'), 'utf8')).toBe('photo b');
    expect(existsSync(join(root, 'daisy', 'b.jpg'))).toBe(false);
  });

  it('refuses a folder inside the library, a relative path, and a file from elsewhere, moving nothing', async () => {
    await expect(moveFilesOut(root, [join(root, 'daisy', 'a.jpg')], join(root, 'trash'))).rejects.toThrow(/is inside the library/);
    await expect(moveFilesOut(root, [join(root, 'daisy', 'a.jpg')], 'relative/out')).rejects.toThrow(/give the full path/);
    writeFileSync(join(dir, 'outside.jpg'), 'x');
    await expect(moveFilesOut(root, [join(dir, 'outside.jpg')], join(dir, 'out'))).rejects.toThrow(/not a photo of the library/);
    await expect(moveFilesOut(root, [join(root, 'daisy', 'gone.jpg')], join(dir, 'out'))).rejects.toThrow(/no longer there/);
    expect(readdirSync(join(root, 'daisy')).sort()).toEqual(['a.jpg', 'b.jpg']);
    expect(existsSync(join(dir, 'outside.jpg'))).toBe(true);
  });
});
