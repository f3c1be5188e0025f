/**
 * The activation ranges an int8 backbone is quantised with (onnx-quantize.ts), measured once on a
 * few hundred of the user's own photos and kept in the cache folder: later loads, in every feature
 * thread and every run, quantise from the file without touching a photo.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeForModel } from '../../library/image.js';
import type { ActivationRanges } from './onnx-quantize.js';
import { INT8_CALIBRATION_PHOTOS, MIN_INT8_CALIBRATION_PHOTOS } from '../../../shared/settings.js';

/** Bumped when the quantisation points or range rules change, so older calibrations are measured again. */
const CALIBRATION_FORMAT = 1;
/** Photos per calibration pass. */
const CALIBRATION_BATCH = 8;
/** Photos decoded side by side (sharp decodes on libuv's threads). */
const DECODE_AT_ONCE = 8;

/** Up to `count` items spread evenly over the list, so every class of a sorted library is seen. */
export function calibrationSample<T>(items: readonly T[], count = INT8_CALIBRATION_PHOTOS): T[] {
  if (items.length <= count) return [...items];
  return Array.from({ length: count }, (_, i) => items[Math.floor((i * items.length) / count)]);
}

export function calibrationFile(cacheDir: string, backboneKey: string): string {
  return join(cacheDir, 'backbones', `${backboneKey.replace(/[^\w.-]+/g, '_')}.int8-calibration.json`);
}

/** The cached ranges for this backbone, or null when there are none (or the file is not one this version wrote). */
export function readCalibration(file: string, backboneKey: string): ActivationRanges | null {
  let saved: { format?: unknown; backbone?: unknown; ranges?: unknown };
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as typeof saved;
  } catch {
    return null;
  }
  if (saved.format !== CALIBRATION_FORMAT || saved.backbone !== backboneKey || typeof saved.ranges !== 'object' || saved.ranges === null) return null;
  const ranges = saved.ranges as Record<string, { min?: unknown; max?: unknown }>;
  const valid = Object.values(ranges).every((r) => Number.isFinite(r?.min) && Number.isFinite(r?.max));
  return valid && Object.keys(ranges).length > 0 ? (ranges as ActivationRanges) : null;
}

export type Calibrate = (batches: Iterable<{ pixels: Float32Array; count: number }>) => Promise<ActivationRanges>;

export type CalibrationOutcome = { ranges: ActivationRanges; measuredOn: number | null } | { ranges: null; reason: string };

/**
 * The cached ranges (measuredOn null), else ranges measured on `photos` and cached. Photos that
 * cannot be decoded are left out; with fewer than MIN_INT8_CALIBRATION_PHOTOS left there is no
 * calibration, and the caller keeps the float backbone.
 */
export async function calibrationFor(options: {
  file: string;
  backboneKey: string;
  photos: readonly string[];
  inputSize: number;
  scale: (images: Uint8Array[]) => Float32Array;
  calibrate: Calibrate;
}): Promise<CalibrationOutcome> {
  const cached = readCalibration(options.file, options.backboneKey);
  if (cached) return { ranges: cached, measuredOn: null };
  const decoded: Uint8Array[] = [];
  const sample = calibrationSample(options.photos);
  for (let i = 0; i < sample.length; i += DECODE_AT_ONCE) {
    const pixels = await Promise.all(
      sample.slice(i, i + DECODE_AT_ONCE).map((photo) =>
        // An unreadable photo is reported by the feature pass itself; calibration just uses the others.
        decodeForModel(photo, options.inputSize).then((image) => image.pixels, () => null),
      ),
    );
    decoded.push(...pixels.filter((p): p is Uint8Array => p !== null));
  }
  if (decoded.length < MIN_INT8_CALIBRATION_PHOTOS) {
    return { ranges: null, reason: `int8 needs ${MIN_INT8_CALIBRATION_PHOTOS} photos to calibrate on, ${decoded.length} given; float used` };
  }
  const batches = function* () {
    for (let i = 0; i < decoded.length; i += CALIBRATION_BATCH) {
      const images = decoded.slice(i, i + CALIBRATION_BATCH);
      yield { pixels: options.scale(images), count: images.length };
    }
  };
  const ranges = await options.calibrate(batches());
  // Written whole, then renamed over: a reader (the other feature thread, a later run) never sees half a file.
  const partial = `${options.file}.${process.pid}.${Date.now()}.tmp`;
  try {
    mkdirSync(join(options.file, '..'), { recursive: true });
    writeFileSync(partial, JSON.stringify({ format: CALIBRATION_FORMAT, backbone: options.backboneKey, photos: decoded.length, ranges }));
    renameSync(partial, options.file);
  } catch {
    // A cache folder that cannot be written (full, read-only) costs a calibration next time, not int8 now.
    if (existsSync(partial)) rmSync(partial);
  }
  return { ranges, measuredOn: decoded.length };
}
