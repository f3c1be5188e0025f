import { afterEach, describe, expect, it, vi } from 'vitest';
import { scannedPhoto, scannedStore } from '../../store/test-fixture.js';
import { createRng } from '../../common/rng.js';
import { openHeadModel } from './head-embedder.js';

const BACKBONE = 'drawn-features';
const DIM = 64;

describe('indexing with the untrained model', () => {
  let remove = () => undefined as void;
  afterEach(() => remove());

  it('reads the cached features a batch at a time, embeds every photo that has them and counts the others', async () => {
    const photos = Array.from({ length: 1200 }, (_, i) => scannedPhoto(`c${i % 3}/p${i}.jpg`, `c${i % 3}`, `h${i}`));
    const fixture = scannedStore('lookalike-head-embedder-', ['c0', 'c1', 'c2'], photos);
    remove = () => (fixture.store.close(), fixture.remove());
    const { store, lib } = fixture;
    const rng = createRng(5);
    // Every photo but each 100th has features (its decode failed, say).
    const vectors = new Map(photos.filter((_, i) => i % 100 !== 7).map((p) => [p.hash, Float32Array.from({ length: DIM }, () => rng() * 2 - 1)]));
    store.putFeatures(BACKBONE, [...vectors].map(([hash, vector]) => ({ hash, vector })));
    const id = store.createModel({ libraryId: lib, name: 'Untrained', kind: 'baseline', backbone: BACKBONE, backboneDim: DIM, dim: DIM, config: { backboneSpec: { kind: 'builtin', id: 'x' } }, runId: null });
    const read = vi.spyOn(store, 'features');

    const count = await openHeadModel(store, store.model(id)!).index({ store });

    expect(count).toEqual({ embedded: 1188, missingFeatures: 12 });
    expect(store.embeddingCount(id)).toBe(1188);
    // A 100,000-photo library's features are 1.25 GB: never all of them at once.
    expect(read.mock.calls.length).toBeGreaterThanOrEqual(3);
    for (const [, hashes] of read.mock.calls) expect(hashes.length).toBeLessThanOrEqual(512);
    // The stored embedding is the photo's feature vector at unit length.
    const photo = store.photos(lib).find((p) => p.hash === 'h5')!;
    const [{ vector: stored }] = store.vectorIndex(id, DIM).vectors([photo.id]);
    const feature = vectors.get('h5')!;
    const norm = Math.hypot(...feature);
    for (let j = 0; j < DIM; j++) expect(stored[j]).toBeCloseTo(feature[j] / norm, 6);
  });
});
