import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { EngineEvent } from '../../shared/api.js';
import { JobControl } from '../common/job-control.js';
import { parseBackboneSpec } from '../ml/backbone.js';
import { cacheFeatures, ensureBaselineModel, findSimilar, indexLibrary, openLibrary, trainModel, evaluateModel } from './pipeline.js';
import { Store } from '../store/store.js';
import { FLOWERS17, copyFlowersLibrary, describeWithShared, photosOf } from '../testing/test-photos.js';

const CLASSES = ['daisy', 'sunflower', 'snowdrop'];
let root: string;
let dbDir: string;
let store: Store;

// Real photos, as the quality checks (a sunflower's neighbours are sunflowers) need them; the same
// pipeline runs on drawn photos in the CLI and service suites.
describeWithShared([FLOWERS17], 'from a labelled folder to a trained model and ranked neighbours', () => {
  beforeAll(() => {
    root = copyFlowersLibrary({ classes: CLASSES, perClass: 8, unlabelled: true, damaged: true });
    dbDir = mkdtempSync(join(tmpdir(), 'lookalike-db-'));
    store = Store.open(join(dbDir, 'lookalike.db'));
  });
  afterAll(() => {
    // Setup may have failed part-way: close and remove only what was made.
    store?.close();
    for (const dir of [root, dbDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const settings = { epochs: 2, batchSize: 16, tripletsPerEpoch: 96, seed: 5, dim: 32 };

  it('trains, stores, indexes and evaluates; a damaged photo is reported and skipped', async () => {
    const events: EngineEvent[] = [];
    const ctx = { store, emit: (e: EngineEvent) => events.push(e) };
    const { libraryId, summary } = await openLibrary(ctx, root);
    expect(summary.classes.map((c) => [c.name, c.photoCount])).toEqual([
      ['daisy', 9],
      ['snowdrop', 8],
      ['sunflower', 8],
    ]);
    expect(summary.unlabelledCount).toBe(1);

    const result = await trainModel(ctx, libraryId, settings, { k: 5, workers: 2 });
    expect(result.epochsDone).toBe(2);
    expect(result.resumed).toBe(false);
    expect(result.baseline.queries).toBe(6); // 2 validation photos per class (8 usable * 0.2, rounded)
    expect(result.trained.precision_at_k).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'loss')).toHaveLength(2 * 6);
    expect(events.filter((e) => e.type === 'epoch')).toHaveLength(2);
    expect(events.some((e) => e.type === 'problem' && e.problem.path === 'daisy/damaged.jpg')).toBe(true);
    const featureProgress = events.filter((e) => e.type === 'progress' && e.kind === 'features');
    expect(featureProgress.some((e) => e.type === 'progress' && e.phase === 'Computing backbone features (ONNX Runtime)')).toBe(true);
    expect(store.problems(libraryId)).toContainEqual({ path: 'daisy/damaged.jpg', reason: expect.stringMatching(/not a supported image|damaged/) });

    // Every photo that decodes (24 labelled + 1 unlabelled) is indexed under both models.
    for (const model of store.models(libraryId)) expect(store.embeddingCount(model.id)).toBe(25);
    expect(store.run(result.runId)).toMatchObject({ status: 'done', epochsDone: 2, modelId: result.modelId });
    const again = await evaluateModel(store, libraryId, result.modelId, 5);
    expect(again.trained?.precision_at_k).toBeCloseTo(result.trained.precision_at_k, 6);
    expect(again.baseline.precision_at_k).toBeCloseTo(result.baseline.precision_at_k, 6);
  });

  it('ranks k other photos nearest first (the query is not its own neighbour), also for a photo from outside', async () => {
    const libraryId = store.findLibrary(store.libraryRoot(1))!;
    const query = store.photos(libraryId).find((p) => p.relPath.startsWith('sunflower/'))!;
    const similar = await findSimilar(store, libraryId, { photoId: query.id }, 10);
    expect(similar.results).toHaveLength(10);
    expect(similar.results.map((r) => r.photoId)).not.toContain(query.id);
    expect(similar.results.map((r) => r.rank)).toEqual(similar.results.map((_, i) => i + 1));
    for (let i = 1; i < similar.results.length; i++) expect(similar.results[i].distance).toBeGreaterThanOrEqual(similar.results[i - 1].distance);
    expect(similar.results.slice(0, 3).filter((r) => r.className === 'sunflower').length).toBeGreaterThanOrEqual(2);

    const outside = join(FLOWERS17, 'sunflower', photosOf('sunflower')[60]);
    const fromOutside = await findSimilar(store, libraryId, { image: outside, label: outside }, 5);
    expect(fromOutside.query.photoId).toBeNull();
    expect(fromOutside.results[0].className).toBe('sunflower');
  });

  it('resumes a stopped run from its last checkpoint instead of starting over', async () => {
    const libraryId = store.findLibrary(store.libraryRoot(1))!;
    const control = new JobControl();
    const resumeSettings = { ...settings, epochs: 3, seed: 9 };
    const stopAfterFirstEpoch = (e: EngineEvent) => {
      if (e.type === 'epoch' && e.epoch === 1) control.stop();
    };
    const stopped = await trainModel({ store, control, emit: stopAfterFirstEpoch }, libraryId, resumeSettings, { k: 5 });
    expect(stopped.stopped).toBe(true);
    expect(stopped.epochsDone).toBe(1);
    // A run that stopped is finished; to model a crash, mark it as still running (as a kill -9 leaves it).
    store.updateRun(stopped.runId, { status: 'running' });
    const losses: number[] = [];
    const resumed = await trainModel({ store, emit: (e) => e.type === 'loss' && losses.push(e.step) }, libraryId, resumeSettings, { k: 5 });
    expect(resumed.runId).toBe(stopped.runId);
    expect(resumed.resumed).toBe(true);
    expect(resumed.epochsDone).toBe(3);
    expect(Math.min(...losses)).toBe(7); // steps of epoch 1 (1-6) were not trained again
  });

  it('updates only what changed when the folder changes, and drops removed photos from search', async () => {
    const libraryId = store.findLibrary(store.libraryRoot(1))!;
    const { rmSync: remove } = await import('node:fs');
    const gone = store.photos(libraryId).find((p) => p.relPath.startsWith('snowdrop/'))!;
    remove(join(root, gone.relPath));
    const { sync } = await openLibrary({ store }, root);
    expect(sync).toMatchObject({ added: 0, changed: 0, removed: 1 });
    const model = store.models(libraryId).at(-1)!;
    expect((await indexLibrary({ store }, libraryId, model.id)).embedded).toBe(0);
    const hits = store.vectorIndex(model.id, model.dim).knn(new Float32Array(model.dim), 100);
    expect(hits.map((h) => h.id)).not.toContain(gone.id);
  });

  it('indexes a library whose first photo is unreadable (the model takes its size from what could be read)', async () => {
    const fresh = Store.open(join(dbDir, 'fresh.db'));
    try {
      const { libraryId } = await openLibrary({ store: fresh }, root);
      expect(fresh.photos(libraryId)[0].relPath).toBe('daisy/damaged.jpg');
      const spec = parseBackboneSpec('nsfwjs-mobilenetv2-1.4');
      await cacheFeatures({ store: fresh }, libraryId, spec);
      const modelId = await ensureBaselineModel({ store: fresh }, libraryId, spec);
      expect(fresh.model(modelId)?.dim).toBe(1792);
      expect(fresh.embeddingCount(modelId)).toBe(fresh.countPhotos(libraryId) - 1);
    } finally {
      fresh.close();
    }
  });
});
