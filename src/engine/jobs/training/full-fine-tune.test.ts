import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineEvent, TrainSettings } from '../../../shared/api.js';
import { resolveSettings, trainingProblem } from '../../../shared/settings.js';
import { trainStep, unpackFineTuned } from '../../ml/training/block-trainer.js';
import { selectBackend } from '../../ml/runtime/compute-backend.js';
import { EmbeddingHead } from '../../ml/training/head.js';
import { photoInputs } from '../../ml/training/decoded-photos.js';
import { gradientGaps } from '../../ml/backbone/trainable-backbone.js';
import { setUpWebGpu } from '../../ml/runtime/webgpu.js';
import { Store } from '../../store/store.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { findSimilar } from '../library/search.js';
import { openLibrary } from '../library/library-sync.js';
import { planTraining } from '../door.js';
import { trainModel } from './training.js';
import { builtinGraph } from '../models/fine-tuned-net.js';

// No GPU here: Debian's chromium ships SwiftShader's Vulkan driver, a CPU implementation Dawn accepts.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
const setup = await setUpWebGpu();
if (!setup.adapter) console.warn(`full fine-tuning tests skipped: ${setup.reason}`);

/**
 * SwiftShader runs the GPU's work on the CPU: the whole network at 32×32 (its last map is 1×1; the
 * strided paths all run) keeps the suite to minutes. At 64×64 it took 20 min under load 8.
 */
const SIDE = 32;
const CLASSES = ['circles', 'squares', 'stripes'];

describe.skipIf(!setup.adapter)('full fine-tuning on WebGPU (SwiftShader here): the whole network from photos', () => {
  let root: string;
  let dbDir: string;
  let store: Store;
  let libraryId: number;
  const backendBefore = process.env.LOOKALIKE_BACKEND;

  beforeAll(async () => {
    process.env.LOOKALIKE_BACKEND = 'webgpu';
    const backend = await selectBackend('webgpu');
    expect(backend.name).toBe('webgpu');
    root = await drawTestLibrary({ classes: CLASSES, perClass: 4, unlabelled: 1, damaged: true, seed: 5 });
    dbDir = mkdtempSync(join(tmpdir(), 'lookalike-full-'));
    store = Store.open(join(dbDir, 'lookalike.db'));
    libraryId = (await openLibrary({ store }, root)).libraryId;
  });
  afterAll(() => {
    if (backendBefore === undefined) delete process.env.LOOKALIKE_BACKEND;
    else process.env.LOOKALIKE_BACKEND = backendBefore;
    store?.close();
    if (root) rmSync(root, { recursive: true, force: true });
    if (dbDir) rmSync(dbDir, { recursive: true, force: true });
  });

  it('is allowed on WebGPU (a software adapter only when forced) and refused on a CPU backend', async () => {
    const backend = await selectBackend();
    const full = resolveSettings({ fineTune: 'full' });
    expect(trainingProblem(full, { backend })).toBeNull();
    expect(trainingProblem(full, { backend: { ...backend, name: 'wasm', gpu: false } })).toMatch(/needs a GPU backend; this machine runs wasm/);
  });

  it('takes the same gradients through the whole network on WebGPU as TF.js\'s own convolution gradients do', { timeout: 900_000 }, async () => {
    const graph = await builtinGraph();
    const cut = graph.inputCut(SIDE);
    const x = tf.tidy(() => tf.randomUniform([3, SIDE, SIDE, 3], 0, 1, 'float32', 4) as tf.Tensor4D);
    const gaps = await gradientGaps(graph, cut, x);
    x.dispose();
    expect(gaps.length).toBeGreaterThan(100);
    for (const { name, relError } of gaps) expect(relError, name).toBeLessThan(1e-3);
  });

  it('lowers the loss over a few steps on one batch of photos, with finite losses and no tensor left behind', { timeout: 900_000 }, async () => {
    const graph = await builtinGraph();
    const photos = CLASSES.flatMap((c) =>
      readdirSync(join(root, c))
        .filter((f) => f.endsWith('.jpg') && f !== 'damaged.jpg')
        .slice(0, 2)
        .map((f) => ({ image: join(root, c, f), label: `${c}/${f}` })),
    );
    // Two triplets: a circle and a square queried against a photo of their class and one of another.
    const order = [0, 2, 1, 3, 4, 5];
    const inputs = photoInputs(photos, [0, 0, 1, 1, 2, 2], SIDE);
    const x = await inputs.batch(order);
    const net = { blocks: graph.trainable(graph.inputCut(SIDE)), head: EmbeddingHead.create({ inputDim: 1792, dim: 16, hidden: 0, normalize: true }, 1) };
    const headOptimizer = tf.train.adam(1e-3);
    const blockOptimizer = tf.train.adam(1e-4);
    // A wide gap keeps the hinge active for every triplet, so each step has something to lower.
    const losses = [await trainStep(net, headOptimizer, blockOptimizer, x, [4])];
    const afterFirst = tf.memory().numTensors; // Adam made its moment slots in the first step
    for (let i = 0; i < 3; i++) losses.push(await trainStep(net, headOptimizer, blockOptimizer, x, [4]));
    expect(tf.memory().numTensors).toBe(afterFirst);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[3]).toBeLessThan(losses[0]);
    tf.dispose([x]);
    headOptimizer.dispose();
    blockOptimizer.dispose();
    net.head.dispose();
    net.blocks.dispose();
  });

  it('trains one epoch through the Train job, stores the whole network, indexes and finds similar photos through it', { timeout: 1_800_000 }, async () => {
    const events: EngineEvent[] = [];
    const settings: Partial<TrainSettings> = { fineTune: 'full', epochs: 1, batchSize: 3, tripletsPerEpoch: 6, seed: 2, dim: 16, gap: 1.5 };
    const plan = planTraining(store, libraryId, resolveSettings(settings), { k: 2, fullInputSize: SIDE });
    const result = await trainModel({ store, emit: (e) => events.push(e) }, libraryId, plan);
    expect(result.epochsDone).toBe(1);
    const losses = events.flatMap((e) => (e.type === 'loss' ? [e.loss] : []));
    expect(losses).toHaveLength(2);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(events.some((e) => e.type === 'progress' && e.phase === 'Training the head first')).toBe(true);
    // The head after its own phase is scored on the same split and kept; the network's speed is kept for the estimate.
    expect(result.headAlone).toMatchObject({ k: 2, queries: result.trained.queries });
    expect(store.runRates.ofRun(result.runId).find((r) => r.phase === 'blocks')).toMatchObject({ variant: 'full', items: 2 * 3 });

    const model = store.model(result.modelId)!;
    expect(model.config.fineTune).toMatchObject({ blocks: 17, inputSize: SIDE });
    // The stem trained: its filter moved away from the graph's.
    const saved = unpackFineTuned(store.modelWeights(result.modelId)!);
    const stem = Object.keys(saved.blocks).find((name) => name.endsWith('MobilenetV2/Conv/Conv2D_weights'))!;
    expect(stem).toBeDefined();
    const graph = await builtinGraph();
    const original = graph.trainable(graph.inputCut(SIDE));
    const gap = tf.tidy(() => tf.max(tf.abs(tf.sub(saved.blocks[stem], original.namedWeights()[stem]))));
    const moved = (await gap.data())[0]; // WebGPU in Node reads back asynchronously only
    gap.dispose();
    expect(moved).toBeGreaterThan(1e-7);
    original.dispose();
    tf.dispose([...Object.values(saved.head), ...Object.values(saved.blocks), ...saved.optimizer.head.map((t) => t.tensor), ...saved.optimizer.blocks.map((t) => t.tensor)]);

    // 12 labelled photos and 1 unlabelled decode; the damaged one does not.
    expect(store.embeddingCount(result.modelId)).toBe(13);
    const query = store.photos(libraryId).find((p) => p.relPath.startsWith('squares/'))!;
    await findSimilar(store, libraryId, { photoId: query.id }, 4, result.modelId); // loads what stays loaded
    const before = tf.memory().numTensors;
    const similar = await findSimilar(store, libraryId, { photoId: query.id }, 4, result.modelId);
    expect(similar.results).toHaveLength(4);
    expect(similar.results.map((r) => r.photoId)).not.toContain(query.id);
    // The same photo from outside the library embeds the same way: its nearest neighbour is itself.
    const asFile = await findSimilar(store, libraryId, { image: join(root, query.relPath), label: 'copy.jpg' }, 4, result.modelId);
    expect(asFile.results[0].photoId).toBe(query.id);
    expect(asFile.results[0].distance).toBeLessThan(1e-3);
    expect(tf.memory().numTensors).toBe(before);
  });
});
