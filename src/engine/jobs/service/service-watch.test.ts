import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../shared/api.js';
import type { FolderWatchEvents } from '../../library/folder-watch.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { WATCH_SETTLE_MS } from './library-watcher.js';
import { createEngineService, type EngineService } from './service.js';
import { fakeClock } from './service-fakes.js';

/**
 * The whole service on a real database and real photos, with the machine's clock, folder watch and
 * backend replaced: a folder change is acted on when the test says, not when fs.watch and timers do.
 */
let root: string;
let work: string;
let service: EngineService;
const clock = fakeClock();
let folder: FolderWatchEvents | null = null;
const events: EngineEvent[] = [];

const jobEnded = (e: EngineEvent) => e.type === 'job' && e.job.kind === 'index' && ['done', 'failed', 'stopped'].includes(e.job.state);
function nextEvent(match: (e: EngineEvent) => boolean): Promise<EngineEvent> {
  return new Promise((resolve) => {
    const stop = service.subscribe((e) => {
      if (!match(e)) return;
      stop();
      resolve(e);
    });
  });
}

beforeAll(async () => {
  root = await drawTestLibrary({ classes: ['circles', 'squares'], perClass: 2 });
  work = mkdtempSync(join(tmpdir(), 'lookalike-service-watch-'));
  service = await createEngineService(
    { dbPath: join(work, 'l.db'), cacheDir: join(work, 'cache'), reopenLast: false },
    {
      clock,
      watch: (_root, watchEvents) => {
        folder = watchEvents;
        return () => (folder = null);
      },
      backend: async () => ({ name: 'fake', reason: 'given by the test', gpu: false, backboneRuntime: 'none' }),
    },
  );
  service.subscribe((e) => events.push(e));
});
afterAll(async () => {
  await service?.close();
  for (const dir of [root, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('engine service with the clock, folder watch and backend passed in', () => {
  it('says the backend it was given', async () => {
    expect((await service.handlers.status()).backend).toMatchObject({ name: 'fake', backboneRuntime: 'none' });
  });

  it('holds a folder change made while indexing runs, and reads the folder again once it ends', { timeout: 300_000 }, async () => {
    const firstIndex = nextEvent(jobEnded);
    await service.handlers.openLibrary({ root });
    expect(folder).not.toBeNull();
    const refreshed = nextEvent((e) => e.type === 'library' && e.library.photoCount === 5);
    copyFileSync(join(root, 'squares', readdirSync(join(root, 'squares'))[0]), join(root, 'squares', 'added.jpg'));
    folder!.onChange();
    clock.advance(WATCH_SETTLE_MS); // settled while the first indexing still runs: it waits
    const indexStarts = () => events.filter((e) => e.type === 'job' && e.job.kind === 'index' && e.job.state === 'running').length;
    expect(indexStarts()).toBe(1);
    await firstIndex;
    expect(indexStarts()).toBe(1);
    clock.advance(0);
    await refreshed;
    await nextEvent(jobEnded);
    expect((await service.handlers.listModels()).map((m) => m.indexedCount)).toEqual([5]);
  });
});
