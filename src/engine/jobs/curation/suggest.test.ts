import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSettings } from '../../../shared/settings.js';
import { Store } from '../../store/store.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';
import { openLibrary } from '../library/library-sync.js';
import { planTraining } from '../door.js';
import { trainModel } from '../training/training.js';
import { changeLabels } from '../files/label-changes.js';
import { releaseQueryBackbones } from '../models/query-backbones.js';
import { keptGaussians, rejectSuggestion, suggestClasses } from './suggest.js';
import { describeSpec, type BackboneSpec } from '../../ml/backbone/backbone.js';
import { fitClassGaussians } from '../../ml/curation/novelty.js';
import { untrainedSpec } from '../training/labelled-features.js';
import { runSql } from '../../testing/raw-sql.js';

let root: string;
let dbDir: string;
let store: Store;
let libraryId: number;
const dbPath = () => join(dbDir, 'lookalike.db');

expectNoTensorLeaks(releaseQueryBackbones);

/** The drawn class of an unsorted photo: the sample library draws unsorted-1..4 as circles, squares, stripes, stars. */
const DRAWN = ['circles', 'squares', 'stripes', 'stars'];
const drawnClass = (path: string) => DRAWN[(Number(/unsorted-(\d+)/.exec(path)![1]) - 1) % 4];

describe('sort the unsorted: suggestions from a trained model on drawn photos', () => {
  beforeAll(async () => {
    // Three classes labelled; eight photos in the root, two of each class and two of stars (never labelled).
    root = await drawTestLibrary({ classes: ['circles', 'squares', 'stripes'], perClass: 10, unlabelled: 8 });
    dbDir = mkdtempSync(join(tmpdir(), 'lookalike-suggest-'));
    store = Store.open(dbPath());
    ({ libraryId } = await openLibrary({ store }, root));
    await trainModel({ store }, libraryId, planTraining(store, libraryId, resolveSettings({ epochs: 2, batchSize: 16, tripletsPerEpoch: 96, dim: 32, seed: 3 }), { k: 5 }));
  }, 600_000);
  afterAll(() => {
    store?.close();
    for (const dir of [root, dbDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('suggests a class for every unlabelled photo, most confident first, backed by the nearest labelled photos of that class', () => {
    const { suggestions, notIndexed } = suggestClasses(store, libraryId);
    expect(notIndexed).toBe(0);
    expect(suggestions.map((s) => s.path).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `unsorted-${i + 1}.jpg`));
    const confidences = suggestions.map((s) => s.confidence);
    expect(confidences).toEqual([...confidences].sort((a, b) => b - a));
    for (const s of suggestions) {
      expect(s.support.length).toBeGreaterThan(0);
      expect(s.support.every((p) => p.path.startsWith(`${s.nearestClass}/`))).toBe(true);
      expect(s.support.map((p) => p.distance)).toEqual([...s.support.map((p) => p.distance)].sort((a, b) => a - b));
      expect(s.distance).toBeCloseTo(s.support[0].distance);
    }
    // The photos of labelled classes go to their class.
    const known = suggestions.filter((s) => drawnClass(s.path) !== 'stars');
    expect(known.filter((s) => s.className === drawnClass(s.path)).length).toBeGreaterThanOrEqual(5);
  });

  it('says "none of your classes" for the stars (never labelled), stranger in the untrained features than every photo of a labelled class, and says what it rests on', () => {
    const { suggestions } = suggestClasses(store, libraryId);
    const stars = suggestions.filter((s) => drawnClass(s.path) === 'stars');
    const known = suggestions.filter((s) => drawnClass(s.path) !== 'stars');
    expect(stars.map((s) => s.className)).toEqual([null, null]);
    for (const { strangeness } of suggestions) {
      expect(strangeness!.model).toBeGreaterThanOrEqual(0);
      expect(strangeness!.model).toBeLessThanOrEqual(1);
      expect(strangeness!.unsorted).toMatchObject({ of: 10 });
    }
    const untrained = (list: typeof suggestions) => list.map((s) => s.strangeness!.untrained!);
    expect(Math.min(...untrained(stars))).toBeGreaterThan(Math.max(...untrained(known)));
  });

  it('remembers a rejected suggestion (also in a new session), suggests something else, and forgets it when asked', () => {
    const first = suggestClasses(store, libraryId).suggestions.find((s) => s.className !== null)!;
    rejectSuggestion(store, libraryId, { photoId: first.photoId, className: first.className!, rejected: true });
    store.close();
    store = Store.open(dbPath());
    const after = suggestClasses(store, libraryId).suggestions.find((s) => s.photoId === first.photoId)!;
    expect(after.rejected).toEqual([first.className]);
    expect(after.className).not.toBe(first.className);
    expect(after.nearestClass).not.toBe(first.className);
    rejectSuggestion(store, libraryId, { photoId: first.photoId, className: first.className!, rejected: false });
    expect(suggestClasses(store, libraryId).suggestions.find((s) => s.photoId === first.photoId)).toMatchObject({ className: first.className, rejected: [] });
  });

  it('accepting labels the photo (assign-photos): it leaves the suggestions and backs the others', () => {
    const [top] = suggestClasses(store, libraryId).suggestions;
    changeLabels(store, libraryId, { kind: 'assign-photos', photoIds: [top.photoId], className: top.className! });
    expect(store.photo(top.photoId)!.className).toBe(top.className);
    const left = suggestClasses(store, libraryId).suggestions;
    expect(left.map((s) => s.photoId)).not.toContain(top.photoId);
    expect(left).toHaveLength(7);
  });

  it('refuses a photo of no library, a class without a name or of no library, and a model id that is not one, as user mistakes', () => {
    expect(() => rejectSuggestion(store, libraryId, { photoId: 999_999, className: 'circles', rejected: true })).toThrow(expect.objectContaining({ kind: 'not-found', message: 'no photo 999999 in this library' }));
    const [any] = suggestClasses(store, libraryId).suggestions;
    expect(() => rejectSuggestion(store, libraryId, { photoId: any.photoId, className: ' ', rejected: true })).toThrow(expect.objectContaining({ kind: 'invalid-input' }));
    expect(() => rejectSuggestion(store, libraryId, { photoId: any.photoId, className: 'giraffes', rejected: true })).toThrow(expect.objectContaining({ kind: 'not-found', message: 'no class "giraffes" in this library' }));
    expect(() => suggestClasses(store, libraryId, { modelId: '2' as unknown as number })).toThrow(expect.objectContaining({ kind: 'invalid-input', message: 'a model is named by its id, a whole number (got text)' }));
    expect(() => rejectSuggestion(store, libraryId, { photoId: null as unknown as number, className: 'circles', rejected: true })).toThrow(expect.objectContaining({ kind: 'invalid-input' }));
    expect(() => suggestClasses(store, libraryId, { modelId: 987_654 })).toThrow(expect.objectContaining({ kind: 'not-found' }));
  });

  it("without a validation split, falls back on the model's own close-match distance", () => {
    const model = store.models(libraryId).find((m) => m.kind === 'trained')!;
    runSql(store.path, 'UPDATE photos SET split = NULL WHERE library_id = ?', libraryId);
    const profile = (threshold: number | null) => ({ same_class: [0.1, 0.2, 0.3] as [number, number, number], other_class: [0.5, 0.6, 0.7] as [number, number, number], threshold, precision: 0.9, close_match_share: 0.5 });
    store.setModelDistances(model.id, profile(1e-6));
    expect(suggestClasses(store, libraryId).suggestions.every((s) => s.className === null && s.strangeness === null)).toBe(true);
    store.setModelDistances(model.id, profile(null));
    expect(suggestClasses(store, libraryId).suggestions.every((s) => s.className !== null)).toBe(true);
  });
  it('fits the class Gaussians of the untrained features once per training split: again after a label, a content or a precision changes', () => {
    const model = store.models(libraryId).find((m) => m.kind === 'trained')!;
    const spec = model.config.backboneSpec as BackboneSpec;
    const key = describeSpec(untrainedSpec(spec));
    const train = store.photos(libraryId).filter((p) => p.classId !== null && p.split !== 'validation');
    const features = store.features(key, train.map((p) => p.hash));
    const rows = train.map((p) => ({ classId: p.classId!, vector: features.get(p.hash)! }));
    let fits = 0;
    const fit = (given: typeof rows) => (fits++, fitClassGaussians(given));
    const first = keptGaussians(store, spec, train, fit)(rows);
    expect(keptGaussians(store, spec, train, fit)(rows)).toBe(first); // Sort asking again: the same fit
    expect(fits).toBe(1);
    const relabelled = [{ ...train[0], classId: train.find((p) => p.classId !== train[0].classId)!.classId }, ...train.slice(1)];
    keptGaussians(store, spec, relabelled, fit)(rows);
    expect(fits).toBe(2);
    keptGaussians(store, spec, [{ ...train[0], hash: 'edited' }, ...train.slice(1)], fit)(rows);
    expect(fits).toBe(3);
    const precision = store.featurePrecision(key) ?? 'fp32';
    store.switchFeaturePrecision(key, precision === 'fp32' ? 'int8' : 'fp32', { keep: true });
    keptGaussians(store, spec, train, fit)(rows);
    expect(fits).toBe(4);
    store.switchFeaturePrecision(key, precision, { keep: true });
  });
});
