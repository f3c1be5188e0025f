import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../shared/api.js';
import { createEngineService, type EngineService } from './service.js';
import { drawTestLibrary } from '../../testing/test-photos.js';

// Set in beforeAll; afterAll checks each, as setup may have failed part-way.
let root: string;
let work: string;
let service: EngineService;
const events: EngineEvent[] = [];

/** Resolves at the first event (from now on) that matches. */
function nextEvent(match: (e: EngineEvent) => boolean, timeoutMs = 400_000): Promise<EngineEvent> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('event did not come')), timeoutMs);
    const stop = service.subscribe((e) => {
      if (!match(e)) return;
      clearTimeout(timer);
      stop();
      resolve(e);
    });
  });
}
const jobEnded = (kind: string) => (e: EngineEvent) => e.type === 'job' && e.job.kind === kind && ['done', 'failed', 'stopped'].includes(e.job.state);

beforeAll(async () => {
  root = await drawTestLibrary({ classes: ['circles', 'squares', 'stripes'], perClass: 6 });
  work = mkdtempSync(join(tmpdir(), 'lookalike-service-'));
  service = await createEngineService({ dbPath: join(work, 'l.db'), cacheDir: join(work, 'cache') });
  service.subscribe((e) => events.push(e));
});
afterAll(async () => {
  await service?.close();
  for (const dir of [root, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * One library through the whole service, in order: opened and indexed, served, trained, followed on
 * disk (the real folder watch), reopened. What needs no such history is tested on its own: refusals
 * before any work (handlers.test.ts, on fakes), a folder change while a job runs (service-watch.test.ts),
 * the parts (job-runner, library-files, library-watcher tests).
 */
describe('engine service (the handler table both transports serve)', () => {
  it('asks for a library first, with a clear message', async () => {
    await expect(service.handlers.listPhotos({ offset: 0, limit: 10 })).rejects.toThrow(/open a library folder first/);
    expect((await service.handlers.status()).library).toBeNull();
  });

  it('opens a library, indexes it in the background, and finds similar photos before any training', { timeout: 600_000 }, async () => {
    const indexed = nextEvent(jobEnded('index'));
    const summary = await service.handlers.openLibrary({ root: root });
    expect(summary.classes.map((c) => c.photoCount)).toEqual([6, 6, 6]);
    const ended = await indexed;
    expect(ended.type === 'job' ? ended.job.state : null).toBe('done');
    const page = await service.handlers.listPhotos({ offset: 0, limit: 5 });
    expect(page.total).toBe(18);
    expect(page.items).toHaveLength(5);
    const similar = await service.handlers.findSimilar({ photoId: page.items[0].id, k: 5 });
    expect(similar.query.photoId).toBe(page.items[0].id);
    expect(similar.results).toHaveLength(5);
    expect(similar.results.map((r) => r.photoId)).not.toContain(page.items[0].id);
    expect((await service.handlers.listModels()).map((m) => m.kind)).toEqual(['baseline']);
  });

  it('serves thumbnails from its cache and originals only for photos of the open library', async () => {
    const [photo] = (await service.handlers.listPhotos({ offset: 0, limit: 1 })).items;
    const thumb = await service.photoFile(photo.id, 'thumb');
    expect(thumb && thumb.startsWith(join(work, 'cache'))).toBe(true);
    expect(existsSync(thumb!)).toBe(true);
    expect(await service.photoFile(photo.id, 'full')).toBe(join(service.libraryRoot()!, photo.path));
    expect(await service.photoFile(999_999, 'full')).toBeNull();
  });

  it('trains in the background, streaming loss points and epoch metrics, and keeps the run', { timeout: 600_000 }, async () => {
    const done = nextEvent(jobEnded('train'));
    // A window that comes back mid-epoch asks for the history then: it must reach the step just taken.
    let midEpoch: Promise<{ losses: Array<{ step: number; epoch: number }> }> | null = null;
    const stopWatching = service.subscribe((e) => {
      if (e.type === 'loss' && e.step === 6 && !midEpoch) midEpoch = service.handlers.runHistory({ runId: e.runId });
    });
    const { runId } = await service.handlers.startTraining({ epochs: 2, tripletsPerEpoch: 64, batchSize: 16, dim: 16 });
    const ended = await done;
    stopWatching();
    expect((await midEpoch!).losses.map((p) => [p.step, p.epoch])).toEqual([[1, 1], [2, 1], [3, 1], [4, 1], [5, 2], [6, 2]]);
    expect(ended.type === 'job' && ended.job).toMatchObject({ state: 'done', runId });
    expect(events.filter((e) => e.type === 'loss' && e.runId === runId)).toHaveLength(8);
    expect(events.filter((e) => e.type === 'epoch' && e.runId === runId)).toHaveLength(2);
    const [run] = await service.handlers.listRuns();
    expect(run).toMatchObject({ id: runId, status: 'done', epochsDone: 2 });
    const history = await service.handlers.runHistory({ runId });
    expect(history.losses).toHaveLength(8);
    expect(history.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    const models = await service.handlers.listModels();
    expect(models.map((m) => m.kind)).toEqual(['baseline', 'trained']);
    expect(models.every((m) => m.indexedCount === 18)).toBe(true);
  });

  it('picks up a photo added to the folder while it is open, without a restart', { timeout: 600_000 }, async () => {
    const refreshed = nextEvent((e) => e.type === 'library' && e.library.photoCount === 19);
    const other = await drawTestLibrary({ classes: ['squares'], perClass: 1, seed: 99 });
    try {
      copyFileSync(join(other, 'squares', readdirSync(join(other, 'squares'))[0]), join(root, 'squares', 'added.jpg'));
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    await refreshed;
    await nextEvent(jobEnded('index'));
    const models = await service.handlers.listModels();
    expect(models.every((m) => m.indexedCount === 19)).toBe(true);
  });

  it('reopens the library used last when the app starts again', async () => {
    const again = await createEngineService({ dbPath: join(work, 'l.db'), cacheDir: join(work, 'cache') });
    try {
      expect((await again.handlers.status()).library?.root).toBe(service.libraryRoot());
      expect((await again.handlers.listRuns()).length).toBe(1);
    } finally {
      await again.close();
    }
  });
});
