import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckedFile } from './files.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lookalike-files-'));
  await mkdir(join(dir, 'served', 'assets'), { recursive: true });
  await mkdir(join(dir, 'outside', 'assets'), { recursive: true });
  await writeFile(join(dir, 'served', 'assets', 'app.js'), 'served');
  await writeFile(join(dir, 'outside', 'assets', 'app.js'), 'not to be served');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/**
 * openCheckedFile gets a path that was checked a moment before; these are the swaps that can happen in
 * that moment, made before the call so that each is certain to be there.
 */
describe('openCheckedFile (what the bridge serves is what it checked)', () => {
  it('opens a regular file and reports its size', async () => {
    const opened = await openCheckedFile(join(dir, 'served', 'assets', 'app.js'));
    expect(opened?.info.size).toBe(6);
    await opened?.handle.close();
  });

  it('refuses a FIFO without waiting for a writer (a blocking open would hang a thread for good)', async () => {
    const fifo = join(dir, 'served', 'pipe.js');
    execFileSync('mkfifo', [fifo]);
    expect(await openCheckedFile(fifo)).toBeNull();
  });

  it('refuses a folder, and a symlink put in place of the file', async () => {
    expect(await openCheckedFile(join(dir, 'served', 'assets'))).toBeNull();
    const link = join(dir, 'served', 'link.js');
    await symlink(join(dir, 'outside', 'assets', 'app.js'), link);
    expect(await openCheckedFile(link)).toBeNull();
  });

  it('refuses a file reached through a folder swapped for a symlink to elsewhere', async () => {
    await rename(join(dir, 'served', 'assets'), join(dir, 'served', 'assets-moved'));
    await symlink(join(dir, 'outside', 'assets'), join(dir, 'served', 'assets'));
    try {
      expect(await openCheckedFile(join(dir, 'served', 'assets', 'app.js'))).toBeNull();
    } finally {
      await rm(join(dir, 'served', 'assets'));
      await rename(join(dir, 'served', 'assets-moved'), join(dir, 'served', 'assets'));
    }
  });
});
