import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { makeFoldersInside, moveFileTo, tempNameFor } from './move-files.js';
import { mountTmpfs, type Mounted } from '../testing/mounts.js';

/** What reached the disk, in order: folders synced and names removed (the real calls underneath). */
const events = vi.hoisted(() => [] as string[]);

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const handle = await real.open(...args);
      const path = String(args[0]);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        events.push(`sync ${path}`);
        return sync();
      };
      return handle;
    },
    unlink: async (path: Parameters<typeof real.unlink>[0]) => {
      events.push(`unlink ${String(path)}`);
      return real.unlink(path);
    },
  };
});

let dir: string;
let root: string;
const mounts: Mounted[] = [];

beforeEach(() => {
  events.length = 0;
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'lookalike-durable-')));
  root = join(dir, 'library');
  mkdirSync(join(root, 'daisy'), { recursive: true });
  mkdirSync(join(root, 'tulip'));
  writeFileSync(join(root, 'daisy', 'a.jpg'), 'photo a');
});
afterEach(() => {
  for (const mount of mounts.splice(0).reverse()) mount.unmount();
  rmSync(dir, { recursive: true, force: true });
});

/** Position of the first event that is exactly `event` (-1 when it never happened). */
const at = (event: string) => events.indexOf(event);

describe('a move is on disk in its order, not only in the page cache (a power cut keeps it whole)', () => {
  it('syncs the target folder once the new name exists, before the old one goes, and the source folder after', async () => {
    await moveFileTo(join(root, 'daisy', 'a.jpg'), join(root, 'tulip', 'a.jpg'), { fromRoot: root, toRoot: root }, tempNameFor(1, 0, false));
    expect(readFileSync(join(root, 'tulip', 'a.jpg'), 'utf8')).toBe('photo a');
    const targetSynced = at(`sync ${join(root, 'tulip')}`);
    const sourceRemoved = at(`unlink ${join(root, 'daisy', 'a.jpg')}`);
    const sourceSynced = at(`sync ${join(root, 'daisy')}`);
    expect(targetSynced).toBeGreaterThanOrEqual(0);
    expect(sourceRemoved).toBeGreaterThan(targetSynced);
    expect(sourceSynced).toBeGreaterThan(sourceRemoved);
  });

  it('across devices: the copy is given its name and that folder synced before the original is removed', async (context) => {
    const other = mountTmpfs(join(dir, 'other'));
    if (typeof other === 'string') return context.skip(other);
    mounts.push(other);
    await moveFileTo(join(root, 'daisy', 'a.jpg'), join(dir, 'other', 'a.jpg'), { fromRoot: root, toRoot: join(dir, 'other') }, tempNameFor(2, 0, false));
    expect(readFileSync(join(dir, 'other', 'a.jpg'), 'utf8')).toBe('photo a');
    const tempGone = at(`unlink ${join(dir, 'other', tempNameFor(2, 0, false))}`);
    const targetSynced = events.lastIndexOf(`sync ${join(dir, 'other')}`);
    expect(tempGone).toBeGreaterThanOrEqual(0);
    expect(targetSynced).toBeGreaterThan(tempGone);
    expect(at(`unlink ${join(root, 'daisy', 'a.jpg')}`)).toBeGreaterThan(targetSynced);
    expect(at(`sync ${join(root, 'daisy')}`)).toBeGreaterThan(at(`unlink ${join(root, 'daisy', 'a.jpg')}`));
  });

  it('syncs each parent after making a folder in it', async () => {
    await makeFoldersInside(root, 'new/deeper');
    expect(events).toEqual([`sync ${root}`, `sync ${join(root, 'new')}`]);
  });
});
