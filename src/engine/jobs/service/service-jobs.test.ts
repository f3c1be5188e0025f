import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { createEngineService, type EngineService } from './service.js';

const SMALL = { epochs: 1, batchSize: 8, tripletsPerEpoch: 16, dim: 16 };
let root: string;
let work: string;
let dbPath: string;
let service: EngineService;

beforeAll(async () => {
  root = await drawTestLibrary({ classes: ['circles', 'squares'], perClass: 4 });
  work = mkdtempSync(join(tmpdir(), 'lookalike-jobs-'));
  dbPath = join(work, 'l.db');
  // Opening the library starts indexing in the background: the case where racing starts slipped through.
  service = await createEngineService({ dbPath, cacheDir: join(work, 'cache'), libraryRoot: root });
});
afterAll(async () => {
  await service?.close();
  for (const dir of [root, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('one job at a time per database (service)', () => {
  it('two training starts arriving together while indexing runs: one starts, the other is refused (409 kind)', async () => {
    expect((await service.handlers.status()).job?.kind).toBe('index');
    const outcomes = await Promise.allSettled([service.handlers.startTraining(SMALL), service.handlers.startTraining(SMALL)]);
    const started = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(started).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0].reason).toMatchObject({ kind: 'conflict', message: expect.stringMatching(/already going/) });
    const stopped = await service.handlers.stopTraining();
    expect(stopped?.kind).toBe('train');
    expect((await service.handlers.status()).job).toBeNull();
    const runs = await service.handlers.listRuns();
    expect(runs.filter((r) => r.status === 'running')).toEqual([]);
  });

  it('refuses to start while another process runs a job on the database, and Stop reaches that process', async () => {
    const other = Store.open(dbPath); // another process's connection
    try {
      expect(other.jobLock.claim('train')).toBeNull();
      await expect(service.handlers.startTraining(SMALL)).rejects.toMatchObject({
        kind: 'conflict',
        message: expect.stringMatching(new RegExp(`another Lookalike process \\(pid ${process.pid}.*a train job`)),
      });
      const asked = await service.handlers.stopTraining();
      expect(asked).toMatchObject({ kind: 'train', state: 'stopping', message: expect.stringMatching(/asked Lookalike process/) });
      expect(other.jobLock.heartbeat()).toEqual({ held: true, stopRequested: true });
      other.jobLock.release();
      const { runId } = await service.handlers.startTraining(SMALL);
      expect(runId).toBeGreaterThan(0);
      expect(other.jobLock.claim('index')).toMatchObject({ kind: 'train' }); // now the service holds it
      await service.handlers.stopTraining();
    } finally {
      other.close();
    }
  });
});
