import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, copyFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EngineEvent } from '../../shared/api.js';
import { parseBackboneSpec } from '../ml/backbone/backbone.js';
import { Store } from '../store/store.js';
import { thumbnailFile } from '../library/thumbnails.js';
import { FLOWERS17, copyFlowersLibrary, describeWithShared, photosOf } from '../testing/test-photos.js';
import { cacheFeatures } from './library/feature-cache.js';
import { ensureBaselineModel } from './library/indexing.js';
import { findSimilar } from './library/search.js';
import { openLibrary } from './library/library-sync.js';
import { planTraining } from './door.js';
import { prepareRun, trainModel } from './training/training.js';
import { resolveSettings } from '../../shared/settings.js';
import { runSql } from '../testing/raw-sql.js';

const SPEC = parseBackboneSpec('nsfwjs-mobilenetv2-1.4');
const KEY = 'nsfwjs-mobilenetv2-1.4';
const SMALL = { epochs: 1, batchSize: 8, tripletsPerEpoch: 16, seed: 3, dim: 16 };
let root: string;
let dbDir: string;
let store: Store;
let libraryId: number;

const problemPaths = () => store.problems(libraryId).map((p) => p.path);

// Each test starts the backbone's worker threads several times: minutes on a busy two-core machine.
describeWithShared([FLOWERS17], 'reliability of the pipeline (issue #12)', () => {
  beforeAll(async () => {
    root = copyFlowersLibrary({ classes: ['crocus', 'iris'], perClass: 3, damaged: true });
    dbDir = mkdtempSync(join(tmpdir(), 'lookalike-guards-'));
    store = Store.open(join(dbDir, 'lookalike.db'));
    ({ libraryId } = await openLibrary({ store }, root));
  });
  afterAll(() => {
    store?.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(dbDir, { recursive: true, force: true });
  });

  it('a photo that cannot be read for a moment is tried again once it is back; a damaged one is not, while unchanged', async () => {
    const away = join(dbDir, 'away.jpg');
    const name = readdirSync(join(root, 'iris'))[0];
    renameSync(join(root, 'iris', name), away); // gone while indexing (a moved file, an unplugged drive)
    const first = await cacheFeatures({ store }, libraryId, SPEC, 1);
    expect(first.problems).toContainEqual({ path: `iris/${name}`, reason: expect.stringMatching(/file not found.*tried again next time/), unreadablePhoto: true });
    expect(first.problems).toContainEqual({ path: 'crocus/damaged.jpg', reason: expect.stringMatching(/not a supported image/), unreadablePhoto: true });
    renameSync(away, join(root, 'iris', name)); // back, unchanged
    const second = await cacheFeatures({ store }, libraryId, SPEC, 1);
    expect(second.computed).toBe(1);
    expect(second.failed).toBe(0); // the damaged one is not tried again while unchanged
    expect(problemPaths()).toEqual(['crocus/damaged.jpg']);
  });

  it('a damaged photo is tried again after a touch, or on an explicit retry', async () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'crocus', 'damaged.jpg'), later, later); // touched: tried again
    await openLibrary({ store }, root);
    expect((await cacheFeatures({ store }, libraryId, SPEC, 1)).failed).toBe(1);
    expect((await cacheFeatures({ store }, libraryId, SPEC, 1)).failed).toBe(0);
    expect((await cacheFeatures({ store }, libraryId, SPEC, 1, { retry: true })).failed).toBe(1); // an explicit retry
  });

  it('a fixed or deleted file leaves the problem list', async () => {
    copyFileSync(join(FLOWERS17, 'crocus', photosOf('crocus')[40]), join(root, 'crocus', 'damaged.jpg')); // fixed
    await openLibrary({ store }, root);
    await cacheFeatures({ store }, libraryId, SPEC, 1);
    expect(problemPaths()).toEqual([]);
    writeFileSync(join(root, 'iris', 'broken.jpg'), 'not a photo');
    await openLibrary({ store }, root);
    await cacheFeatures({ store }, libraryId, SPEC, 1);
    expect(problemPaths()).toEqual(['iris/broken.jpg']);
    rmSync(join(root, 'iris', 'broken.jpg')); // deleted
    await openLibrary({ store }, root);
    await cacheFeatures({ store }, libraryId, SPEC, 1);
    expect(problemPaths()).toEqual([]);
  });

  it('damaged stored features (NaN) are named and computed again; thousands of empty classes make one short note', async () => {
    // Trained on the final features (KEY), the ones damaged here.
    for (let i = 0; i < 3000; i++) mkdirSync(join(root, `empty-${String(i).padStart(4, '0')}`));
    await openLibrary({ store }, root);
    const victim = store.photos(libraryId).find((p) => p.relPath.startsWith('iris/'))!;
    runSql(store.path, 'UPDATE features SET vector = ? WHERE backbone = ? AND hash = ?', Buffer.from(new Float32Array(1792).fill(Number.NaN).buffer), KEY, victim.hash);
    const events: EngineEvent[] = [];
    const result = await trainModel({ store, emit: (e) => events.push(e) }, libraryId, planTraining(store, libraryId, resolveSettings({ ...SMALL, features: 'final' }), { k: 1 }), { workers: 1 });
    expect(store.run(result.runId)?.status).toBe('done');
    expect(events).toContainEqual({ type: 'problem', problem: { path: victim.relPath, reason: expect.stringMatching(/stored backbone features were damaged/) } });
    expect(store.features(KEY, [victim.hash]).get(victim.hash)!.every(Number.isFinite)).toBe(true);
    const messages = events.flatMap((e) => (e.type === 'job' && e.job.message ? [e.job.message] : []));
    expect(messages.some((m) => /3000 classes have no photos \("empty-0000", "empty-0001", "empty-0002" and 2997 more\)/.test(m))).toBe(true);
    expect(Math.max(...messages.map((m) => m.length))).toBeLessThan(400);
    for (const entry of readdirSync(root).filter((n) => n.startsWith('empty-'))) rmSync(join(root, entry), { recursive: true });
    await openLibrary({ store }, root);
  });

  it('a training start that fails before training marks its run failed, with the reason', async () => {
    const settings = resolveSettings({ ...SMALL, backbone: '/etc' });
    const runId = prepareRun(store, libraryId, settings);
    await expect(trainModel({ store }, libraryId, planTraining(store, libraryId, settings, { k: 1 }), { runId, workers: 1 })).rejects.toThrow();
    expect(store.run(runId)).toMatchObject({ status: 'failed', error: expect.stringMatching(/\/etc/) });
    expect(store.run(runId)?.finishedAt).not.toBeNull();
  });

  it("refuses a model of another library instead of answering with that library's photos", async () => {
    const other = copyFlowersLibrary({ classes: ['crocus', 'iris'], perClass: 2, offset: 10 });
    try {
      const { libraryId: otherId } = await openLibrary({ store }, other);
      await cacheFeatures({ store }, otherId, SPEC, 1);
      const foreignModel = await ensureBaselineModel({ store }, otherId, SPEC);
      const query = store.photos(libraryId)[1];
      await expect(findSimilar(store, libraryId, { photoId: query.id }, 3, foreignModel)).rejects.toThrow(/belongs to another library/);
      const own = await findSimilar(store, otherId, { photoId: store.photos(otherId)[0].id }, 3, foreignModel);
      expect(own.results).toHaveLength(3);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("never indexes the app's own folders inside the library: the data folder, the thumbnail cache, any tagged cache", async () => {
    const photo = join(root, 'crocus', readdirSync(join(root, 'crocus')).find((name) => name !== 'damaged.jpg')!);
    const dataDir = join(root, 'lookalike-data');
    await thumbnailFile(photo, join(dataDir, 'cache'));
    await thumbnailFile(photo, join(root, 'some-cache'));
    const { summary } = await openLibrary({ store }, root, { appFolders: [dataDir, join(dataDir, 'cache')] });
    expect(summary.classes.map((c) => c.name)).toEqual(['crocus', 'iris']);
    expect(store.photos(libraryId).filter((p) => p.relPath.endsWith('.webp'))).toEqual([]);
  });
}, { timeout: 480_000 });
