import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLOWERS17, copyFlowersLibrary, describeWithShared, drawTestLibrary } from '../engine/testing/test-photos.js';
import { Store } from '../engine/index.js';

// The CLI as a user runs it: the compiled bin (`npm test` builds it first).
const BIN = resolve(__dirname, '../../bin/lookalike.js');
let work: string;

function lookalike(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1', ...env } });
  const lines = result.stdout.trim().split('\n');
  return { code: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr, json: () => JSON.parse(lines[lines.length - 1]) as Record<string, unknown> };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lookalike-cli-guards-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the CLI refuses bad input quickly, in words, and loses nothing', () => {
  it('--db naming a folder: says so, no EISDIR', () => {
    const run = lookalike(['scan', work, '--db', work]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${work}: is a folder, not a database file`);
    expect(run.stderr).not.toMatch(/EISDIR|illegal operation/);
  });

  it('similar on a FIFO or a device: refused at once, naming the file', () => {
    const fifo = join(work, 'pipe.jpg');
    execFileSync('mkfifo', [fifo]);
    for (const special of [fifo, '/dev/zero']) {
      const run = lookalike(['similar', special, '--db', join(work, 'empty.db')]);
      expect(run.signal, `${special} hung`).toBeNull();
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${special}: not a regular file`);
    }
  });

  it('--precision other than int8 or fp32: refused as a usage error, naming the setting', () => {
    const run = lookalike(['index', work, '--db', join(work, 'precision.db'), '--precision', 'int4']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('backbone precision must be "int8" or "fp32" (got "int4")');
  });

  it('sample into a folder that is not empty: refused, nothing overwritten', () => {
    const folder = join(work, 'mine');
    mkdirSync(join(folder, 'circles'), { recursive: true });
    writeFileSync(join(folder, 'circles', 'circles-01.jpg'), 'mine');
    const run = lookalike(['sample', folder]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/not empty/);
  });

  it('train while another process runs a job on the database: refused, naming that process', () => {
    const db = join(work, 'busy.db');
    const other = Store.open(db);
    try {
      expect(other.jobLock.claim('train')).toBeNull();
      const run = lookalike(['train', work, '--db', db]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`another Lookalike process (pid ${process.pid}`);
      expect(run.stderr).toMatch(/already running a train job on this database/);
      expect(other.jobLock.heartbeat().held).toBe(true); // its claim was not touched
    } finally {
      other.close();
    }
  });

  describeWithShared([FLOWERS17], 'on a small indexed library', () => {
    let root: string;
    let db: string;
    beforeAll(() => {
      root = copyFlowersLibrary({ classes: ['crocus', 'iris'], perClass: 3, damaged: true });
      writeFileSync(join(root, 'iris', 'huge.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
      truncateSync(join(root, 'iris', 'huge.jpg'), 3 * 1024 ** 3);
      db = join(work, 'small.db');
    });
    afterAll(() => {
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('index lists the files it could not use, like scan does', () => {
      const run = lookalike(['index', root, '--db', db, '--json']);
      expect(run.code, run.stderr).toBe(0);
      const problems = run.json().problems as Array<{ path: string; reason: string }>;
      expect(problems).toEqual(
        expect.arrayContaining([
          { path: 'iris/huge.jpg', reason: expect.stringMatching(/3\.0 GB, larger than any photo/) },
          { path: 'crocus/damaged.jpg', reason: expect.stringMatching(/not a supported image/) },
        ]),
      );
      const text = lookalike(['index', root, '--db', db]);
      expect(text.stdout).toMatch(/2 files skipped:\n {2}crocus\/damaged\.jpg: .*\n {2}iris\/huge\.jpg: /);
      // A photo that failed is not tried again while unchanged, unless asked.
      expect((lookalike(['index', root, '--db', db, '--json']).json().features as { failed: number }).failed).toBe(0);
      expect((lookalike(['index', root, '--db', db, '--retry', '--json']).json().features as { failed: number }).failed).toBe(1);
    });

    it('similar on an index that was cut short says it is incomplete and exits 1', () => {
      const complete = lookalike(['similar', join(root, 'iris'), '--db', db, '--json']);
      expect(complete.code).toBe(1); // a folder is not a photo
      const photo = lookalike(['similar', join(root, 'crocus', readdir(join(root, 'crocus'))[0]), '--db', db, '-k', '3', '--json']);
      expect(photo.code, photo.stderr).toBe(0);
      // As an index stopped by a full disk leaves it: some photos without embeddings.
      const sqlite = new BetterSqlite3(db);
      sqlite.prepare('DELETE FROM embeddings WHERE photo_id IN (SELECT id FROM photos WHERE rel_path LIKE ?)').run('iris/%');
      sqlite.close();
      const cut = lookalike(['similar', join(root, 'crocus', readdir(join(root, 'crocus'))[0]), '--db', db, '-k', '3', '--json']);
      expect(cut.code).toBe(1);
      expect(cut.stderr, cut.stderr).toMatch(/the index of model \d+ is incomplete \(3 of 7 photos not indexed/);
      expect(cut.json().incomplete).toMatch(/incomplete/);
    });
  });
});

function readdir(folder: string): string[] {
  return (execFileSync('ls', [folder], { encoding: 'utf8' }) as string).trim().split('\n').filter((f) => f.endsWith('.jpg') && f !== 'damaged.jpg');
}

describe('index --precision: int8 calibrated on the library and cached, fp32 when asked', () => {
  it('indexes with the int8 backbone, its calibration cached in the user cache, and with the float one on --precision fp32', async () => {
    const root = await drawTestLibrary({ classes: ['circles', 'stripes'], perClass: 16 });
    const home = join(work, 'home');
    try {
      const int8 = lookalike(['index', root, '--db', join(work, 'int8.db'), '--precision', 'int8', '--json'], { LOOKALIKE_HOME: home });
      expect(int8.code, int8.stderr).toBe(0);
      expect(int8.stderr).toContain('Computing backbone features (ONNX Runtime, int8)');
      expect(existsSync(join(home, 'cache', 'backbones', 'nsfwjs-mobilenetv2-1.4.int8-calibration.json'))).toBe(true);
      expect((int8.json().features as { computed: number }).computed).toBe(32);
      const float = lookalike(['index', root, '--db', join(work, 'fp32.db'), '--precision', 'fp32', '--json'], { LOOKALIKE_HOME: home });
      expect(float.code, float.stderr).toBe(0);
      expect(float.stderr).toContain('Computing backbone features (ONNX Runtime)');
      expect(float.stderr).not.toContain('int8');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
