import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeFoldersInside, moveFileTo, settleMove, tempNameFor } from './move-files.js';
import { mountTmpfs, type Mounted } from '../testing/mounts.js';

let dir: string;
let root: string;
const mounts: Mounted[] = [];

beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'lookalike-move-')));
  root = join(dir, 'library');
  mkdirSync(join(root, 'daisy'), { recursive: true });
  writeFileSync(join(root, 'daisy', 'a.jpg'), 'photo a');
});
afterEach(() => {
  for (const mount of mounts.splice(0).reverse()) mount.unmount();
  rmSync(dir, { recursive: true, force: true });
});

const inLibrary = () => ({ fromRoot: root, toRoot: root });

describe('moving one file (never overwriting, never twice, exactly the entry named)', () => {
  it('moves a photo that is a relative symlink as the link itself, re-pointed so it still resolves; its target stays', async () => {
    mkdirSync(join(root, 'copies', 'deep'), { recursive: true });
    symlinkSync('../daisy/a.jpg', join(root, 'copies', 'a-link.jpg'));
    const how = await moveFileTo(join(root, 'copies', 'a-link.jpg'), join(root, 'copies', 'deep', 'a-link.jpg'), inLibrary(), tempNameFor(1, 0, false));
    expect(how).toBe('symlink');
    expect(readFileSync(join(root, 'daisy', 'a.jpg'), 'utf8')).toBe('photo a'); // the target, untouched
    expect(lstatSync(join(root, 'copies', 'deep', 'a-link.jpg')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(root, 'copies', 'deep', 'a-link.jpg'))).toBe('../../daisy/a.jpg');
    expect(readFileSync(join(root, 'copies', 'deep', 'a-link.jpg'), 'utf8')).toBe('photo a');
    expect(existsSync(join(root, 'copies', 'a-link.jpg'))).toBe(false);
  });

  it('after a crash: a half-written copy goes, a verified copy whose original is still there leaves one file, a lone original stays', async () => {
    mkdirSync(join(root, 'out'));
    const temp = join(root, 'out', tempNameFor(7, 0, false));
    // Killed while copying: only the temporary name exists at the target.
    writeFileSync(temp, 'phot');
    expect(await settleMove(join(root, 'daisy', 'a.jpg'), join(root, 'out', 'a.jpg'), temp, 7)).toEqual({ where: 'at-from', finished: false, tempRemoved: true });
    expect(readdirSync(join(root, 'out'))).toEqual([]);
    expect(readFileSync(join(root, 'daisy', 'a.jpg'), 'utf8')).toBe('photo a');
    // Killed after the verified copy got its name, before the original was removed: the original goes.
    writeFileSync(join(root, 'out', 'a.jpg'), 'photo a');
    expect(await settleMove(join(root, 'daisy', 'a.jpg'), join(root, 'out', 'a.jpg'), temp, 7)).toEqual({ where: 'at-to', finished: true, tempRemoved: false });
    expect(readdirSync(join(root, 'daisy'))).toEqual([]);
    // A different file that took the name is not ours: the original stays.
    writeFileSync(join(root, 'daisy', 'b.jpg'), 'photo b');
    writeFileSync(join(root, 'out', 'b.jpg'), 'someone else');
    expect((await settleMove(join(root, 'daisy', 'b.jpg'), join(root, 'out', 'b.jpg'), temp, 7)).where).toBe('at-from');
    expect(readFileSync(join(root, 'daisy', 'b.jpg'), 'utf8')).toBe('photo b');
  });

  it('makes folders only inside the root, refusing one swapped for a link to elsewhere, and never moves through it', async () => {
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(root, 'swapped'));
    await expect(makeFoldersInside(root, 'swapped/sub')).rejects.toThrow(/swapped: leads to .*elsewhere now .*nothing was moved there/);
    expect(readdirSync(elsewhere)).toEqual([]);
    await expect(moveFileTo(join(root, 'daisy', 'a.jpg'), join(root, 'swapped', 'a.jpg'), inLibrary(), 't')).rejects.toThrow(/outside|not inside/);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(existsSync(join(root, 'daisy', 'a.jpg'))).toBe(true);
    expect(await makeFoldersInside(root, 'new/deeper')).toEqual(['new', 'new/deeper']);
  });

  it('a source that cannot be removed (read-only disk) keeps the photo where it was and removes its copy', async (context) => {
    const readOnly = mountTmpfs(join(dir, 'ro'), { files: { 'a.jpg': 'photo ro' }, readOnly: true });
    if (typeof readOnly === 'string') return context.skip(readOnly);
    mounts.push(readOnly);
    const bounds = { fromRoot: join(dir, 'ro'), toRoot: root };
    await expect(moveFileTo(join(dir, 'ro', 'a.jpg'), join(root, 'daisy', 'ro.jpg'), bounds, tempNameFor(1, 0, false))).rejects.toThrow(
      /ro\/a\.jpg: cannot be removed from its folder \(the disk is read-only\), so it was not moved; the copy made at .*daisy\/ro\.jpg was removed again/,
    );
    expect(readdirSync(join(root, 'daisy'))).toEqual(['a.jpg']);
    expect(readFileSync(join(dir, 'ro', 'a.jpg'), 'utf8')).toBe('photo ro');
  });

  it('a full disk is named as the target’s, not the photo’s, and leaves no half copy', async (context) => {
    const small = mountTmpfs(join(dir, 'small'), { sizeKb: 64 });
    if (typeof small === 'string') return context.skip(small);
    mounts.push(small);
    writeFileSync(join(root, 'daisy', 'big.jpg'), Buffer.alloc(256 * 1024, 7));
    const to = join(dir, 'small', 'big.jpg');
    await expect(moveFileTo(join(root, 'daisy', 'big.jpg'), to, { fromRoot: root, toRoot: join(dir, 'small') }, tempNameFor(1, 0, false))).rejects.toThrow(
      new RegExp(`^${join(dir, 'small')}: the disk is full; big\\.jpg could not be written there, and the photo was left where it is$`),
    );
    expect(readdirSync(join(dir, 'small'))).toEqual([]);
    expect(statSync(join(root, 'daisy', 'big.jpg')).size).toBe(256 * 1024);
  });
});
