import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeMatches, type EngineEvent, type LibrarySummary, type TrainSettings } from '../../shared/api.js';
import { BUILTIN_BACKBONE } from '../../shared/builtin-backbone.js';
import { resolveSettings } from '../../shared/settings.js';
import { JobControl } from '../common/job-control.js';
import { selectBackend } from '../ml/runtime/compute-backend.js';
import { parseBackboneSpec } from '../ml/backbone/backbone.js';
import sharp from 'sharp';
import { createRng } from '../common/rng.js';
import { expectedRuntime } from '../ml/backbone/onnx-backbone.js';
import * as tf from '@tensorflow/tfjs-core';
import Database from 'better-sqlite3';
import { CENTRE_WEIGHT, packTensors, packedNames, unpackTensors } from '../ml/training/head.js';
import type { JobContext } from './job-context.js';
import { cacheFeatures } from './library/feature-cache.js';
import { ensureBaselineModel, indexLibrary } from './library/indexing.js';
import { releaseQueryBackbones } from './models/query-backbones.js';
import type { TrainResult } from './training/training.js';
import { evaluateModel, evaluateModelInDetail } from './training/evaluation.js';
import { findSimilar } from './library/search.js';
import { openLibrary } from './library/library-sync.js';
import { planTraining } from './door.js';
import { trainModel } from './training/training.js';
import { makeSampleLibrary } from '../library/sample-library.js';
import { Store } from '../store/store.js';
import { FLOWERS17, copyFlowersLibrary, describeWithShared, photosOf } from '../testing/test-photos.js';
import { expectNoTensorLeaks } from '../testing/tensor-leaks.js';

const CLASSES = ['daisy', 'sunflower', 'snowdrop'];
const SETTINGS = { epochs: 2, batchSize: 16, tripletsPerEpoch: 96, seed: 5, dim: 32 };
let root: string;
let dbDir: string;
let store: Store;

const train = (ctx: JobContext, libraryId: number, settings: Partial<TrainSettings>, options: { workers?: number } = {}) =>
  trainModel(ctx, libraryId, planTraining(ctx.store, libraryId, resolveSettings(settings), { k: 5 }), options);

/** Every case starts from this: the library opened and one model trained, with what it said on the way. */
let libraryId: number;
let summary: LibrarySummary;
let trained: TrainResult;
let indexedAfterTraining: number[];
const events: EngineEvent[] = [];

// Training, search and evaluation free every tensor they make; a backbone kept for queries is let go before counting.
expectNoTensorLeaks(releaseQueryBackbones);

// Real photos, as the quality checks (a sunflower's neighbours are sunflowers) need them; the same
// pipeline runs on drawn photos in the CLI and service suites.
describeWithShared([FLOWERS17], 'from a labelled folder to a trained model and ranked neighbours', () => {
  beforeAll(async () => {
    root = copyFlowersLibrary({ classes: CLASSES, perClass: 8, unlabelled: true, damaged: true });
    dbDir = mkdtempSync(join(tmpdir(), 'lookalike-db-'));
    store = Store.open(join(dbDir, 'lookalike.db'));
    const ctx = { store, emit: (e: EngineEvent) => events.push(e) };
    ({ libraryId, summary } = await openLibrary(ctx, root));
    trained = await train(ctx, libraryId, SETTINGS, { workers: 2 });
    indexedAfterTraining = store.models(libraryId).map((m) => store.embeddingCount(m.id));
  });
  afterAll(() => {
    // Setup may have failed part-way: close and remove only what was made.
    store?.close();
    for (const dir of [root, dbDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('trains, stores, indexes and evaluates; a damaged photo is reported and skipped', async () => {
    expect(summary.classes.map((c) => [c.name, c.photoCount])).toEqual([
      ['daisy', 9],
      ['snowdrop', 8],
      ['sunflower', 8],
    ]);
    expect(summary.unlabelledCount).toBe(1);

    const result = trained;
    expect(result.epochsDone).toBe(2);
    expect(result.resumed).toBe(false);
    expect(result.baseline.queries).toBe(6); // 2 validation photos per class (8 usable * 0.2, rounded)
    expect(result.trained.precision_at_k).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === 'loss')).toHaveLength(2 * 6);
    expect(events.filter((e) => e.type === 'epoch')).toHaveLength(2);
    expect(events.some((e) => e.type === 'problem' && e.problem.path === 'daisy/damaged.jpg')).toBe(true);
    // The phase names what runs the backbone here: ONNX Runtime where it is installed, else TF.js.
    const runtime = await expectedRuntime(await selectBackend());
    const said = runtime === 'onnxruntime' ? 'ONNX Runtime' : runtime.replace(/^tfjs-/, 'TF.js ');
    const featureProgress = events.filter((e) => e.type === 'progress' && e.kind === 'features');
    expect(featureProgress.some((e) => e.type === 'progress' && e.phase === `Computing backbone features (${said})`)).toBe(true);
    // Speeds for the progress line: photos/s while computing features, 3 images per triplet/s while training,
    // measured from the second report on (the first batch carries the start-up, so it gives no speed).
    const speeds = (kind: string) => events.flatMap((e) => (e.type === 'progress' && e.kind === kind && e.done > 0 ? [e.imagesPerSecond] : []));
    for (const kind of ['features', 'train']) {
      expect(speeds(kind)[0]).toBeNull();
      for (const speed of speeds(kind).filter((v) => v !== null)) expect(speed).toBeGreaterThan(0);
    }
    expect(speeds('train').some((v) => v !== null)).toBe(true);
    expect(store.problems(libraryId)).toContainEqual({ path: 'daisy/damaged.jpg', reason: expect.stringMatching(/not a supported image|damaged/), unreadablePhoto: true });

    // Every photo that decodes (24 labelled + 1 unlabelled) is indexed under both models.
    expect(indexedAfterTraining).toEqual([25, 25]);
    expect(store.run(result.runId)).toMatchObject({ status: 'done', epochsDone: 2, modelId: result.modelId });
    const again = await evaluateModel(store, libraryId, result.modelId, 5);
    expect(again.trained?.precision_at_k).toBeCloseTo(result.trained.precision_at_k, 6);
    expect(again.baseline.precision_at_k).toBeCloseTo(result.baseline.precision_at_k, 6);
  });

  it('is reproducible from its seed: the same settings again give identical weights and scores, and the kept epoch is recorded', async () => {
    const first = store.run(trained.runId)!;
    const again = await train({ store }, libraryId, SETTINGS);
    expect(again.runId).not.toBe(first.id);
    expect(again.trained).toEqual(first.trained);
    expect(store.modelWeights(again.modelId)!.equals(store.modelWeights(first.modelId!)!)).toBe(true);
    const epochs = store.epochs(again.runId);
    const best = epochs.reduce((a, b) => (b.validation.map_at_r > a.validation.map_at_r ? b : a));
    expect(store.run(again.runId)?.keptEpoch).toBe(best.epoch);
    expect(again.trained.map_at_r).toBeCloseTo(best.validation.map_at_r, 6);
  });

  it('trains from a cache holding the multi-scale features without the final pool (as caches written before both were stored), taking it from their tail', async () => {
    const key = 'nsfwjs-mobilenetv2-1.4+block10-expand+block13-expand';
    const hashes = store.photos(libraryId).map((p) => p.hash);
    const multiScale = store.features(key, hashes);
    expect(multiScale.size).toBe(25);
    store.deleteFeatures(BUILTIN_BACKBONE.id, hashes);
    const again = await train({ store }, libraryId, SETTINGS);
    expect(again.baseline).toEqual(trained.baseline);
    const finalPool = store.features(BUILTIN_BACKBONE.id, hashes);
    expect(finalPool.size).toBe(25);
    for (const [hash, vector] of finalPool) expect(Array.from(vector)).toEqual(Array.from(multiScale.get(hash)!.subarray(3136 - 1792)));
    expect(store.model(again.modelId)!.config.head).toMatchObject({ inputDim: 3136, centre: { segments: [528, 816, 1792] } });
  });

  it('ranks k other photos nearest first (the query is not its own neighbour), also for a photo from outside', async () => {
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

  it('evaluates per class (worst first, baseline beside trained), names the worst queries, and calibrates distances', async () => {
    const model = store.models(libraryId).filter((m) => m.kind === 'trained').at(-1)!;
    const detail = await evaluateModelInDetail(store, libraryId, model.id, 5);
    expect(detail.classes.map((c) => c.name).sort()).toEqual([...CLASSES].sort());
    for (let i = 1; i < detail.classes.length; i++) expect(detail.classes[i].trained!.map_at_r).toBeGreaterThanOrEqual(detail.classes[i - 1].trained!.map_at_r);
    const weighted = (pick: (c: (typeof detail.classes)[number]) => number) => detail.classes.reduce((s, c) => s + pick(c) * c.queries, 0) / detail.trained!.queries;
    expect(weighted((c) => c.trained!.precision_at_k)).toBeCloseTo(detail.trained!.precision_at_k, 6);
    expect(weighted((c) => c.baseline.map_at_r)).toBeCloseTo(detail.baseline.map_at_r, 6);
    for (const q of detail.worstQueries) {
      const photo = store.photo(q.photoId)!;
      expect(photo.split).toBe('validation');
      expect(photo.className).toBe(q.className);
      expect(q.otherClassShare).toBeGreaterThan(0);
      expect(q.confusedWith).not.toBe(q.className);
    }
    const { distances } = detail;
    expect(distances.same_class[1]).toBeLessThan(distances.other_class[1]);
    expect(store.modelDistances(model.id)).toEqual(distances);
  });

  it('says when an outside image has no close match: a noise image through the untrained backbone, not a flower of a known class', async () => {
    const rng = createRng(17);
    const pixels = Buffer.from(Array.from({ length: 192 * 192 * 3 }, () => Math.floor(rng() * 256)));
    const noise = await sharp(pixels, { raw: { width: 192, height: 192, channels: 3 } }).png().toBuffer();
    const flower = join(FLOWERS17, 'sunflower', photosOf('sunflower')[61]);
    // Through the untrained backbone noise is like nothing here. A trained head maps everything near some
    // class, so there noise can lie as near as a hard photo of a class does: only said farther than the flower.
    const untrained = store.models(libraryId).find((m) => m.kind === 'baseline')!;
    const fromNoise = await findSimilar(store, libraryId, { image: noise, label: 'noise.png' }, 5, untrained.id);
    expect(fromNoise.distances?.threshold).toEqual(expect.any(Number));
    expect(closeMatches(fromNoise.distances, fromNoise.results)).not.toContain(true);
    const trained = store.models(libraryId).filter((m) => m.kind === 'trained').at(-1)!;
    const noiseThroughHead = await findSimilar(store, libraryId, { image: noise, label: 'noise.png' }, 5, trained.id);
    const flowerThroughHead = await findSimilar(store, libraryId, { image: flower, label: flower }, 5, trained.id);
    expect(noiseThroughHead.results[0].distance).toBeGreaterThan(flowerThroughHead.results[0].distance);
    // The baseline's distances mean something on 8 photos a class; the two-epoch toy head's hardly do.
    const baseline = store.models(libraryId).find((m) => m.kind === 'baseline')!;
    const fromFlower = await findSimilar(store, libraryId, { image: flower, label: flower }, 5, baseline.id);
    expect(closeMatches(fromFlower.distances, fromFlower.results)[0]).toBe(true);
  });

  /** A run stopped after its first epoch and left marked running, as a crash (kill -9) leaves it. */
  async function crashAfterFirstEpoch(settings: Partial<TrainSettings>): Promise<TrainResult> {
    const control = new JobControl();
    const stopAfterFirstEpoch = (e: EngineEvent) => {
      if (e.type === 'epoch' && e.epoch === 1) control.stop();
    };
    const stopped = await train({ store, control, emit: stopAfterFirstEpoch }, libraryId, settings);
    expect(stopped.stopped).toBe(true);
    expect(stopped.epochsDone).toBe(1);
    store.updateRun(stopped.runId, { status: 'running' });
    return stopped;
  }

  it('resumes a stopped run from its last checkpoint instead of starting over', async () => {
    const resumeSettings = { ...SETTINGS, epochs: 3, seed: 9 };
    const stopped = await crashAfterFirstEpoch(resumeSettings);
    const losses: number[] = [];
    const resumed = await train({ store, emit: (e) => e.type === 'loss' && losses.push(e.step) }, libraryId, resumeSettings);
    expect(resumed.runId).toBe(stopped.runId);
    expect(resumed.resumed).toBe(true);
    expect(resumed.epochsDone).toBe(3);
    expect(Math.min(...losses)).toBe(7); // steps of epoch 1 (1-6) were not trained again
  });

  it('resumes a run stopped before centring came in as it began: without centring', async () => {
    const resumeSettings = { ...SETTINGS, epochs: 2, seed: 11 };
    const stopped = await crashAfterFirstEpoch(resumeSettings);
    // Its checkpoint as an older version wrote it: the head's weights and Adam's, no centre.
    const checkpoint = store.latestCheckpoint(stopped.runId)!;
    expect(packedNames(checkpoint.state)).toContain(CENTRE_WEIGHT);
    const tensors = unpackTensors(checkpoint.state);
    const older = await packTensors(Object.entries(tensors).filter(([name]) => name !== CENTRE_WEIGHT).map(([name, tensor]) => ({ name, tensor })));
    tf.dispose(Object.values(tensors));
    const db = new Database(join(dbDir, 'lookalike.db'));
    db.prepare('UPDATE checkpoints SET state = ? WHERE run_id = ?').run(older, stopped.runId);
    db.close();
    const resumed = await train({ store }, libraryId, resumeSettings);
    expect(resumed).toMatchObject({ runId: stopped.runId, resumed: true, epochsDone: 2 });
    expect(store.model(resumed.modelId)!.config.head).not.toHaveProperty('centre');
  });

  it('updates only what changed when the folder changes, and drops removed photos from search', async () => {
    // A library of its own (the same photos, so their features are already cached): the others' stays as trained.
    const ownRoot = copyFlowersLibrary({ classes: CLASSES, perClass: 8 });
    try {
      const ctx = { store };
      const { libraryId: ownId } = await openLibrary(ctx, ownRoot);
      const modelId = await ensureBaselineModel(ctx, ownId, parseBackboneSpec(BUILTIN_BACKBONE.id));
      const gone = store.photos(ownId).find((p) => p.relPath.startsWith('snowdrop/'))!;
      rmSync(join(ownRoot, gone.relPath));
      const { sync } = await openLibrary(ctx, ownRoot);
      expect(sync).toMatchObject({ added: 0, changed: 0, removed: 1 });
      const model = store.model(modelId)!;
      expect((await indexLibrary(ctx, ownId, model.id)).embedded).toBe(0);
      const hits = store.vectorIndex(model.id, model.dim).knn(new Float32Array(model.dim), 100);
      expect(hits).toHaveLength(23);
      expect(hits.map((h) => h.id)).not.toContain(gone.id);
    } finally {
      rmSync(ownRoot, { recursive: true, force: true });
    }
  });

  it('indexes a library whose first photo is unreadable (the model takes its size from what could be read)', async () => {
    const fresh = Store.open(join(dbDir, 'fresh.db'));
    try {
      const { libraryId } = await openLibrary({ store: fresh }, root);
      expect(fresh.photos(libraryId)[0].relPath).toBe('daisy/damaged.jpg');
      const spec = parseBackboneSpec(BUILTIN_BACKBONE.id);
      await cacheFeatures({ store: fresh }, libraryId, spec);
      const modelId = await ensureBaselineModel({ store: fresh }, libraryId, spec);
      expect(fresh.model(modelId)?.dim).toBe(1792);
      expect(fresh.embeddingCount(modelId)).toBe(fresh.countPhotos(libraryId) - 1);
    } finally {
      fresh.close();
    }
  });
});

// Drawn photos (the sample library), so this runs on every machine, with or without ../shared.
describe('training on drawn photos', () => {
  let drawnDir: string | undefined;
  afterAll(() => {
    if (drawnDir) rmSync(drawnDir, { recursive: true, force: true });
  });

  it('ranks the validation photos better than the backbone alone', async () => {
    drawnDir = mkdtempSync(join(tmpdir(), 'lookalike-drawn-'));
    const drawnStore = Store.open(join(drawnDir, 'lookalike.db'));
    try {
      const library = await makeSampleLibrary(join(drawnDir, 'library'), { perClass: 20, unlabelled: 0 });
      const { libraryId } = await openLibrary({ store: drawnStore }, library);
      const result = await train({ store: drawnStore }, libraryId, { epochs: 3, seed: 1 });
      expect(result.baseline.queries).toBe(16);
      // Measured: baseline mAP@R 0.84, trained 1.0; a head that does not learn (learning rate 1e-12) scores 0.74 to 0.79.
      expect(result.trained.map_at_r).toBeGreaterThan(result.baseline.map_at_r);
      expect(result.trained.precision_at_k).toBeGreaterThanOrEqual(result.baseline.precision_at_k);
    } finally {
      drawnStore.close();
    }
  });
});
