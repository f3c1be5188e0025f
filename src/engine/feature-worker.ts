/**
 * One feature-extraction thread: decodes photos with sharp and runs the backbone on them.
 * Several run side by side, one per core; each has its own TF.js backend instance.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadBackbone, type BackboneSpec } from './backbone.js';
import { selectBackend } from './backend.js';
import { decodeForModel } from './image.js';
import type { FeatureJob, WorkerReply } from './features.js';

const { spec } = workerData as { spec: BackboneSpec };
const port = parentPort!;

const ready = (async () => {
  const backend = await selectBackend();
  const backbone = await loadBackbone(spec);
  port.postMessage({ type: 'ready', backend: backend.name, dim: backbone.dim } satisfies WorkerReply);
  return backbone;
})();
ready.catch((error: unknown) => port.postMessage({ type: 'fatal', message: (error as Error).message } satisfies WorkerReply));

port.on('message', async (jobs: FeatureJob[]) => {
  const backbone = await ready;
  const decoded = await Promise.all(
    jobs.map(async (job) => {
      try {
        return { job, pixels: (await decodeForModel(job.absPath, backbone.inputSize, job.label)).pixels };
      } catch (error) {
        return { job, error: (error as Error).message };
      }
    }),
  );
  const good = decoded.filter((d): d is { job: FeatureJob; pixels: Uint8Array } => 'pixels' in d);
  try {
    const vectors = await backbone.embed(good.map((d) => d.pixels));
    const reply: WorkerReply = {
      type: 'batch',
      results: [
        ...good.map((d, i) => ({ index: d.job.index, vector: vectors[i] })),
        ...decoded.filter((d): d is { job: FeatureJob; error: string } => 'error' in d).map((d) => ({ index: d.job.index, error: d.error })),
      ],
    };
    port.postMessage(reply, reply.results.flatMap((r) => ('vector' in r ? [r.vector.buffer as ArrayBuffer] : [])));
  } catch (error) {
    port.postMessage({ type: 'batch', results: jobs.map((job) => ({ index: job.index, error: `backbone failed: ${(error as Error).message}` })) } satisfies WorkerReply);
  }
});
