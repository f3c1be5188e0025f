import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import type { HeadConfig } from '../../ml/training/head.js';
import { Store } from '../../store/store.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { defaultModel } from './model-lookup.js';
import { findSimilar } from '../library/search.js';
import { indexAll } from '../door.js';
import { openLibrary } from '../library/library-sync.js';
import { packHeadWeights, removeModel, toModelInfo } from './model-transfer.js';

const HEAD: HeadConfig = { inputDim: 1792, dim: 8, hidden: 0, normalize: true };
const BUILTIN = { kind: 'builtin', id: BUILTIN_BACKBONE.id };

let library: string;
let work: string;
let store: Store;
let libraryId: number;
const ids = { own: 0, imported: 0, badWeights: 0, urlBackbone: 0 };

/** A trained model row as training or an import stores it: a linear head of fixed weights. */
function addModel(name: string, config: Record<string, unknown>, weights = packHeadWeights({ config: HEAD, layers: [{ kernel: Float32Array.from({ length: 1792 * 8 }, (_, i) => Math.cos(i)), bias: new Float32Array(8), inputs: 1792, units: 8 }] })) {
  return store.createModel({ libraryId, name, kind: 'trained', backbone: BUILTIN_BACKBONE.id, backboneDim: 1792, dim: 8, config: { head: HEAD, backboneSpec: BUILTIN, ...config }, runId: null, weights });
}

describe('models that cannot run, and removing models', () => {
  beforeAll(async () => {
    library = await drawTestLibrary({ classes: ['circles', 'squares'], perClass: 3, seed: 8 });
    work = mkdtempSync(join(tmpdir(), 'lookalike-broken-models-'));
    store = Store.open(join(work, 'l.db'));
    libraryId = (await openLibrary({ store }, library)).libraryId;
    ids.own = addModel('Trained run 1', { settings: null });
    ids.badWeights = addModel('Trained run 2', { settings: null }, Buffer.from([255, 255, 255, 0, 1, 2]));
    // Imported before cards were checked: its backbone is a URL that must never be fetched.
    ids.urlBackbone = store.createModel({
      libraryId,
      name: 'Imported: from a download',
      kind: 'trained',
      backbone: 'url:http://127.0.0.1:9/backbone.zip=sha256:00',
      backboneDim: 1792,
      dim: 8,
      config: { head: HEAD, backboneSpec: { kind: 'url', url: 'http://127.0.0.1:9/backbone.zip', sha256: '00', inputRange: '0,1', inputSize: 224 }, importedCard: 'old' },
      runId: null,
      weights: store.modelWeights(ids.own)!,
    });
    ids.imported = addModel('Imported: Trained run 1', { importedCard: 'abc', classes: [{ name: 'cats', photoCount: 4 }, { name: 'dogs', photoCount: 4 }] });
  }, 300_000);
  afterAll(() => {
    store?.close();
    for (const dir of [library, work]) if (dir) rmSync(dir, { recursive: true, force: true });
  });
  expectNoTensorLeaks();

  it('indexes every model that runs; one that cannot is marked broken with the reason, and the URL is never fetched', async () => {
    const outcome = await indexAll({ store }, libraryId, { backbone: BUILTIN_BACKBONE.id });
    expect(outcome.indexed.map((i) => i.modelId)).toEqual(expect.arrayContaining([outcome.baselineId, ids.own, ids.imported]));
    expect(outcome.broken.map((b) => b.modelId).sort()).toEqual([ids.badWeights, ids.urlBackbone].sort());
    for (const id of [ids.own, ids.imported]) expect([id, store.embeddingCount(id), store.model(id)!.problem]).toEqual([id, 6, null]);
    expect(store.model(ids.badWeights)!.problem).toBe('its stored weights are damaged and cannot be read; remove it, then train it again or import it again');
    expect(store.model(ids.urlBackbone)!.problem).toMatch(/^its backbone \(url:http:\/\/127\.0\.0\.1:9\/backbone\.zip=sha256:00\) came from the model's card and is neither built in nor one this library uses, so it is not opened/);
    expect(toModelInfo(store, ids.badWeights)).toMatchObject({ problem: store.model(ids.badWeights)!.problem, imported: false });
    await expect(findSimilar(store, libraryId, { photoId: store.photos(libraryId)[0].id }, 2, ids.urlBackbone)).rejects.toMatchObject({ kind: 'conflict', message: expect.stringMatching(/^Imported: from a download cannot run: its backbone/) });
  });

  it('never makes an imported model the default for Find similar, and says when its classes are not the library’s', () => {
    expect(defaultModel(store, libraryId)!.id).toBe(ids.own);
    expect(toModelInfo(store, ids.imported)).toMatchObject({
      name: 'Imported: Trained run 1',
      imported: true,
      classNote: 'Trained elsewhere on 2 classes ("cats", "dogs"); this library has 2 ("circles", "squares")',
    });
    expect(toModelInfo(store, ids.own).classNote).toBeNull();
  });

  it('removes a model with its embeddings and vector index; a run that made it keeps its history; the untrained one stays', () => {
    const runId = store.createRun(libraryId, { epochs: 1 });
    store.updateRun(runId, { modelId: ids.own, status: 'done' });
    removeModel(store, libraryId, ids.own);
    expect(store.model(ids.own)).toBeNull();
    expect(store.embeddingCount(ids.own)).toBe(0);
    expect(store.run(runId)).toMatchObject({ modelId: null, status: 'done' });
    const db = new Database(store.path, { readonly: true });
    try {
      const tables = (db.prepare("SELECT name FROM sqlite_master WHERE name LIKE 'vec_model_%'").all() as Array<{ name: string }>).map((t) => t.name);
      expect(tables.some((name) => name === `vec_model_${ids.own}` || name.startsWith(`vec_model_${ids.own}_`))).toBe(false);
      expect(tables).toContain(`vec_model_${ids.imported}`);
    } finally {
      db.close();
    }
    expect(store.embeddingCount(ids.imported)).toBe(6);
    const baseline = store.models(libraryId).find((m) => m.kind === 'baseline')!;
    expect(() => removeModel(store, libraryId, baseline.id)).toThrow(/is the library's untrained model/);
    expect(() => removeModel(store, libraryId, 9999)).toThrow(/no model 9999 in this library/);
    // With its own trained model gone, the default is the untrained one, still not the imported one.
    removeModel(store, libraryId, ids.badWeights);
    expect(defaultModel(store, libraryId)!.id).toBe(baseline.id);
  });
});
