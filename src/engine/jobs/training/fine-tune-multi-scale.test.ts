import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrainSettings } from '../../../shared/api.js';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { resolveSettings } from '../../../shared/settings.js';
import { writeActivations } from '../../ml/backbone/activation-codec.js';
import { describeSpec } from '../../ml/backbone/backbone.js';
import { normalizeVector } from '../../ml/training/head.js';
import { Store } from '../../store/store.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';
import { FLOWERS17, copyFlowersLibrary } from '../../testing/test-photos.js';
import { disposeNet, loadMaps, openFineTuned } from '../models/fine-tuned-net.js';
import { withModel } from '../models/open-model.js';
import { releaseQueryBackbones } from '../models/query-backbones.js';
import { planTraining } from '../door.js';
import { findSimilar } from '../library/search.js';
import { openLibrary } from '../library/library-sync.js';
import { evaluateModel, evaluateModelInDetail } from './evaluation.js';
import { trainModel, type TrainResult } from './training.js';

const haveFlowers = existsSync(FLOWERS17);
if (!haveFlowers) console.warn(`skipping the multi-scale last-blocks tests: ${FLOWERS17} is missing`);

const MULTI_SCALE_KEY = describeSpec({ kind: 'builtin', id: BUILTIN_BACKBONE.id, scales: BUILTIN_BACKBONE.multiScale });

describe.skipIf(!haveFlowers)('last-blocks with multi-scale features: the taps below the cut beside the trained blocks', () => {
  // A wide gap keeps the hinge active after the head's own training, so the blocks get gradients.
  const settings: Partial<TrainSettings> = { fineTune: 'last-blocks', fineTuneBlocks: 1, epochs: 1, batchSize: 6, tripletsPerEpoch: 12, seed: 3, dim: 16, gap: 1.8 };
  let root: string;
  let dbDir: string;
  let store: Store;
  let libraryId: number;
  let result: TrainResult;

  beforeAll(async () => {
    root = copyFlowersLibrary({ classes: ['daisy', 'sunflower', 'snowdrop'], perClass: 6 });
    dbDir = mkdtempSync(join(tmpdir(), 'lookalike-ft-ms-'));
    store = Store.open(join(dbDir, 'lookalike.db'));
    libraryId = (await openLibrary({ store }, root)).libraryId;
    const resolved = resolveSettings(settings);
    expect(resolved.features).toBe('multi-scale'); // the default wherever it applies
    result = await trainModel({ store }, libraryId, planTraining(store, libraryId, resolved, { k: 3 }));
  }, 600_000);
  afterAll(async () => {
    await releaseQueryBackbones();
    store?.close();
    rmSync(root, { recursive: true, force: true });
    rmSync(dbDir, { recursive: true, force: true });
  });
  expectNoTensorLeaks(releaseQueryBackbones);

  it('stores a head on all three layers, centred on the training means', () => {
    const model = store.model(result.modelId)!;
    expect(result.backbone).toBe(MULTI_SCALE_KEY);
    expect(model.config.fineTune).toMatchObject({ blocks: 1 });
    expect(model.config.head).toMatchObject({ inputDim: 528 + 816 + 1792, centre: { segments: [528, 816, 1792] } });
    expect(store.embeddingCount(result.modelId)).toBe(18);
  });

  it('embeds a library photo, and the same photo from outside, as the taps and the blocks give it, computed here by hand', async () => {
    const model = store.model(result.modelId)!;
    const photos = store.photos(libraryId).filter((p) => p.relPath.startsWith('sunflower/')).slice(0, 3);
    // By hand: the cached cut map through the stored blocks, pooled and made unit length; the cached
    // taps (each layer unit length) in front; the whole made unit length; then the stored head.
    const { net, cut } = await openFineTuned(store, model);
    const maps = loadMaps(store, cut, photos);
    const features = store.features(MULTI_SCALE_KEY, photos.map((p) => p.hash));
    const expected = photos.map((photo) => {
      const map = maps.get(photo.hash)!;
      const values = new Float32Array(map.codes.length);
      writeActivations(map, values, 0);
      const pooled = tf.tidy(() => net.blocks.apply(tf.tensor4d(values, [1, ...map.shape])).dataSync() as Float32Array);
      const taps = features.get(photo.hash)!.slice(0, 528 + 816);
      const joined = normalizeVector(Float32Array.from([...taps, ...normalizeVector(pooled)]));
      return tf.tidy(() => net.head.apply(tf.tensor2d(joined, [1, joined.length])).dataSync() as Float32Array);
    });
    disposeNet(net);

    const [stored, fromOutside] = await withModel(store, model, async (embedder) => [
      await embedder.embedPhotos(photos),
      await Promise.all(photos.map((p) => embedder.embedQuery({ image: join(root, p.relPath), label: 'outside.jpg' }))),
    ]);
    const gap = (a: Float32Array, b: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));
    photos.forEach((_, i) => {
      expect(gap(stored[i]!, expected[i])).toBeLessThan(1e-5);
      // From outside: the taps from the backbone and the cut map through the same quantisation.
      expect(gap(fromOutside[i], expected[i])).toBeLessThan(1e-3);
    });
  });

  it('scores the stored model as training scored it, and finds a photo from outside as itself', async () => {
    const again = await evaluateModel(store, libraryId, result.modelId, 3);
    expect(again.trained?.precision_at_k).toBeCloseTo(result.trained.precision_at_k, 6);
    expect(again.trained?.map_at_r).toBeCloseTo(result.trained.map_at_r, 6);
    const detailed = await evaluateModelInDetail(store, libraryId, result.modelId, 3);
    expect(detailed.trained?.map_at_r).toBeCloseTo(result.trained.map_at_r, 6);
    const query = store.photos(libraryId).find((p) => p.relPath.startsWith('daisy/'))!;
    const asFile = await findSimilar(store, libraryId, { image: join(root, query.relPath), label: 'copy.jpg' }, 5, result.modelId);
    expect(asFile.results[0].photoId).toBe(query.id);
    expect(asFile.results[0].distance).toBeLessThan(1e-3);
  });

  it('refuses a cut below block 13, where the taps would train too, before any work', () => {
    expect(() => resolveSettings({ ...settings, fineTuneBlocks: 4, features: 'multi-scale' })).toThrow(
      'multi-scale features pool block 13, which fine-tuning 4 blocks would train; fine-tune at most 3 blocks with them, or use features "final"',
    );
  });
});
