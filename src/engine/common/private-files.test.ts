import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dirs: string[] = [];
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const module = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);

/**
 * In a fresh process under `umask`: opens a database in a new data folder (and reopens one left 0644),
 * makes a thumbnail into a new cache, and writes an export-like folder with the helpers; reports the
 * modes of everything it made, with the database still open (its -wal and -shm files exist only then).
 */
function modesUnder(umask: string): Record<string, string> {
  const root = mkdtempSync(join(tmpdir(), 'lookalike-private-'));
  dirs.push(root);
  const script = `
    const { chmodSync, mkdirSync, statSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { Store } = await import(${module('../store/store.ts')});
    const { thumbnailFile } = await import(${module('../library/thumbnails.ts')});
    const { drawPhoto } = await import(${module('../testing/test-photos.ts')});
    const { makePrivateFolder, writePrivateFile } = await import(${module('./private-files.ts')});
    const { defaultDbPath } = await import(${module('./paths.ts')});
    const root = ${JSON.stringify(root)};
    const mode = (path) => (statSync(path).mode & 0o777).toString(8);
    const older = join(root, 'older.db');
    Store.open(older).close();
    chmodSync(older, 0o644);
    const store = Store.open(join(root, 'data', 'lookalike.db'));
    store.upsertLibrary(root);
    const photo = await drawPhoto(join(root, 'photo.jpg'), 64, 64, 1);
    const thumb = await thumbnailFile(photo, join(root, 'cache'));
    await makePrivateFolder(join(root, 'export', 'model'));
    await writePrivateFile(join(root, 'export', 'model', 'card.json'), '{}');
    const reopened = Store.open(older);
    // Lookalike's own data folder (LOOKALIKE_HOME here), left open by an older version, is tightened.
    mkdirSync(process.env.LOOKALIKE_HOME, { mode: 0o755 });
    chmodSync(process.env.LOOKALIKE_HOME, 0o755);
    Store.open(defaultDbPath()).close();
    const modes = {
      'data folder': mode(join(root, 'data')),
      database: mode(join(root, 'data', 'lookalike.db')),
      'database -wal': mode(join(root, 'data', 'lookalike.db-wal')),
      'database -shm': mode(join(root, 'data', 'lookalike.db-shm')),
      'an older 0644 database, reopened': mode(older),
      'its -wal': mode(older + '-wal'),
      'cache folder': mode(join(root, 'cache')),
      'cache shard folder': mode(join(thumb, '..')),
      thumbnail: mode(thumb),
      'cache tag': mode(join(root, 'cache', 'CACHEDIR.TAG')),
      'existing app data folder': mode(process.env.LOOKALIKE_HOME),
      'export folder': mode(join(root, 'export')),
      'model folder': mode(join(root, 'export', 'model')),
      'model file': mode(join(root, 'export', 'model', 'card.json')),
    };
    store.close();
    reopened.close();
    process.stdout.write(JSON.stringify(modes));`;
  const run = spawnSync('sh', ['-c', `umask ${umask} && exec "$@"`, 'sh', process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, LOOKALIKE_HOME: join(root, 'home') },
  });
  if (run.status !== 0) throw new Error(`the child failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as Record<string, string>;
}

describe('the data folder, database, thumbnail cache and exported files are private to the user', () => {
  for (const umask of ['000', '022']) {
    it(`folders 0700 and files 0600 under umask ${umask}`, { timeout: 60_000 }, () => {
      const modes = modesUnder(umask);
      const expected = Object.fromEntries(Object.keys(modes).map((name) => [name, /folder/.test(name) ? '700' : '600']));
      expect(modes).toEqual(expected);
    });
  }
});
