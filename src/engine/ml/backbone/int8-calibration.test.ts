import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBackbone, type Backbone } from './backbone.js';
import { selectBackend } from '../runtime/compute-backend.js';
import { calibrationFile, calibrationSample } from './int8-calibration.js';
import { preferredPrecision } from './onnx-backbone.js';
import { decodeForModel } from '../../library/image.js';
import { drawPhoto } from '../../testing/test-photos.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { MIN_INT8_CALIBRATION_PHOTOS, SettingsError, parseBackbonePrecision } from '../../../shared/settings.js';

describe('int8 calibration settings', () => {
  it('spreads the calibration photos over the whole list, and takes all of a short one', () => {
    const photos = Array.from({ length: 1000 }, (_, i) => i);
    const sample = calibrationSample(photos, 4);
    expect(sample).toEqual([0, 250, 500, 750]);
    expect(calibrationSample([1, 2, 3], 4)).toEqual([1, 2, 3]);
  });

  it('reads the precision setting: int8 or fp32, the default when empty, a clear refusal otherwise', () => {
    expect(parseBackbonePrecision('fp32')).toBe('fp32');
    expect(parseBackbonePrecision('int8')).toBe('int8');
    expect(parseBackbonePrecision(undefined)).toBe(parseBackbonePrecision(''));
    expect(() => parseBackbonePrecision('int4')).toThrow(SettingsError);
    expect(() => parseBackbonePrecision('int4')).toThrow(/precision must be "int8" or "fp32" \(got "int4"\)/);
    expect(preferredPrecision('fp32')).toBe('fp32');
  });
});

describe('the built-in backbone at int8, calibrated on the library and cached', () => {
  expectNoTensorLeaks();
  let folder: string;
  let cacheDir: string;
  let photos: string[];
  let probe: Uint8Array[];
  const open: Backbone[] = [];

  beforeAll(async () => {
    await selectBackend();
    folder = mkdtempSync(join(tmpdir(), 'lookalike-int8-cal-'));
    cacheDir = join(folder, 'cache');
    photos = await Promise.all(Array.from({ length: MIN_INT8_CALIBRATION_PHOTOS }, (_, i) => drawPhoto(join(folder, `${i}.jpg`), 200, 150, i + 1)));
    probe = await Promise.all(photos.slice(0, 2).map(async (file) => (await decodeForModel(file, 224)).pixels));
  });

  afterAll(() => {
    for (const backbone of open) backbone.dispose();
    rmSync(folder, { recursive: true, force: true });
  });

  const load = async (options: Parameters<typeof loadBackbone>[1]) => {
    const backbone = await loadBackbone({ kind: 'builtin', id: BUILTIN_BACKBONE.id }, { cacheDir, ...options });
    open.push(backbone);
    return backbone;
  };

  it('keeps the float graph, and says why, with too few photos to calibrate on and none cached', async () => {
    const backbone = await load({ precision: 'int8', calibrationPhotos: photos.slice(0, MIN_INT8_CALIBRATION_PHOTOS - 1) });
    expect(backbone.runtime).toBe('onnxruntime');
    expect(backbone.runtimeNote).toMatch(/int8 needs 32 photos to calibrate on, 31 given; float used/);
  });

  it('calibrates on the photos once; a later load quantises from the cached calibration without them, to the same features', async () => {
    const file = calibrationFile(cacheDir, BUILTIN_BACKBONE.id);
    const first = await load({ precision: 'int8', calibrationPhotos: photos });
    expect(first.runtime).toBe('onnxruntime-int8');
    const written = { text: readFileSync(file, 'utf8'), mtime: statSync(file).mtimeMs };
    expect(JSON.parse(written.text)).toMatchObject({ backbone: BUILTIN_BACKBONE.id, photos: MIN_INT8_CALIBRATION_PHOTOS });

    const second = await load({ precision: 'int8', calibrationPhotos: [] });
    expect(second.runtime).toBe('onnxruntime-int8');
    expect(statSync(file).mtimeMs).toBe(written.mtime);
    expect(await second.embed(probe)).toEqual(await first.embed(probe));

    // fp32 asked for: the float graph, though a calibration is there.
    const float = await load({ precision: 'fp32' });
    expect(float.runtime).toBe('onnxruntime');
    const [a, b] = [(await float.embed(probe))[0], (await first.embed(probe))[0]];
    expect(a.some((v, i) => v !== b[i])).toBe(true);
  });

  it('keeps int8 when the cache folder cannot be written (it measures again next time)', async () => {
    const notAFolder = join(folder, 'cache-is-a-file');
    writeFileSync(notAFolder, 'a file where the cache folder should be');
    const backbone = await load({ precision: 'int8', calibrationPhotos: photos, cacheDir: notAFolder });
    expect(backbone.runtime).toBe('onnxruntime-int8');
    expect(readFileSync(notAFolder, 'utf8')).toBe('a file where the cache folder should be');
  });

  it('measures again when the cached calibration is damaged', async () => {
    const file = calibrationFile(cacheDir, BUILTIN_BACKBONE.id);
    mkdirSync(join(file, '..'), { recursive: true });
    writeFileSync(file, '{"format": 1, "backbone": "nsfwjs-mobilenetv2-1.4", "ranges": {"x": {"min": "low"}}}');
    const backbone = await load({ precision: 'int8', calibrationPhotos: photos });
    expect(backbone.runtime).toBe('onnxruntime-int8');
    expect(JSON.parse(readFileSync(file, 'utf8')).photos).toBe(MIN_INT8_CALIBRATION_PHOTOS);
  });
});
