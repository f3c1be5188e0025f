import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { EngineEvent } from '../../../shared/api.js';
import { DEFAULT_SETTINGS } from '../../../shared/settings.js';
import { describeSpec, finalPartOf, parseBackboneSpec, trainingBackboneSpec } from '../../ml/backbone/backbone.js';
import { Store } from '../../store/store.js';
import { scannedPhoto, scannedStore } from '../../store/test-fixture.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { cacheFeatures } from './feature-cache.js';
import { ensureBaselineModel } from './indexing.js';
import { openLibrary } from './library-sync.js';

const spec = parseBackboneSpec(DEFAULT_SETTINGS.backbone);
const key = describeSpec(spec);
let big: string;
let small: string;
let home: string;
let store: Store;
const libraries: Record<'big' | 'small', number> = { big: 0, small: 0 };
const saved = { precision: process.env.LOOKALIKE_BACKBONE_PRECISION, home: process.env.LOOKALIKE_HOME };

/** Features of a library cached at `precision` (as `--precision` asks), with the phases the job said. */
async function cacheAt(library: 'big' | 'small', precision: 'int8' | 'fp32') {
  process.env.LOOKALIKE_BACKBONE_PRECISION = precision;
  const phases = new Set<string>();
  const emit = (event: EngineEvent) => {
    if (event.type === 'progress') phases.add(event.phase);
  };
  const outcome = await cacheFeatures({ store, emit }, libraries[library], spec);
  const hashes = store.photos(libraries[library]).map((p) => p.hash);
  return { outcome, phases: [...phases], vectors: store.features(key, hashes) };
}

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((sum, v, i) => sum + v * b[i], 0) / (Math.hypot(...a) * Math.hypot(...b));

describe('the feature cache keeps one precision (int8 or fp32) per backbone', () => {
  beforeAll(async () => {
    big = await drawTestLibrary({ classes: ['circles', 'stripes'], perClass: 17, seed: 11 });
    small = await drawTestLibrary({ classes: ['squares', 'stars'], perClass: 3, seed: 12 });
    home = mkdtempSync(join(tmpdir(), 'lookalike-precision-home-'));
    process.env.LOOKALIKE_HOME = home; // int8 calibrates into a cache of its own here
    store = Store.open(join(home, 'lookalike.db'));
    libraries.big = (await openLibrary({ store }, big)).libraryId;
    libraries.small = (await openLibrary({ store }, small)).libraryId;
  }, 120_000);
  afterAll(() => {
    store?.close();
    for (const [name, value] of [['LOOKALIKE_BACKBONE_PRECISION', saved.precision], ['LOOKALIKE_HOME', saved.home]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    for (const folder of [big, small, home]) if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('computes them again, and re-embeds the models on them, when the precision changes; never mixes the two', { timeout: 300_000 }, async () => {
    // 6 photos cannot calibrate int8 (and no calibration is cached yet): they stay float, and are not computed again for nothing.
    expect((await cacheAt('small', 'fp32')).outcome.computed).toBe(6);
    const baseline = await ensureBaselineModel({ store }, libraries.small, spec);
    const stayed = await cacheAt('small', 'int8');
    expect(stayed.outcome.computed).toBe(0);
    expect(store.featurePrecision(key)).toBe('fp32');

    // 34 photos can: every feature of the backbone is computed again at int8 (the small library's too, when it is next read).
    const fp32 = await cacheAt('big', 'fp32');
    expect(fp32.outcome.computed).toBe(34);
    const int8 = await cacheAt('big', 'int8');
    expect(int8.outcome.runtime).toBe('onnxruntime-int8');
    expect(int8.outcome.computed).toBe(34); // not the fp32 ones taken as they were
    expect(int8.phases.some((phase) => phase.startsWith('Computing backbone features again at int8'))).toBe(true);
    expect(store.featurePrecision(key)).toBe('int8');
    expect(store.photosToEmbed(libraries.small, baseline)).toHaveLength(6); // its model embeds them again from the new features
    for (const [hash, vector] of int8.vectors) {
      expect(vector).not.toEqual(fp32.vectors.get(hash));
      expect(cosine(vector, fp32.vectors.get(hash)!)).toBeGreaterThan(0.9); // the same photo, at another precision
    }
    expect((await cacheAt('small', 'int8')).outcome.computed).toBe(6); // now at int8, with the calibration cached
    expect((await cacheAt('big', 'int8')).outcome.computed).toBe(0);
    expect((await cacheAt('big', 'fp32')).outcome.computed).toBe(34);
    expect(store.featurePrecision(key)).toBe('fp32');
  });
});

describe('the feature cache of a big library', () => {
  it('is checked a chunk at a time: a damaged row found and computed again, the final pool filled in from the cached tails', { timeout: 120_000 }, async () => {
    const saved = process.env.LOOKALIKE_BACKBONE_PRECISION;
    process.env.LOOKALIKE_BACKBONE_PRECISION = 'fp32';
    const photos = Array.from({ length: 3000 }, (_, i) => scannedPhoto(`c${i % 2}/p${i}.jpg`, `c${i % 2}`, `h${i}`));
    const fixture = scannedStore('lookalike-feature-chunks-', ['c0', 'c1'], photos);
    const { store: big, lib } = fixture;
    try {
      const multiScale = trainingBackboneSpec({ backbone: DEFAULT_SETTINGS.backbone, features: 'multi-scale' });
      const multiKey = describeSpec(multiScale);
      const finalPart = finalPartOf(multiScale)!;
      const dim = finalPart.dim + 16;
      const vectorOf = (i: number) => Float32Array.from({ length: dim }, (_, j) => (i === 2000 && j === 3 ? NaN : Math.sin(i + j)));
      big.putFeatures(multiKey, photos.map((p, i) => ({ hash: p.hash, vector: vectorOf(i) })));
      big.switchFeaturePrecision(multiKey, 'fp32');
      const read = vi.spyOn(big, 'features');
      const problems: string[] = [];
      const outcome = await cacheFeatures({ store: big, emit: (e) => void (e.type === 'problem' && problems.push(`${e.problem.path}: ${e.problem.reason}`)) }, lib, multiScale);

      expect(outcome.cached).toBe(2999);
      expect(problems[0]).toBe('c0/p2000.jpg: its stored backbone features were damaged (not numbers); computing them again');
      // Its file is not on disk here: the backbone was asked for it alone, and said so.
      expect(outcome.computed).toBe(0);
      expect(problems.slice(1).every((p) => p.startsWith('c0/p2000.jpg: '))).toBe(true);
      expect(Math.max(...read.mock.calls.map(([, hashes]) => hashes.length))).toBeLessThanOrEqual(1024);
      const finals = big.features(describeSpec(finalPart.spec), ['h0', 'h2999', 'h2000']);
      expect([...finals.keys()]).toEqual(['h0', 'h2999']);
      expect(finals.get('h2999')).toEqual(vectorOf(2999).slice(16));
    } finally {
      process.env.LOOKALIKE_BACKBONE_PRECISION = saved;
      big.close();
      fixture.remove();
    }
  });
});
