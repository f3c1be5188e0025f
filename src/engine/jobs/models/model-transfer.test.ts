import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../ml/runtime/compute-backend.js';
import { EmbeddingHead, normalizeVector, unpackTensors, type HeadConfig } from '../../ml/training/head.js';
import { loadOnnxRuntime } from '../../ml/backbone/onnx-backbone.js';
import { Store } from '../../store/store.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { findSimilar } from '../library/search.js';
import { indexLibrary } from '../library/indexing.js';
import { openLibrary } from '../library/library-sync.js';
import { trainModel } from '../training/training.js';
import { exportModel, headWeights, importModel, packHeadWeights } from './model-transfer.js';
import { planTraining } from '../door.js';
import { resolveSettings } from '../../../shared/settings.js';

let work: string;
let first: string;
let second: string;
let store: Store;
let trainedId: number;
let libraryId: number;

describe('a model you can take away', () => {
  beforeAll(async () => {
    await selectBackend();
    work = mkdtempSync(join(tmpdir(), 'lookalike-export-'));
    first = await drawTestLibrary({ classes: ['circles', 'squares', 'stripes'], perClass: 6, seed: 3 });
    second = await drawTestLibrary({ classes: ['circles', 'squares'], perClass: 4, seed: 21 });
    store = Store.open(join(work, 'l.db'));
    libraryId = (await openLibrary({ store }, first)).libraryId;
    const settings = resolveSettings({ epochs: 1, tripletsPerEpoch: 64, batchSize: 16 });
    const trained = await trainModel({ store }, libraryId, planTraining(store, libraryId, settings, { k: 3 }));
    trainedId = trained.modelId;
  }, 600_000);
  afterAll(() => {
    store?.close();
    for (const dir of [work, first, second]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exports the head as TF.js and ONNX with a card, both giving the stored model’s embeddings', async () => {
    const folder = join(work, 'export');
    const exported = await exportModel(store, trainedId, folder);
    expect(exported.files.every((f) => existsSync(join(folder, f)))).toBe(true);
    const card = JSON.parse(readFileSync(join(folder, 'card.json'), 'utf8'));
    // The default features are multi-scale: the card names the layers, so an import computes the same ones.
    const key = 'nsfwjs-mobilenetv2-1.4+block10-expand+block13-expand';
    expect(card).toMatchObject({ format: 'lookalike-model', version: 1, backbone: key, head: { inputDim: 3136, dim: 128, normalize: true, centre: { segments: [528, 816, 1792] } } });
    expect(card.files.centre).toBe('centre.bin');
    expect(card.backboneSpec).toEqual({ kind: 'builtin', id: 'nsfwjs-mobilenetv2-1.4', scales: ['block10-expand', 'block13-expand'] });
    expect(card.classes.map((c: { name: string }) => c.name)).toEqual(['circles', 'squares', 'stripes']);
    expect(card.validation.trained.k).toBe(3);
    expect(typeof card.validation.trained.map_at_r).toBe('number');
    expect(card.settings.epochs).toBe(1);
    expect(Date.parse(card.exportedAt)).not.toBeNaN();

    // Real backbone features of the library's photos, through the stored model and through each export.
    const photos = store.photos(libraryId).slice(0, 5);
    const features = [...store.features(key, photos.map((p) => p.hash)).values()];
    const before = tf.memory().numTensors;
    const model = store.model(trainedId)!;
    const stored = unpackTensors(store.modelWeights(trainedId)!);
    const head = EmbeddingHead.fromWeights(model.config.head as HeadConfig, stored);
    const expected = await head.embed(features.map(normalizeVector));
    head.dispose();
    tf.dispose(Object.values(stored)); // fromWeights copies them into variables

    const ort = await loadOnnxRuntime();
    const session = await ort.InferenceSession.create(readFileSync(join(folder, 'head.onnx')));
    const flat = new Float32Array(features.length * 3136);
    features.forEach((f, i) => flat.set(f, i * 3136));
    const onnxOut = (await session.run({ features: new ort.Tensor('float32', flat, [features.length, 3136]) })).embedding.data as Float32Array;
    await session.release();

    const layers = await tf.loadLayersModel(
      tf.io.fromMemory(JSON.parse(readFileSync(join(folder, 'tfjs', 'model.json'), 'utf8')).modelTopology, ...weightSpecsAndData(folder)),
    );
    // The layers format has no centring: applied here by hand, as the card says, with the exported mean.
    const centreBytes = readFileSync(join(folder, 'centre.bin'));
    const centre = new Float32Array(centreBytes.buffer.slice(centreBytes.byteOffset, centreBytes.byteOffset + centreBytes.byteLength));
    expect(centre).toHaveLength(3136);
    const centred = (f: Float32Array) => {
      const x = normalizeVector(f);
      let offset = 0;
      return (card.head.centre.segments as number[]).flatMap((width) => {
        const part = normalizeVector(Float32Array.from(x.subarray(offset, offset + width), (v, i) => v - centre[offset + i]));
        offset += width;
        return Array.from(part, (v) => v / Math.sqrt(3));
      });
    };
    const input = tf.tensor2d(features.map(centred));
    const output = layers.predict(input) as tf.Tensor2D;
    const tfjsOut = (await output.array()).map((row) => normalizeVector(Float32Array.from(row)));
    tf.dispose([input, output]);
    layers.dispose();
    expect(tf.memory().numTensors).toBe(before);

    for (let i = 0; i < features.length; i++) {
      for (let j = 0; j < 128; j++) {
        expect(Math.abs(onnxOut[i * 128 + j] - expected[i][j])).toBeLessThan(1e-4);
        expect(Math.abs(tfjsOut[i][j] - expected[i][j])).toBeLessThan(1e-4);
      }
    }
    // Nothing is overwritten: a second export into the same folder is refused.
    await expect(exportModel(store, trainedId, folder)).rejects.toThrow(/not empty/);
  });

  it('imports the export into another library, once, and searches it with the imported model', async () => {
    const folder = join(work, 'export-2');
    await exportModel(store, trainedId, folder);
    const other = (await openLibrary({ store }, second)).libraryId;
    const { modelId, created } = await importModel(store, other, folder);
    expect(created).toBe(true);
    expect(await importModel(store, other, join(folder, 'card.json'))).toEqual({ modelId, created: false });
    const photo = store.photos(other)[0];
    expect((await indexLibrary({ store }, other, modelId)).embedded).toBe(8);
    const result = await findSimilar(store, other, { photoId: photo.id }, 3, modelId);
    expect(result.modelId).toBe(modelId);
    expect(result.results).toHaveLength(3);
    expect(result.results.every((r) => r.distance >= 0 && r.distance <= 2)).toBe(true);
    expect(store.model(modelId)!.name).toMatch(/^Imported: Trained run/);
  });

  it('refuses a folder without a card, and a card that is not Lookalike’s, saying which file', async () => {
    const empty = join(work, 'not-a-model');
    mkdirSync(empty);
    await expect(importModel(store, libraryId, empty)).rejects.toThrow(/card\.json: no model card here/);
    writeFileSync(join(empty, 'card.json'), '{"format":"keras"}');
    await expect(importModel(store, libraryId, empty)).rejects.toThrow(/not a Lookalike model card/);
    // An export whose centre was lost: refused, naming the file, not imported as an uncentred model.
    const noCentre = join(work, 'export-no-centre');
    await exportModel(store, trainedId, noCentre);
    rmSync(join(noCentre, 'centre.bin'));
    await expect(importModel(store, libraryId, noCentre)).rejects.toThrow(/centre\.bin \(the card says the model centres its features on the mean kept in this file\): file not found/);
    const baseline = store.models(libraryId).find((m) => m.kind === 'baseline')!;
    await expect(exportModel(store, baseline.id, join(work, 'x'))).rejects.toThrow(/no head to export/);
  });

  it('keeps the stored weight format when unpacking and packing again', () => {
    const model = store.model(trainedId)!;
    const blob = store.modelWeights(trainedId)!;
    expect(packHeadWeights(headWeights(model.config.head as HeadConfig, blob)).equals(blob)).toBe(true);
  });
});

function weightSpecsAndData(folder: string): [tf.io.WeightsManifestEntry[], ArrayBuffer] {
  const manifest = JSON.parse(readFileSync(join(folder, 'tfjs', 'model.json'), 'utf8')).weightsManifest[0].weights as tf.io.WeightsManifestEntry[];
  const bytes = readFileSync(join(folder, 'tfjs', 'weights.bin'));
  return [manifest, bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)];
}
