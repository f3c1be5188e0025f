import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from './store.js';
import { scannedPhoto as photo, scannedStore } from './test-fixture.js';

let store: Store;
let lib: number;
// Two files share content h2: one photo to compute, as the caches count it.
const scan = [photo('cats/a.jpg', 'cats', 'h1'), photo('cats/b.jpg', 'cats', 'h2'), photo('dogs/b-copy.jpg', 'dogs', 'h2'), photo('dogs/c.jpg', 'dogs', 'h3'), photo('loose.jpg', null, 'h4')];

let remove: () => void;

beforeEach(() => {
  ({ store, lib, remove } = scannedStore('lookalike-rates-', ['cats', 'dogs'], scan));
});
afterEach(() => {
  store.close();
  remove();
});

describe('measured speeds and head-alone scores on a real SQLite file', () => {
  it('keeps each run’s phases, the newest run’s figure per phase and variant, and survives reopening', () => {
    const first = store.createRun(lib, { fineTune: 'head' });
    const second = store.createRun(lib, { fineTune: 'last-blocks' });
    store.runRates.record(first, [
      { phase: 'features', variant: 'mobilenet', items: 40, seconds: 2 },
      { phase: 'head', variant: 'mobilenet', items: 6400, seconds: 4 },
    ]);
    store.runRates.record(second, [
      { phase: 'head', variant: 'mobilenet', items: 3200, seconds: 4 },
      { phase: 'blocks', variant: 'last-blocks:1', items: 24, seconds: 8 },
    ]);
    // A resumed run measures a phase again: the later figure replaces the earlier one.
    store.runRates.record(second, [{ phase: 'blocks', variant: 'last-blocks:1', items: 30, seconds: 6 }]);
    expect(store.runRates.latest('head', 'mobilenet')).toEqual({ runId: second, phase: 'head', variant: 'mobilenet', items: 3200, seconds: 4 });
    expect(store.runRates.latest('features', 'mobilenet')).toMatchObject({ runId: first, items: 40 });
    expect(store.runRates.latest('blocks', 'last-blocks:1')).toMatchObject({ items: 30, seconds: 6 });
    expect(store.runRates.latest('blocks', 'last-blocks:2')).toBeNull();
    expect(store.runRates.ofRun(first).map((r) => r.phase)).toEqual(['features', 'head']);

    const path = store.path;
    store.close();
    store = Store.open(path);
    expect(store.runRates.latest('blocks', 'last-blocks:1')).toMatchObject({ runId: second, items: 30 });
  });

  it('stores a run’s head-alone scores and gives them back with the run (none for a run without them)', () => {
    const fineTuned = store.createRun(lib, { fineTune: 'last-blocks' });
    const head = store.createRun(lib, { fineTune: 'head' });
    const scores = { k: 3, queries: 4, database: 12, precision_at_k: 0.75, map_at_r: 0.6 };
    store.updateRun(fineTuned, { headAlone: scores });
    expect(store.run(fineTuned)?.headAlone).toEqual(scores);
    expect(store.run(head)?.headAlone).toBeNull();
    expect(store.runs(lib).map((r) => r.headAlone)).toEqual([null, scores]);
  });

  it('counts the photo contents a library still lacks in a backbone’s features and at a cut, known failures left out', () => {
    expect(store.runRates.photosWithoutFeatures(lib, 'mobilenet')).toBe(4);
    store.putFeatures('mobilenet', [{ hash: 'h1', vector: new Float32Array([1, 2]) }]);
    store.putFeatures('other', [{ hash: 'h2', vector: new Float32Array([1, 2]) }]);
    store.putFeatureFailure('mobilenet', 'h4', 'cannot read', 'loose.jpg');
    expect(store.runRates.photosWithoutFeatures(lib, 'mobilenet')).toBe(2); // h2 (two files) and h3
    expect(store.runRates.photosWithoutCutMaps(lib, 'mobilenet', 'cut@224')).toBe(3);
    expect(store.runRates.hasCutMaps('mobilenet')).toBe(false);
    store.putCutActivations('mobilenet', 'cut@224', [{ hash: 'h2', data: Buffer.from([1]) }]);
    store.putCutActivations('mobilenet', 'other@224', [{ hash: 'h3', data: Buffer.from([1]) }]);
    expect(store.runRates.photosWithoutCutMaps(lib, 'mobilenet', 'cut@224')).toBe(2);
    expect([store.runRates.hasCutMaps('mobilenet'), store.runRates.hasCutMaps('other')]).toEqual([true, false]);
  });
});
