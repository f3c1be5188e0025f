import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSettings } from '../../../shared/settings.js';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { loadBackbone, scalePixels } from '../../ml/backbone/backbone.js';
import { headInput } from '../../ml/training/block-trainer.js';
import { selectBackend } from '../../ml/runtime/compute-backend.js';
import { loadOnnxRuntime } from '../../ml/backbone/onnx-backbone.js';
import { decodeForModel } from '../../library/image.js';
import { Store } from '../../store/store.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { findSimilar } from '../library/search.js';
import { indexLibrary } from '../library/indexing.js';
import { openLibrary } from '../library/library-sync.js';
import { planTraining } from '../door.js';
import { trainModel } from '../training/training.js';
import { disposeNet, openFineTuned } from './fine-tuned-net.js';
import { exportModel, importModel } from './model-transfer.js';

// Wide gap: the hinge stays active after the head's own training, so the blocks move.
const SETTINGS = { fineTune: 'last-blocks' as const, fineTuneBlocks: 1, epochs: 1, batchSize: 6, tripletsPerEpoch: 12, seed: 5, dim: 16, gap: 1.8 };

let library: string;
let copy: string;
let work: string;
let store: Store;
let libraryId: number;
let modelId: number;

describe('a fine-tuned (last-blocks) model you can take away', () => {
  beforeAll(async () => {
    await selectBackend();
    library = await drawTestLibrary({ classes: ['circles', 'stripes', 'stars'], perClass: 5, seed: 4 });
    work = mkdtempSync(join(tmpdir(), 'lookalike-ft-export-'));
    copy = join(work, 'copy');
    cpSync(library, copy, { recursive: true });
    store = Store.open(join(work, 'source.db'));
    libraryId = (await openLibrary({ store }, library)).libraryId;
    modelId = (await trainModel({ store }, libraryId, planTraining(store, libraryId, resolveSettings(SETTINGS), { k: 3 }))).modelId;
  }, 600_000);
  afterAll(() => {
    store?.close();
    for (const dir of [library, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });
  expectNoTensorLeaks();

  it('exports the trained blocks in a TF.js graph model and the whole network as ONNX, both computing the TF.js embedding', async () => {
    const folder = join(work, 'export');
    const { files } = await exportModel(store, modelId, folder);
    expect(files).toEqual(expect.arrayContaining(['card.json', 'tfjs/model.json', 'head.onnx', 'tfjs-backbone/model.json', 'tfjs-backbone/weights.bin', 'network.onnx']));
    const card = JSON.parse(readFileSync(join(folder, 'card.json'), 'utf8'));
    // The blocks trained beside the fixed multi-scale taps (the default features with 1 block).
    expect(card).toMatchObject({ version: 2, backbone: 'nsfwjs-mobilenetv2-1.4+block10-expand+block13-expand', fineTune: { mode: 'last-blocks', blocks: 1 }, network: { input: 'image', size: 224, range: '0,1' }, settings: { fineTune: 'last-blocks', fineTuneBlocks: 1 } });
    expect(card.classes.map((c: { name: string }) => c.name)).toEqual(['circles', 'stars', 'stripes']);
    expect(typeof card.validation.trained.map_at_r).toBe('number');
    expect(typeof card.validation.trained.precision_at_k).toBe('number');

    const photos = store.photos(libraryId).slice(0, 4);
    const pixels = await Promise.all(photos.map(async (p) => (await decodeForModel(join(library, p.relPath), 224)).pixels));
    // The reference: the frozen graph to the cut, then the stored blocks and head in TF.js, unquantised;
    // the taps (blocks 10 and 13 pooled) from the float backbone.
    const { net, cut, graph } = await openFineTuned(store, store.model(modelId)!);
    const maps = await graph.activations(pixels, cut);
    const [h, w, c] = cut.shape;
    const flatMaps = new Float32Array(maps.length * h * w * c);
    maps.forEach((m, i) => flatMaps.set(m, i * h * w * c));
    const backbone = await loadBackbone({ kind: 'builtin', id: BUILTIN_BACKBONE.id, scales: BUILTIN_BACKBONE.multiScale }, { precision: 'fp32' });
    const taps = (await backbone.embed(pixels)).map((v) => v.slice(0, 528 + 816));
    backbone.dispose();
    const [features, expected] = tf.tidy(() => {
      const x = tf.tensor4d(flatMaps, [maps.length, h, w, c]);
      const joined = headInput(net, x, tf.tensor2d(taps.map((t) => [...t])));
      return [net.blocks.apply(x).arraySync(), net.head.apply(joined).arraySync()];
    });
    disposeNet(net);

    const ort = await loadOnnxRuntime();
    const session = await ort.InferenceSession.create(readFileSync(join(folder, 'network.onnx')));
    const input = new ort.Tensor('float32', scalePixels(pixels, 224, '0,1'), [pixels.length, 224, 224, 3]);
    const onnx = (await session.run({ image: input })).embedding.data as Float32Array;
    await session.release();

    const json = JSON.parse(readFileSync(join(folder, 'tfjs-backbone', 'model.json'), 'utf8'));
    const bin = readFileSync(join(folder, 'tfjs-backbone', 'weights.bin'));
    const exported = await loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) }));
    const graphFeatures = tf.tidy(() => tf.reshape(exported.execute(tf.tensor4d(scalePixels(pixels, 224, '0,1'), [pixels.length, 224, 224, 3]), BUILTIN_BACKBONE.featureNode) as tf.Tensor, [pixels.length, -1]).arraySync() as number[][]);
    exported.dispose();

    let onnxError = 0;
    let graphError = 0;
    for (let i = 0; i < pixels.length; i++) {
      for (let j = 0; j < 16; j++) onnxError = Math.max(onnxError, Math.abs(onnx[i * 16 + j] - expected[i][j]));
      const scale = Math.max(...features[i].map(Math.abs));
      for (let j = 0; j < features[i].length; j++) graphError = Math.max(graphError, Math.abs(graphFeatures[i][j] - features[i][j]) / scale);
    }
    expect(onnxError).toBeLessThan(1e-3);
    expect(graphError).toBeLessThan(1e-4);
    // The blocks were trained: the export is not the original graph's function.
    const original = graph.trainable(cut);
    const untrained = tf.tidy(() => original.apply(tf.tensor4d(flatMaps, [maps.length, h, w, c])).arraySync());
    original.dispose();
    expect(Math.max(...untrained[0].map((v, j) => Math.abs(v - features[0][j])))).toBeGreaterThan(1e-4);
  });

  it('imported into a second library of the same photos, similar answers as in the source library', async () => {
    const folder = join(work, 'export-2');
    await exportModel(store, modelId, folder);
    const second = Store.open(join(work, 'second.db'));
    try {
      const otherId = (await openLibrary({ store: second }, copy)).libraryId;
      const { modelId: imported } = await importModel(second, otherId, folder);
      expect(second.model(imported)!.config.fineTune).toMatchObject({ blocks: 1 });
      expect((await indexLibrary({ store: second }, otherId, imported)).embedded).toBe(15);
      await indexLibrary({ store }, libraryId, modelId);
      for (const relPath of ['circles/circles-01.jpg', 'stars/stars-03.jpg']) {
        const source = store.photos(libraryId).find((p) => p.relPath === relPath)!;
        const target = second.photos(otherId).find((p) => p.relPath === relPath)!;
        const there = await findSimilar(store, libraryId, { photoId: source.id }, 5, modelId);
        const here = await findSimilar(second, otherId, { photoId: target.id }, 5, imported);
        expect(here.results.map((r) => r.path)).toEqual(there.results.map((r) => r.path));
        here.results.forEach((r, i) => expect(Math.abs(r.distance - there.results[i].distance)).toBeLessThan(1e-5));
      }
    } finally {
      second.close();
    }
  });
});
