import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { createEngineService, type EngineService } from './service.js';

// The CLI as a user runs it: the compiled bin (`npm run build:node`).
const BIN = resolve(__dirname, '../../../../bin/lookalike.js');
const CLI_BUILT = existsSync(resolve(__dirname, '../../../../out/node/cli/index.js'));
const SMALL = { epochs: 1, batchSize: 8, tripletsPerEpoch: 16, dim: 16 };

let root: string;
let work: string;
let dbPath: string;
let service: EngineService;
/** Another connection to the service's database, to read what it keeps. */
let reader: Store;
let libraryId: number;

async function openService(): Promise<void> {
  root = await drawTestLibrary({ classes: ['circles', 'squares', 'stripes'], perClass: 6, seed: 5 });
  work = mkdtempSync(join(tmpdir(), 'lookalike-moves-'));
  dbPath = join(work, 'l.db');
  service = await createEngineService({ dbPath, cacheDir: join(work, 'cache'), libraryRoot: root });
  reader = Store.open(dbPath);
  libraryId = reader.findLibrary(root)!;
  // Photos get a train/validation side as training gives them: it must survive every move.
  reader.assignSplit(libraryId, 0.3, (_, candidates, wanted) => candidates.slice(0, wanted));
}

afterEach(async () => {
  await service?.close();
  reader?.close();
  for (const dir of [root, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Each photo's id, split and class, by its content (paths change with a write). */
const byContent = () => new Map(reader.photos(libraryId).map((p) => [p.hash, { id: p.id, split: p.split, className: p.className }]));
const rejections = (outcomes: PromiseSettledResult<unknown>[]) => outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as unknown);

async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((done) => setTimeout(done, 20));
  }
}

describe('moving files of the library (write labels, its undo) against other calls and processes', () => {
  it('two Confirms of a write at once: one moves, the other is refused (409); Undo raced by Undo and label changes likewise; no photo loses its id or split', async () => {
    await openService();
    await service.handlers.changeLabels({ kind: 'rename-class', from: 'squares', to: 'boxes' });
    const before = byContent();
    expect(before.size).toBe(18);
    expect([...before.values()].filter((p) => p.split === 'validation')).not.toHaveLength(0);
    const { fingerprint, moves } = await service.handlers.previewLabelWrite();
    expect(moves).toHaveLength(6);

    const writes = await Promise.allSettled([service.handlers.writeLabels({ fingerprint }), service.handlers.writeLabels({ fingerprint })]);
    expect(writes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(rejections(writes)).toEqual([expect.objectContaining({ kind: 'conflict', message: 'the label write is going; wait for it to finish' })]);
    expect(readdirSync(join(root, 'boxes'))).toHaveLength(6);
    expect(readdirSync(join(root, 'squares'))).toHaveLength(0);
    expect(byContent()).toEqual(before);

    const undos = await Promise.allSettled([
      service.handlers.undoLabelWrite(),
      service.handlers.undoLabelWrite(),
      service.handlers.changeLabels({ kind: 'exclude-folder', folder: 'circles' }),
      service.handlers.undoLabels(),
    ]);
    expect(undos[0].status).toBe('fulfilled');
    expect(rejections(undos)).toEqual(Array(3).fill(expect.objectContaining({ kind: 'conflict', message: 'the label write undo is going; wait for it to finish' })));
    expect(readdirSync(join(root, 'squares'))).toHaveLength(6);
    expect(byContent()).toEqual(before);
  });

  it('refuses a write while a training run goes (409, saying it would stop it), and the run goes on', async () => {
    await openService();
    await service.handlers.changeLabels({ kind: 'rename-class', from: 'squares', to: 'boxes' });
    const { fingerprint } = await service.handlers.previewLabelWrite();
    const { runId } = await service.handlers.startTraining(SMALL);
    await expect(service.handlers.writeLabels({ fingerprint })).rejects.toMatchObject({
      kind: 'conflict',
      message: 'a training run is going and the label write would stop it; wait for it to finish or stop it first',
    });
    expect((await service.handlers.status()).job).toMatchObject({ kind: 'train', runId });
    expect(['running', 'done']).toContain((await service.handlers.status()).job!.state);
    expect(readdirSync(join(root, 'squares'))).toHaveLength(6);
    await service.handlers.stopTraining();
  });

  it('opening the library or changing labels while another process moves its files is refused naming it; alongside its indexing it opens as before', async () => {
    await openService();
    const other = Store.open(dbPath); // another process's connection
    try {
      await until(() => reader.jobLock.liveHolder() === null, 'the app to finish indexing', 120_000);
      expect(other.jobLock.claim('label write')).toBeNull();
      const refused = { kind: 'conflict', message: expect.stringMatching(/another Lookalike process \(pid \d+.*is already running a label write job on this database/) };
      await expect(service.handlers.openLibrary({ root })).rejects.toMatchObject(refused);
      // Label changes wait too: the write follows the labels it was previewed with.
      await expect(service.handlers.changeLabels({ kind: 'exclude-folder', folder: 'circles' })).rejects.toMatchObject(refused);
      await expect(service.handlers.undoLabels()).rejects.toMatchObject(refused);
      other.jobLock.release();
      expect(other.jobLock.claim('index')).toBeNull();
      await expect(service.handlers.openLibrary({ root })).resolves.toMatchObject({ photoCount: 18 });
    } finally {
      other.jobLock.release();
      other.close();
    }
  });

  it('refuses an Undo of a write and a move of photos too while a training run goes', async () => {
    await openService();
    const photoId = reader.photos(libraryId)[0].id;
    await service.handlers.startTraining(SMALL);
    await expect(service.handlers.undoLabelWrite()).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/^a training run is going and the label write undo would stop it/) });
    await expect(service.handlers.movePhotos({ photoIds: [photoId], folder: join(work, 'moved') })).rejects.toMatchObject({
      kind: 'conflict',
      message: expect.stringMatching(/^a training run is going and the photo move would stop it/),
    });
    expect(existsSync(join(work, 'moved'))).toBe(false);
    await service.handlers.stopTraining();
  });

  it.skipIf(!CLI_BUILT || process.platform === 'win32')(
    '`lookalike scan` from another process while the app writes is refused naming the app; after, it finds every photo with its id',
    async () => {
      await openService();
      await service.handlers.changeLabels({ kind: 'rename-class', from: 'squares', to: 'boxes' });
      await service.handlers.changeLabels({ kind: 'merge-classes', from: 'stripes', into: 'circles' });
      const before = byContent();
      expect(before.size).toBe(18);
      const { fingerprint } = await service.handlers.previewLabelWrite();
      // A gate the app's rescan after the moves waits at: every scan opens CACHEDIR.TAG in each folder, and
      // opening a FIFO waits for a writer. So the write holds on, deterministically, until the test opens it.
      const gate = join(root, 'gate', 'CACHEDIR.TAG');
      mkdirSync(join(root, 'gate'));
      execFileSync('mkfifo', [gate]);
      const writing = service.handlers.writeLabels({ fingerprint });
      writing.catch(() => undefined);
      const openGate = async () => {
        let fd: number | null = null;
        await until(() => {
          try {
            fd = openSync(gate, constants.O_WRONLY | constants.O_NONBLOCK);
            return true;
          } catch {
            return false; // no reader yet
          }
        }, 'the rescan to reach the gate');
        unlinkSync(gate);
        closeSync(fd!);
      };
      try {
        await until(() => reader.jobLock.liveHolder()?.kind === 'label write', 'the write to hold the job lock');
        const scan = await runCli(['scan', root, '--db', dbPath]);
        expect(scan.code).toBe(1);
        expect(scan.stderr).toMatch(new RegExp(`another Lookalike process \\(pid ${process.pid}\\b.*is already running a label write job on this database`));
        await openGate();
      } finally {
        if (existsSync(gate)) await openGate();
      }
      await writing;
      expect(readdirSync(join(root, 'boxes'))).toHaveLength(6);
      // The indexing the write paused goes on after it: the next scan waits for it.
      await until(() => reader.jobLock.liveHolder() === null, 'the app to finish indexing', 120_000);

      const after = await runCli(['scan', root, '--db', dbPath, '--json']);
      expect(after.code, after.stderr).toBe(0);
      expect(JSON.parse(after.stdout.trim().split('\n').pop()!)).toMatchObject({ sync: { added: 0, removed: 0 } });
      expect(byContent()).toEqual(before);
    },
  );
});

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}
