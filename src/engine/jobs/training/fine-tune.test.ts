import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../shared/api.js';
import { JobControl } from '../../common/job-control.js';
import { unpackFineTuned } from '../../ml/training/block-trainer.js';
import { Store } from '../../store/store.js';
import { FLOWERS17, copyFlowersLibrary, photosOf } from '../../testing/test-photos.js';
import { builtinGraph } from '../models/fine-tuned-net.js';
import type { TrainSettings } from '../../../shared/api.js';
import { evaluateModel, evaluateModelInDetail } from './evaluation.js';
import { findSimilar } from '../library/search.js';
import { openLibrary } from '../library/library-sync.js';
import { planTraining } from '../door.js';
import { trainModel } from './training.js';
import { type JobContext } from '../job-context.js';
import { resolveSettings } from '../../../shared/settings.js';

const haveFlowers = existsSync(FLOWERS17);
if (!haveFlowers) console.warn(`skipping the last-blocks pipeline tests: ${FLOWERS17} is missing`);

const train = (ctx: JobContext, libraryId: number, settings: Partial<TrainSettings>) =>
  trainModel(ctx, libraryId, planTraining(ctx.store, libraryId, resolveSettings(settings), { k: 3 }));

describe.skipIf(!haveFlowers)('last-blocks: from a labelled folder to a fine-tuned model', () => {
  // A wide gap keeps the hinge active after the head's own training, so the blocks get gradients.
  const settings = { fineTune: 'last-blocks' as const, fineTuneBlocks: 0, epochs: 2, batchSize: 6, tripletsPerEpoch: 12, seed: 3, dim: 16, gap: 1.8 };
  let root: string;
  let dbDir: string;
  let store: Store;
  let libraryId: number;
  let modelId: number;

  beforeAll(async () => {
    root = copyFlowersLibrary({ classes: ['daisy', 'sunflower', 'snowdrop'], perClass: 6, unlabelled: true, damaged: true });
    dbDir = mkdtempSync(join(tmpdir(), 'lookalike-ft-'));
    store = Store.open(join(dbDir, 'lookalike.db'));
    libraryId = (await openLibrary({ store }, root)).libraryId;
  });
  afterAll(() => {
    store?.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(dbDir, { recursive: true, force: true });
  });

  it('caches the cut, trains the blocks and the head, stores both, and indexes every readable photo through them', async () => {
    const events: EngineEvent[] = [];
    const result = await train({ store, emit: (e) => events.push(e) }, libraryId, settings);
    modelId = result.modelId;
    expect(result.epochsDone).toBe(2);
    const losses = events.flatMap((e) => (e.type === 'loss' ? [e.loss] : []));
    expect(losses).toHaveLength(2 * 2);
    expect(Math.max(...losses)).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'progress' && e.phase.startsWith('Computing backbone activations below block 0 from the end'))).toBe(true);
    expect(events.some((e) => e.type === 'progress' && e.phase === 'Training the head first')).toBe(true);
    // The head after its own phase, scored on the same split before the blocks trained, is kept with the run.
    expect(result.headAlone).toMatchObject({ k: 3, queries: result.trained.queries, database: result.trained.database });
    expect(result.headAlone!.precision_at_k).toBeGreaterThanOrEqual(0);
    expect(store.run(result.runId)!.headAlone).toEqual(result.headAlone);
    // Each phase's speed is kept with the run: 2 block epochs of 2 batches of 6 triplets.
    const rates = Object.fromEntries(store.runRates.ofRun(result.runId).map((r) => [r.phase, r]));
    expect(Object.keys(rates).sort()).toEqual(['cut-maps', 'embed', 'features', 'head', 'blocks'].sort());
    expect(rates.blocks).toMatchObject({ variant: 'last-blocks:0', items: 2 * 2 * 6 });
    expect(rates['cut-maps'].items).toBe(19);

    const model = store.model(modelId)!;
    expect(model.config.fineTune).toMatchObject({ blocks: 0, crop: 6 });
    const saved = unpackFineTuned(store.modelWeights(modelId)!);
    const blockNames = Object.keys(saved.blocks);
    expect(blockNames.some((name) => name.includes('Conv_1'))).toBe(true);
    // Training moved the final 1×1 conv away from the graph's weights.
    const graph = await builtinGraph();
    const original = graph.trainable(graph.cutPoint(0));
    const name = blockNames.find((n) => n.endsWith('Conv2D_weights'))!;
    const moved = tf.tidy(() => tf.max(tf.abs(tf.sub(saved.blocks[name], original.namedWeights()[name]))).dataSync()[0]);
    expect(moved).toBeGreaterThan(1e-6);
    original.dispose();
    tf.dispose([...Object.values(saved.head), ...Object.values(saved.blocks)]);

    // 18 labelled + 1 unlabelled photo decode; the damaged one does not.
    expect(store.embeddingCount(modelId)).toBe(19);
    const again = await evaluateModel(store, libraryId, modelId, 3);
    expect(again.trained?.precision_at_k).toBeCloseTo(result.trained.precision_at_k, 6);
    // The per-class view scores the same model the same way, through its blocks (not its head alone).
    const detailed = await evaluateModelInDetail(store, libraryId, modelId, 3);
    expect(detailed.trained?.precision_at_k).toBeCloseTo(result.trained.precision_at_k, 6);
    expect(detailed.trained?.map_at_r).toBeCloseTo(result.trained.map_at_r, 6);
  });

  it('finds neighbours through the fine-tuned blocks, for a library photo and one from outside, without leaking tensors', async () => {
    const query = store.photos(libraryId).find((p) => p.relPath.startsWith('sunflower/'))!;
    await findSimilar(store, libraryId, { photoId: query.id }, 5, modelId); // loads what stays loaded
    const before = tf.memory().numTensors;
    const similar = await findSimilar(store, libraryId, { photoId: query.id }, 5, modelId);
    expect(similar.results).toHaveLength(5);
    expect(similar.results.map((r) => r.photoId)).not.toContain(query.id); // the query itself is left out
    for (let i = 1; i < similar.results.length; i++) expect(similar.results[i].distance).toBeGreaterThanOrEqual(similar.results[i - 1].distance);
    // The same photo given as a file from outside embeds the same way (same quantised map).
    const asFile = await findSimilar(store, libraryId, { image: join(root, query.relPath), label: 'copy.jpg' }, 5, modelId);
    expect(asFile.query.photoId).toBeNull();
    expect(asFile.results[0].photoId).toBe(query.id);
    expect(asFile.results[0].distance).toBeLessThan(1e-3);
    const outside = join(FLOWERS17, 'sunflower', photosOf('sunflower')[60]);
    const fromOutside = await findSimilar(store, libraryId, { image: outside, label: outside }, 5, modelId);
    expect(fromOutside.results).toHaveLength(5);
    await evaluateModel(store, libraryId, modelId, 3);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops after an epoch and resumes from its checkpoint with the blocks as they were', async () => {
    const control = new JobControl();
    const resumeSettings = { ...settings, epochs: 3, seed: 8 };
    const tensorsBefore = tf.memory().numTensors;
    const stopAfterFirstEpoch = (e: EngineEvent) => {
      if (e.type === 'epoch' && e.epoch === 1) control.stop();
    };
    const stopped = await train({ store, control, emit: stopAfterFirstEpoch }, libraryId, resumeSettings);
    expect(stopped).toMatchObject({ stopped: true, epochsDone: 1 });
    expect(store.run(stopped.runId)!.headAlone).not.toBeNull(); // kept from before the blocks, though the run stopped
    expect(store.runRates.ofRun(stopped.runId).find((r) => r.phase === 'blocks')).toMatchObject({ items: 2 * 6 });
    store.updateRun(stopped.runId, { status: 'running' }); // as a crash leaves it
    const steps: number[] = [];
    const events: EngineEvent[] = [];
    const resumed = await train({ store, emit: (e) => (events.push(e), e.type === 'loss' && steps.push(e.step)) }, libraryId, resumeSettings);
    expect(resumed).toMatchObject({ runId: stopped.runId, resumed: true, epochsDone: 3 });
    expect(Math.min(...steps)).toBe(3); // epoch 1 (steps 1-2) is not trained again
    // Resuming does not train the head again from scratch: it comes from the checkpoint.
    expect(events.some((e) => e.type === 'progress' && e.phase === 'Training the head first')).toBe(false);
    // Training, checkpoints, resuming, storing and indexing leave no tensor behind.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});
