import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../shared/api.js';
import type { EngineService } from './service-contract.js';
import { createThreadedEngineService } from './service-thread.js';
import { drawTestLibrary } from '../../testing/test-photos.js';

let root: string;
let work: string;
let service: EngineService;

beforeAll(async () => {
  root = await drawTestLibrary({ classes: ['circles', 'stripes'], perClass: 5 });
  work = mkdtempSync(join(tmpdir(), 'lookalike-thread-'));
  service = await createThreadedEngineService({ dbPath: join(work, 'l.db'), cacheDir: join(work, 'cache'), reopenLast: false });
});
afterAll(async () => {
  // Setup may have failed part-way: close and remove only what was made.
  await service?.close();
  for (const dir of [root, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the engine on its own thread', () => {
  it('serves the same calls, events, errors and files through the proxy, and keeps this thread free', async () => {
    const events: EngineEvent[] = [];
    service.subscribe((e) => events.push(e));
    // Errors keep their kind across the thread.
    await expect(service.handlers.listPhotos({ offset: 0, limit: 1 })).rejects.toMatchObject({ name: 'ApiError', kind: 'conflict', message: 'open a library folder first' });
    expect(service.libraryRoot()).toBeNull();

    const summary = await service.handlers.openLibrary({ root });
    expect(summary.photoCount).toBe(10);
    expect(service.libraryRoot()).toBe(summary.root);
    const indexed = new Promise<void>((resolve) => service.subscribe((e) => e.type === 'job' && e.job.kind === 'index' && e.job.state === 'done' && resolve()));

    // While the engine thread computes features, this thread keeps running its own timers.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    await indexed;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(5);

    const [photo] = (await service.handlers.listPhotos({ offset: 0, limit: 1 })).items;
    const similar = await service.handlers.findSimilar({ photoId: photo.id, k: 3 });
    expect(similar.query.photoId).toBe(photo.id);
    expect(similar.results).toHaveLength(3);
    expect(await service.photoFile(photo.id, 'full')).toBe(join(summary.root, photo.path));
    expect(events.some((e) => e.type === 'progress')).toBe(true);
  });
});
