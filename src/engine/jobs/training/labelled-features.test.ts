import { afterEach, describe, expect, it, vi } from 'vitest';
import { scannedPhoto, scannedStore } from '../../store/test-fixture.js';
import { labelledFeatures, SCORED_SPLIT } from './labelled-features.js';
import { evaluateModel } from './evaluation.js';
import { distancesOf, PROFILE_SAMPLE } from './evaluation.js';

const BACKBONE = 'drawn-features';

describe('the labelled features of a library', () => {
  let remove = () => undefined as void;
  afterEach(() => remove());

  it('a sample keeps at most so many photos of each side of the split, spread over it, and reads only their features', () => {
    const photos = Array.from({ length: 600 }, (_, i) => scannedPhoto(`c${i % 3}/p${i}.jpg`, `c${i % 3}`, `h${i}`));
    const fixture = scannedStore('lookalike-labelled-', ['c0', 'c1', 'c2'], photos);
    remove = () => (fixture.store.close(), fixture.remove());
    const { store, lib } = fixture;
    store.putFeatures(BACKBONE, photos.map((p, i) => ({ hash: p.hash, vector: Float32Array.of(i, 1, 0) })));
    const whole = labelledFeatures(store, lib, BACKBONE, 0.2, 1);
    expect(whole.validationPhotos.length).toBe(120);
    expect(whole.trainPhotos.length).toBe(480);

    const read = vi.spyOn(store, 'features');
    const sample = labelledFeatures(store, lib, BACKBONE, 0.2, 1, { validation: 30, train: 100 });
    expect(read.mock.calls.map(([, hashes]) => hashes.length)).toEqual([130]);
    expect(sample.validationPhotos.length).toBe(30);
    expect(sample.trainPhotos.length).toBe(100);
    // Spread over the whole side, in its order, each with its own (normalised) features and class.
    expect(sample.trainPhotos.map((p) => p.id)).toEqual(Array.from({ length: 100 }, (_, i) => whole.trainPhotos[Math.floor((i * 480) / 100)].id));
    sample.validationPhotos.forEach((photo, i) => {
      const index = Number(photo.hash.slice(1));
      expect(sample.validation.vectors[i][0]).toBeCloseTo(index / Math.hypot(index, 1), 6);
      expect(sample.validation.classIds[i]).toBe(photo.classId);
    });
    for (const classId of new Set(whole.validation.classIds)) expect(sample.validation.classIds.filter((c) => c === classId).length).toBeGreaterThanOrEqual(9);
    // A sample larger than the library is the whole of it.
    expect(labelledFeatures(store, lib, BACKBONE, 0.2, 1, { validation: 1000, train: 1000 }).trainPhotos).toEqual(whole.trainPhotos);
  });

  it('a library with more validation photos than are scored: every training photo, the validation photos a spread sample', async () => {
    const count = 5 * SCORED_SPLIT.validation + 2000;
    const classes = Array.from({ length: 40 }, (_, c) => `c${c}`);
    const photos = Array.from({ length: count }, (_, i) => scannedPhoto(`c${i % 40}/p${i}.jpg`, `c${i % 40}`, `h${i}`));
    const fixture = scannedStore('lookalike-scored-', classes, photos);
    remove = () => (fixture.store.close(), fixture.remove());
    const { store, lib } = fixture;
    // Each class along its own axis, photos spread a little towards the next class's.
    const vector = (i: number) => Object.assign(new Float32Array(40), { [i % 40]: 1, [(i + 1) % 40]: 0.3 * Math.abs(Math.sin(i)) });
    store.putFeatures(BACKBONE, photos.map((p, i) => ({ hash: p.hash, vector: vector(i) })));
    const sets = labelledFeatures(store, lib, BACKBONE, 0.2, 1);
    expect(sets.validationPhotos.length).toBe(SCORED_SPLIT.validation);
    expect(sets.trainPhotos.length).toBe(count - Math.round(count * 0.2));
    for (const classId of new Set(sets.train.classIds)) expect(sets.validation.classIds.filter((c) => c === classId).length).toBe(SCORED_SPLIT.validation / 40);
    const id = store.createModel({ libraryId: lib, name: 'Untrained', kind: 'baseline', backbone: BACKBONE, backboneDim: 40, dim: 40, config: {}, runId: null });
    const { baseline } = await evaluateModel(store, lib, id);
    expect(baseline).toMatchObject({ queries: SCORED_SPLIT.validation, database: sets.trainPhotos.length });
    expect(baseline.precision_at_k).toBeGreaterThan(0.9); // the classes lie apart
  });

  it('a search that needs a model\'s distance profile measures it on a sample of the split, and stores it', async () => {
    const photos = Array.from({ length: 6000 }, (_, i) => scannedPhoto(`c${i % 3}/p${i}.jpg`, `c${i % 3}`, `h${i}`));
    const fixture = scannedStore('lookalike-profile-', ['c0', 'c1', 'c2'], photos);
    remove = () => (fixture.store.close(), fixture.remove());
    const { store, lib } = fixture;
    store.putFeatures(BACKBONE, photos.map((p, i) => ({ hash: p.hash, vector: Float32Array.of(i % 3, 1 + Math.sin(i), 0.1) })));
    const id = store.createModel({ libraryId: lib, name: 'Untrained', kind: 'baseline', backbone: BACKBONE, backboneDim: 3, dim: 3, config: {}, runId: null });
    const read = vi.spyOn(store, 'features');
    const profile = await distancesOf(store, lib, store.model(id)!);
    expect(read.mock.calls.map(([, hashes]) => hashes.length)).toEqual([PROFILE_SAMPLE.validation + PROFILE_SAMPLE.train]);
    expect(profile?.threshold).toBeGreaterThan(0);
    expect(store.modelDistances(id)).toEqual(profile);
  });
});
