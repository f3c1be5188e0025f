import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBackboneSpec } from './backbone.js';
import { JobControl } from '../../common/job-control.js';
import { extractFeatures, type ExtractOptions, type FeatureJob } from './features.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { selectBackend } from '../runtime/compute-backend.js';

const root = await drawTestLibrary({ classes: ['circles', 'stars'], perClass: 5, damaged: true });
const JOBS: FeatureJob[] = readdirSync(root)
  .flatMap((cls) => readdirSync(join(root, cls)).sort().map((file) => `${cls}/${file}`))
  .map((label, index) => ({ index, label, absPath: join(root, label) }));
const spec = parseBackboneSpec('');

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs the pool with the backbone on the given runtime (workers inherit the environment they start with). */
async function extract(runtime: string, options: Partial<ExtractOptions> = {}) {
  const vectors = new Map<number, Float32Array>();
  const problems: string[] = [];
  const progress: number[] = [];
  const before = process.env.LOOKALIKE_BACKBONE_RUNTIME;
  process.env.LOOKALIKE_BACKBONE_RUNTIME = runtime;
  try {
    const summary = await extractFeatures(spec, JOBS, {
      workers: 2,
      batchSize: 2,
      onFeatures: (items) => items.forEach(({ index, vector }) => vectors.set(index, vector)),
      onProblem: (p) => problems.push(`${p.path}: ${p.reason}`),
      onProgress: (done) => progress.push(done),
      ...options,
    });
    return { summary, vectors, problems, progress };
  } finally {
    if (before === undefined) delete process.env.LOOKALIKE_BACKBONE_RUNTIME;
    else process.env.LOOKALIKE_BACKBONE_RUNTIME = before;
  }
}

describe('feature extraction on worker threads', () => {
  it('gives every photo its features with two batches in flight per worker, on ONNX Runtime and on TF.js alike, and names the file it could not read', async () => {
    const onnx = await extract('onnxruntime');
    const tfjs = await extract('tfjs');
    expect(onnx.summary).toMatchObject({ extracted: 10, failed: 1, stopped: false, runtime: 'onnxruntime' });
    // The workers choose the TF.js backend as this process does (wasm here; tfjs-node where it is installed).
    const { tfBackend } = await selectBackend();
    expect(tfjs.summary).toMatchObject({ extracted: 10, failed: 1, stopped: false, runtime: `tfjs-${tfBackend}` });
    const damaged = JOBS.find((j) => j.label.endsWith('damaged.jpg'))!;
    for (const run of [onnx, tfjs]) {
      expect(run.problems).toHaveLength(1);
      expect(run.problems[0]).toMatch(new RegExp(`^${damaged.label}: \\S`));
      expect([...run.vectors.keys()].sort((a, b) => a - b)).toEqual(JOBS.filter((j) => j !== damaged).map((j) => j.index));
      expect(run.progress.at(-1)).toBe(JOBS.length);
    }
    for (const [index, vector] of onnx.vectors) {
      const other = tfjs.vectors.get(index)!;
      const scale = Math.max(...vector.map(Math.abs));
      expect(Math.max(...vector.map((v, i) => Math.abs(v - other[i]))) / scale).toBeLessThan(1e-3);
    }
  });

  it('pauses between batches, storing the batches a worker already holds, and resumes to the end', async () => {
    const control = new JobControl();
    const progress: number[] = [];
    const running = extract('onnxruntime', {
      workers: 1,
      batchSize: 1,
      control,
      onProgress: (done) => {
        progress.push(done);
        if (done === 1) control.pause();
      },
    });
    // Held: the thread waits with nothing in flight, so nothing more can come until resume.
    await control.held();
    expect(progress).toEqual([1, 2]); // the two batches in flight when pause came, and nothing more
    control.resume();
    const run = await running;
    expect(run.summary).toMatchObject({ stopped: false, extracted: 10, failed: 1 });
  });

  it('stops between batches, keeping every batch already handed to a worker', async () => {
    const control = new JobControl();
    const run = await extract('onnxruntime', {
      workers: 1,
      batchSize: 1,
      control,
      onProgress: (done) => {
        if (done === 1) control.stop();
      },
    });
    expect(run.summary.stopped).toBe(true);
    // The batch being embedded when stop came and the one decoding behind it both finish.
    expect(run.summary.extracted + run.summary.failed).toBe(2);
    expect(run.vectors.size + run.problems.length).toBe(2);
  });
});
