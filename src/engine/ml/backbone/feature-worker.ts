/**
 * One feature-extraction thread: decodes photos with sharp and runs the backbone on them.
 * By default one runs per core, at most two side by side; each has its own backbone instance. A batch is decoded as
 * soon as it arrives, while the backbone still runs on the one before (sharp decodes off this thread).
 * It runs at a lower priority, with the decoding threads (Linux): the engine thread's answers come first.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadBackbone, type Backbone, type BackboneSpec } from './backbone.js';
import { selectBackend } from '../runtime/compute-backend.js';
import { decodeForModel, ImageError } from '../../library/image.js';
import type { FeatureJob, WorkerReply } from './features.js';
import { lowerThreadPriority } from '../../common/thread-priority.js';

const { spec, calibrationPhotos } = workerData as { spec: BackboneSpec; calibrationPhotos: string[] };
const port = parentPort!;

lowerThreadPriority();
const ready = (async () => {
  const backend = await selectBackend();
  const backbone = await loadBackbone(spec, { calibrationPhotos });
  port.postMessage({ type: 'ready', backend: backend.name, runtime: backbone.runtime, runtimeNote: backbone.runtimeNote, dim: backbone.dim } satisfies WorkerReply);
  return backbone;
})();
ready.catch((error: unknown) => port.postMessage({ type: 'fatal', message: (error as Error).message } satisfies WorkerReply));

let previous: Promise<void> = Promise.resolve();

port.on('message', (jobs: FeatureJob[]) => {
  // libvips starts decoding threads as it needs them: the new ones are lowered too.
  const decoding = ready.then((backbone) => decodeAll(jobs, backbone.inputSize)).finally(() => lowerThreadPriority());
  previous = previous.then(async () => {
    const backbone = await ready;
    port.postMessage(...(await embedDecoded(backbone, jobs, await decoding)));
  }).catch(() => undefined); // only a backbone that failed to load gets here, and 'fatal' has said so
});

type Decoded = { job: FeatureJob; pixels: Uint8Array } | { job: FeatureJob; error: string; passing: boolean };

function decodeAll(jobs: FeatureJob[], size: number): Promise<Decoded[]> {
  return Promise.all(
    jobs.map(async (job): Promise<Decoded> => {
      try {
        return { job, pixels: (await decodeForModel(job.absPath, size, job.label)).pixels };
      } catch (error) {
        return { job, error: (error as Error).message, passing: error instanceof ImageError && error.passing };
      }
    }),
  );
}

async function embedDecoded(backbone: Backbone, jobs: FeatureJob[], decoded: Decoded[]): Promise<[WorkerReply, ArrayBuffer[]]> {
  const good = decoded.filter((d): d is { job: FeatureJob; pixels: Uint8Array } => 'pixels' in d);
  try {
    const vectors = await backbone.embed(good.map((d) => d.pixels));
    const reply: WorkerReply = {
      type: 'batch',
      results: [
        ...good.map((d, i) => ({ index: d.job.index, vector: vectors[i] })),
        ...decoded.filter((d): d is { job: FeatureJob; error: string; passing: boolean } => 'error' in d).map((d) => ({ index: d.job.index, error: d.error, passing: d.passing })),
      ],
    };
    return [reply, reply.results.flatMap((r) => ('vector' in r ? [r.vector.buffer as ArrayBuffer] : []))];
  } catch (error) {
    return [{ type: 'batch', results: jobs.map((job) => ({ index: job.index, error: `backbone failed: ${(error as Error).message}` })) }, []];
  }
}
