import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { userCacheDir } from '../../common/paths.js';
import { startModuleWorker } from '../../common/worker.js';
import type { Problem } from '../../../shared/api.js';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { describeSpec, type BackboneSpec } from './backbone.js';
import { selectBackend } from '../runtime/compute-backend.js';
import { calibrationFile, calibrationSample } from './int8-calibration.js';
import { expectedRuntime, preferredPrecision, preferredRuntime } from './onnx-backbone.js';
import { MIN_INT8_CALIBRATION_PHOTOS, type BackbonePrecision } from '../../../shared/settings.js';
import type { JobControl } from '../../common/job-control.js';

export interface FeatureJob {
  index: number;
  absPath: string;
  /** The path shown in messages (relative to the library). */
  label: string;
}

export type WorkerReply =
  | { type: 'ready'; backend: string; runtime: string; runtimeNote?: string; dim: number }
  | { type: 'fatal'; message: string }
  | { type: 'batch'; results: Array<{ index: number; vector: Float32Array } | { index: number; error: string; passing?: boolean }> };

export interface ExtractOptions {
  /** Threads; default one per core (up to 2), or one on a GPU. */
  workers?: number;
  /** Photos per backbone call; default 8, or 128 on a GPU. */
  batchSize?: number;
  control?: JobControl;
  /** Called as each batch finishes, in no particular order: store the vectors here so a crash loses little. */
  onFeatures: (items: Array<{ index: number; vector: Float32Array }>) => void;
  /** `passing`: the file could not be read this time (gone, locked, changing); its content may be fine. */
  onProblem?: (problem: Problem, passing: boolean) => void;
  onProgress?: (done: number, total: number) => void;
  /** Once the first worker has its backbone: what runs it, and why not something faster, if so. */
  onRuntime?: (runtime: string, note: string | undefined) => void;
}

export interface ExtractSummary {
  extracted: number;
  failed: number;
  stopped: boolean;
  backend: string | null;
  /** What computed the features, e.g. "onnxruntime" or "tfjs-wasm". */
  runtime: string | null;
}

/** Backbone features for many photos, decoded and embedded on worker threads (by default one per core, at most 2; one on a GPU). */
export async function extractFeatures(spec: BackboneSpec, jobs: FeatureJob[], options: ExtractOptions): Promise<ExtractSummary> {
  const summary: ExtractSummary = { extracted: 0, failed: 0, stopped: false, backend: null, runtime: null };
  if (jobs.length === 0) return summary;
  const onGpu = await backboneOnGpu();
  const batchSize = options.batchSize ?? (onGpu ? GPU_BATCH : 8);
  const defaultThreads = onGpu ? 1 : Math.min(2, availableParallelism());
  const threadCount = Math.max(1, Math.min(options.workers ?? defaultThreads, Math.ceil(jobs.length / batchSize)));
  const batches: FeatureJob[][] = [];
  for (let i = 0; i < jobs.length; i += batchSize) batches.push(jobs.slice(i, i + batchSize));
  let done = 0;

  const handleReply = (batch: FeatureJob[], reply: WorkerReply) => {
    if (reply.type !== 'batch') throw new Error(reply.type === 'fatal' ? reply.message : 'feature worker answered out of turn');
    const good = reply.results.filter((r): r is { index: number; vector: Float32Array } => 'vector' in r && r.vector.every(Number.isFinite));
    for (const r of reply.results) {
      if ('vector' in r && good.includes(r)) continue;
      summary.failed++;
      const label = jobs[r.index].label;
      if ('error' in r) options.onProblem?.({ path: label, reason: stripPath(r.error, label) }, r.passing === true);
      else options.onProblem?.({ path: label, reason: 'the backbone gave no usable features for it (not numbers)' }, false);
    }
    if (good.length) options.onFeatures(good);
    summary.extracted += good.length;
    done += batch.length;
    options.onProgress?.(done, jobs.length);
  };

  // Each worker holds two batches, so it decodes the next while the backbone runs on this one.
  const calibrationPhotos = calibrationSample(jobs.map((job) => job.absPath));
  let announceReady: () => void = () => undefined;
  const firstReady = new Promise<void>((resolve) => (announceReady = resolve));
  const runThread = async (): Promise<void> => {
    const worker = new FeatureWorker(spec, calibrationPhotos);
    const inFlight: FeatureJob[][] = [];
    try {
      const ready = await worker.reply().finally(announceReady);
      if (ready.type === 'fatal') throw new Error(`backbone ${describeSpec(spec)} failed to load: ${ready.message}`);
      if (ready.type === 'ready' && summary.runtime === null) {
        summary.backend = ready.backend;
        summary.runtime = ready.runtime;
        options.onRuntime?.(ready.runtime, ready.runtimeNote);
      }
      for (;;) {
        // Paused: store what the worker already holds, then wait. Stopped: the same, then finish.
        if (inFlight.length === 0 || !options.control?.isPaused) await options.control?.checkpoint();
        if (options.control?.isStopped) summary.stopped = true;
        while (!summary.stopped && !options.control?.isPaused && inFlight.length < 2 && batches.length > 0) {
          const batch = batches.shift()!;
          inFlight.push(batch);
          worker.post(batch);
        }
        const batch = inFlight.shift();
        if (!batch) return;
        handleReply(batch, await worker.reply());
      }
    } finally {
      await worker.terminate();
    }
  };
  // A thread that may calibrate int8 goes first and alone: the others then read its cached calibration.
  const gated = mayCalibrate(spec);
  await Promise.all(Array.from({ length: threadCount }, (_, i) => (i === 0 || !gated ? runThread() : firstReady.then(runThread))));
  return summary;
}

/**
 * Photos per backbone call on a GPU: the built-in backbone ran about 4x more images/s at 128 than at
 * 32 on an H200 through WebGPU. One thread drives the GPU; its decoding still spreads over every core,
 * as sharp decodes on libuv's pool (bin/lookalike.js sizes it to the cores).
 */
const GPU_BATCH = 128;

/** True where the backbone will run on TF.js on a real GPU (WebGPU or tfjs-node-gpu), not on ONNX Runtime on the CPU. */
async function backboneOnGpu(): Promise<boolean> {
  const backend = await selectBackend();
  return backend.gpu && preferredRuntime(backend) === 'tfjs';
}

/** A feature thread and the replies it has sent, in order (each batch is answered once). */
class FeatureWorker {
  private readonly worker: Worker;
  private readonly replies: WorkerReply[] = [];
  private readonly waiting: Array<{ resolve: (reply: WorkerReply) => void; reject: (error: Error) => void }> = [];
  private failure: Error | undefined;

  constructor(spec: BackboneSpec, calibrationPhotos: string[]) {
    this.worker = startWorker(spec, calibrationPhotos);
    this.worker.on('message', (reply: WorkerReply) => {
      const waiter = this.waiting.shift();
      if (waiter) waiter.resolve(reply);
      else this.replies.push(reply);
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`feature worker exited (code ${code})`)));
  }

  post(batch: FeatureJob[]): void {
    this.worker.postMessage(batch);
  }

  reply(): Promise<WorkerReply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

function startWorker(spec: BackboneSpec, calibrationPhotos: string[]): Worker {
  return startModuleWorker(import.meta.url, 'feature-worker', { workerData: { spec, calibrationPhotos } });
}

/**
 * The precision this backbone's features will be computed at here: int8 only for the built-in
 * backbone on ONNX Runtime with int8 asked for, and a calibration cached or `photos` enough to make
 * one (with fewer the backbone falls back to float).
 */
export async function featurePrecision(spec: BackboneSpec, photos: number): Promise<BackbonePrecision> {
  if (spec.kind !== 'builtin' || preferredPrecision() !== 'int8') return 'fp32';
  if (photos < MIN_INT8_CALIBRATION_PHOTOS && !existsSync(calibrationFile(userCacheDir(), BUILTIN_BACKBONE.id))) return 'fp32';
  return (await expectedRuntime(await selectBackend())) === 'onnxruntime' ? 'int8' : 'fp32';
}

/** The precision a feature run was computed at, from the runtime it reported. */
export const precisionOfRuntime = (runtime: string | null): BackbonePrecision => (runtime?.endsWith('-int8') ? 'int8' : 'fp32');

/** Whether loading this backbone may calibrate int8: the built-in backbone, int8 asked for, no calibration cached yet. */
function mayCalibrate(spec: BackboneSpec): boolean {
  return spec.kind === 'builtin' && preferredPrecision() === 'int8' && !existsSync(calibrationFile(userCacheDir(), BUILTIN_BACKBONE.id));
}

/** ImageError messages start with the absolute path; problems carry the library-relative one. */
function stripPath(message: string, label: string): string {
  return message.startsWith(`${label}: `) ? message.slice(label.length + 2) : message;
}
