import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFolders } from './folders.js';

let home: string;
beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'lookalike-folders-'));
  for (const name of ['Pictures', 'photos 10', 'photos 9', '.hidden', 'gone-library']) mkdirSync(join(home, name));
  writeFileSync(join(home, 'notes.txt'), 'a file, not a folder');
  symlinkSync(join(home, 'Pictures'), join(home, 'linked'));
  symlinkSync(join(home, 'nowhere'), join(home, 'dangling'));
});
afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('the folder browser’s listing', () => {
  it('lists the sub-folders of home by default: hidden ones, files and broken links left out, numbers in order', async () => {
    const listing = await listFolders(undefined, { home, recent: [join(home, 'Pictures'), join(home, 'removed-since')] });
    expect(listing.path).toBe(home);
    expect(listing.folders.map((f) => f.name)).toEqual(['gone-library', 'linked', 'photos 9', 'photos 10', 'Pictures']);
    expect(listing.folders[4].path).toBe(join(home, 'Pictures'));
    expect(listing.more).toBe(0);
    // Only recent libraries whose folders still exist.
    expect(listing.recent).toEqual([{ name: 'Pictures', path: join(home, 'Pictures') }]);
    expect(listing.crumbs.at(-1)).toEqual({ name: home.split('/').pop(), path: home });
    expect(listing.parent).toBe(join(home, '..'));
  });

  it('takes ~ paths, and stops at the file-system root', async () => {
    expect((await listFolders('~/Pictures', { home })).path).toBe(join(home, 'Pictures'));
    const root = await listFolders('/', { home });
    expect(root.parent).toBeNull();
    expect(root.crumbs).toEqual([{ name: '/', path: '/' }]);
  });

  it('says what is wrong with a path it cannot list, as the person’s mistake', async () => {
    await expect(listFolders(join(home, 'missing'), { home })).rejects.toMatchObject({ kind: 'not-found', message: `${join(home, 'missing')}: folder not found` });
    await expect(listFolders(join(home, 'notes.txt'), { home })).rejects.toMatchObject({ kind: 'invalid-input', message: `${join(home, 'notes.txt')}: not a folder` });
    await expect(listFolders('Pictures', { home })).rejects.toMatchObject({ kind: 'invalid-input' });
  });
});
