import * as tf from '@tensorflow/tfjs-core';
import type { GpuAdapterInfo } from '../../../shared/api.js';
import { adapterLabel, setUpWebGpu } from './webgpu.js';

export type BackendName = 'webgpu' | 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendChoice {
  /** What we picked, in the order of preference WebGPU (a real adapter), tfjs-node-gpu, tfjs-node, wasm, cpu. */
  name: BackendName;
  /** tf.getBackend() after the choice: 'webgpu', 'tensorflow', 'wasm' or 'cpu'. */
  tfBackend: string;
  /** True on a real GPU (not a software adapter such as SwiftShader): convolutions there are fast enough to fine-tune backbone blocks. */
  gpu: boolean;
  /** Why each better backend was passed over, then why this one was taken. */
  reason: string;
  /** The WebGPU adapter, when the backend is 'webgpu'. */
  adapter?: GpuAdapterInfo;
}

const PREFERENCE: BackendName[] = ['webgpu', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

let chosen: Promise<BackendChoice> | undefined;

/**
 * Picks the fastest TF.js backend this machine can run, once per process.
 * LOOKALIKE_BACKEND=webgpu|wasm|cpu|tensorflow|tensorflow-gpu forces one (tests use it to cover the
 * fallbacks; forced, webgpu also takes a software adapter such as SwiftShader).
 */
export function selectBackend(forced: string | undefined = process.env.LOOKALIKE_BACKEND): Promise<BackendChoice> {
  chosen ??= pickBackend(forced);
  return chosen;
}

async function pickBackend(forced: string | undefined): Promise<BackendChoice> {
  if (forced && !PREFERENCE.includes(forced as BackendName)) {
    throw new Error(`unknown backend "${forced}" (choose one of ${PREFERENCE.join(', ')})`);
  }
  const candidates = forced ? [forced as BackendName] : PREFERENCE;
  const skipped: string[] = [];
  for (const name of candidates) {
    const outcome = name === 'webgpu' ? await tryWebGpu(forced === 'webgpu') : { failure: await tryBackend(name) };
    if (outcome.failure === undefined) {
      const adapter = 'adapter' in outcome ? outcome.adapter : undefined;
      const taken = forced ? 'forced by LOOKALIKE_BACKEND' : 'available';
      const reason = [...skipped, `${name}: ${adapter ? `${taken}, adapter ${adapterLabel(adapter)}` : taken}`].join('; ');
      const gpu = name === 'tensorflow-gpu' || (adapter !== undefined && !adapter.software);
      return { name, tfBackend: tf.getBackend(), gpu, reason, ...(adapter ? { adapter } : {}) };
    }
    skipped.push(`${name}: ${outcome.failure}`);
  }
  throw new Error(`no TF.js backend could start (${skipped.join('; ')})`);
}

/**
 * dawn.node's adapter is installed as navigator.gpu first, then the TF.js backend is imported: it
 * registers nothing when navigator.gpu is missing at evaluation. Chosen on its own, a software
 * adapter is passed over (our CPU paths are faster than SwiftShader); forced, it is taken.
 */
async function tryWebGpu(forced: boolean): Promise<{ failure?: string; adapter?: GpuAdapterInfo }> {
  try {
    const setup = await setUpWebGpu({ needDriverFiles: !forced });
    if (!setup.adapter) return { failure: setup.reason };
    if (setup.adapter.software && !forced) return { failure: `only a software adapter, ${adapterLabel(setup.adapter)}, slower than the CPU` };
    await import('@tensorflow/tfjs-backend-webgpu');
    const failure = await activate('webgpu');
    return failure === undefined ? { adapter: setup.adapter } : { failure };
  } catch (error) {
    return { failure: firstLine(error) };
  }
}

/** Returns undefined on success, else why the backend could not start. */
async function tryBackend(name: Exclude<BackendName, 'webgpu'>): Promise<string | undefined> {
  try {
    switch (name) {
      case 'tensorflow-gpu':
        await importOptional('@tensorflow/tfjs-node-gpu');
        return await activate('tensorflow');
      case 'tensorflow':
        await importOptional('@tensorflow/tfjs-node');
        return await activate('tensorflow');
      case 'wasm':
        await import('@tensorflow/tfjs-backend-wasm');
        return await activate('wasm');
      case 'cpu':
        await import('@tensorflow/tfjs-backend-cpu');
        return await activate('cpu');
    }
  } catch (error) {
    return firstLine(error);
  }
}

async function activate(tfName: string): Promise<string | undefined> {
  if (!tf.findBackendFactory(tfName)) return `backend "${tfName}" did not register`;
  const ok = await tf.setBackend(tfName);
  if (!ok) return `backend "${tfName}" failed to initialise`;
  await tf.ready();
  return undefined;
}

/** Optional packages are imported by a computed name so bundlers and tsc leave them alone. */
async function importOptional(specifier: string): Promise<unknown> {
  try {
    return await import(specifier);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new Error('not installed');
    throw error;
  }
}

function firstLine(error: unknown): string {
  return String(error instanceof Error ? error.message : error).split('\n')[0];
}
