import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Problem } from '../../../shared/api.js';
import { activeClock } from '../../common/job-control.js';
import { createThroughput } from '../../common/throughput.js';
import { describeSpec, finalPartOf, type BackboneSpec } from '../../ml/backbone/backbone.js';
import { extractFeatures, featurePrecision, precisionOfRuntime } from '../../ml/backbone/features.js';
import type { PhotoRow, Store } from '../../store/store.js';
import type { JobContext } from '../job-context.js';

/**
 * Computes backbone features for photos whose content has none yet; stored as they come. Cached
 * features that are not all numbers (a damaged row) are dropped and computed again. A photo the
 * backbone could not read is remembered as seen on that file (path, size, mtime) and tried again once
 * the file changes, moves or reappears, or with `retry`; one that could not be read only this time
 * (gone, locked, replaced meanwhile) is not remembered at all. The 'features' problems are rewritten
 * each time, so a fixed or deleted file leaves the list.
 */
export async function cacheFeatures(ctx: JobContext, libraryId: number, spec: BackboneSpec, workers?: number, options: { retry?: boolean } = {}) {
  const { store } = ctx;
  const key = describeSpec(spec);
  const finalPart = finalPartOf(spec);
  const keys = [key, ...(finalPart ? [describeSpec(finalPart.spec)] : [])];
  const photos = store.photos(libraryId);
  // Photos known to be unreadable cannot calibrate int8 either.
  const precision = await featurePrecision(spec, photos.length - store.featureFailures(key).size);
  const recomputing = samePrecisionOnly(store, keys, precision);
  const cached = cachedSoundFeatures(ctx, key, photos);
  if (finalPart) backfillFinalPart(store, finalPart, key, cached);
  if (options.retry) store.clearFeatureFailures(key, photos.map((p) => p.hash));
  const failures = store.featureFailures(key);
  const knownBad = (p: PhotoRow) => failures.get(p.hash)?.seenAs === seenAs(p);
  const missing = uniqueByHash(photos.filter((p) => !cached.has(p.hash) && !knownBad(p)));
  const root = store.libraryRoot(libraryId);
  const pace = createThroughput(activeClock(ctx.control));
  let phase = recomputing ? `Computing backbone features again at ${recomputing} (they were cached at another precision)` : 'Computing backbone features';
  ctx.emit?.({ type: 'progress', kind: 'features', phase, done: 0, total: missing.length, etaSeconds: null });
  const problems: Problem[] = [];
  const summary = await extractFeatures(
    spec,
    missing.map((photo, index) => ({ index, absPath: resolve(root, photo.relPath), label: photo.relPath })),
    {
      workers,
      control: ctx.control,
      onFeatures: (items) => {
        store.putFeatures(key, items.map(({ index, vector }) => ({ hash: missing[index].hash, vector })));
        // The final pool comes with multi-scale features: cached too, so the untrained model needs no second pass.
        if (finalPart) store.putFeatures(describeSpec(finalPart.spec), items.map(({ index, vector }) => ({ hash: missing[index].hash, vector: vector.slice(vector.length - finalPart.dim) })));
      },
      onProblem: (problem, passing) => {
        const photo = missing.find((p) => p.relPath === problem.path);
        if (photo && !passing && sameFileAsScanned(resolve(root, photo.relPath), photo)) store.putFeatureFailure(key, photo.hash, problem.reason, seenAs(photo));
        else problem = { ...problem, reason: `${problem.reason} (could not be read this time; tried again next time)` };
        problem = { ...problem, unreadablePhoto: true };
        problems.push(problem);
        ctx.emit?.({ type: 'problem', problem });
      },
      onRuntime: (runtime, note) => {
        phase = `${recomputing ? `Computing backbone features again at ${recomputing}` : 'Computing backbone features'} (${describeRuntime(runtime)}${note ? `; ${note}` : ''})`;
      },
      onProgress: (done, total) => {
        const { etaSeconds, perSecond } = pace(done, total);
        ctx.emit?.({ type: 'progress', kind: 'features', phase, done, total, etaSeconds, imagesPerSecond: perSecond });
      },
    },
  );
  // The backbone fell back (int8 could not calibrate): what it computed is recorded as it is, or as
  // mixed beside features cached at the other precision, so the next run computes them all again.
  const computedAt = precisionOfRuntime(summary.runtime);
  if (summary.extracted > 0 && computedAt !== precision) for (const k of keys) store.switchFeaturePrecision(k, cached.size > 0 ? 'mixed' : computedAt, { keep: true });
  replaceFeatureProblems(store, libraryId, key, photos, problems);
  return { ...summary, key, cached: cached.size, computed: summary.extracted, problems };
}

/**
 * Features are cached at the precision they will be computed at now (int8 or fp32): any cached at the
 * other one are dropped, so a library never mixes them (a model's distances would shift between old
 * and new photos). Returns the precision when something was dropped, else null.
 */
function samePrecisionOnly(store: Store, keys: string[], precision: string): string | null {
  let dropped = 0;
  for (const key of keys) dropped += store.switchFeaturePrecision(key, precision);
  return dropped > 0 ? precision : null;
}

/** Hashes read at once when the cache is checked: a 100,000-photo library's multi-scale features are 1.25 GB. */
const CHECK_CHUNK = 1024;

/** Which photos have sound features cached; damaged ones (not all numbers) are deleted, said, and left out, to be computed again. */
function cachedSoundFeatures(ctx: JobContext, key: string, photos: PhotoRow[]): Set<string> {
  const { store } = ctx;
  const hashes = [...new Set(photos.map((p) => p.hash))];
  const sound = new Set<string>();
  const damaged: string[] = [];
  for (let start = 0; start < hashes.length; start += CHECK_CHUNK) {
    for (const [hash, vector] of store.features(key, hashes.slice(start, start + CHECK_CHUNK))) {
      if (allFinite(vector)) sound.add(hash);
      else damaged.push(hash);
    }
  }
  if (damaged.length) {
    store.deleteFeatures(key, damaged);
    const gone = new Set(damaged);
    for (const photo of photos.filter((p) => gone.has(p.hash))) {
      ctx.emit?.({ type: 'problem', problem: { path: photo.relPath, reason: 'its stored backbone features were damaged (not numbers); computing them again' } });
    }
  }
  return sound;
}

function allFinite(vector: Float32Array): boolean {
  // x - x is 0 for every number and NaN for NaN and the infinities.
  for (let i = 0; i < vector.length; i++) if (vector[i] - vector[i] !== 0) return false;
  return true;
}

/** The library's 'features' problems as they stand now: remembered failures that match the file as it is, and this run's passing ones. */
function replaceFeatureProblems(store: Store, libraryId: number, key: string, photos: PhotoRow[], problems: Problem[]): void {
  const nowFailing = store.featureFailures(key);
  const lasting = photos.filter((p) => nowFailing.get(p.hash)?.seenAs === seenAs(p)).map((p) => ({ path: p.relPath, reason: nowFailing.get(p.hash)!.reason }));
  const lastingPaths = new Set(lasting.map((p) => p.path));
  store.replaceProblems(libraryId, 'features', [...lasting, ...problems.filter((p) => !lastingPaths.has(p.path))]);
}

/**
 * Multi-scale vectors end with the final pool: photos whose final-pool features are missing (a cache
 * written before both were stored together) get them from there, with no backbone pass.
 */
function backfillFinalPart(store: Store, finalPart: NonNullable<ReturnType<typeof finalPartOf>>, key: string, cached: Set<string>): void {
  const finalKey = describeSpec(finalPart.spec);
  const present = store.featureHashes(finalKey, [...cached]);
  const missing = [...cached].filter((hash) => !present.has(hash));
  for (let start = 0; start < missing.length; start += CHECK_CHUNK) {
    const vectors = store.features(key, missing.slice(start, start + CHECK_CHUNK));
    store.putFeatures(finalKey, [...vectors].map(([hash, vector]) => ({ hash, vector: vector.slice(vector.length - finalPart.dim) })));
  }
}

/** A failure is remembered against the file as the scan saw it: another path, size or mtime means another try. */
function seenAs(photo: PhotoRow): string {
  return JSON.stringify([photo.relPath, photo.size, photo.mtimeMs]);
}

/** The file is still the one the scan hashed (not gone or replaced while the backbone read it). */
function sameFileAsScanned(absPath: string, photo: PhotoRow): boolean {
  try {
    const info = statSync(absPath);
    return info.size === photo.size && Math.round(info.mtimeMs) === photo.mtimeMs;
  } catch {
    return false;
  }
}

function describeRuntime(runtime: string): string {
  return runtime === 'onnxruntime' ? 'ONNX Runtime' : runtime === 'onnxruntime-int8' ? 'ONNX Runtime, int8' : runtime.replace(/^tfjs-/, 'TF.js ');
}

function uniqueByHash(photos: PhotoRow[]): PhotoRow[] {
  const seen = new Set<string>();
  return photos.filter((p) => (seen.has(p.hash) ? false : (seen.add(p.hash), true)));
}

