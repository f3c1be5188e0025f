import * as tf from '@tensorflow/tfjs-core';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendChoice {
  /** What we picked, in the order of preference tfjs-node-gpu, tfjs-node, wasm, cpu. */
  name: BackendName;
  /** tf.getBackend() after the choice: 'tensorflow', 'wasm' or 'cpu'. */
  tfBackend: string;
  /** True where convolution gradients run fast enough to fine-tune backbone blocks. */
  gpu: boolean;
  /** Why each better backend was passed over, then why this one was taken. */
  reason: string;
}

const PREFERENCE: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

let chosen: Promise<BackendChoice> | undefined;

/**
 * Picks the fastest TF.js backend this machine can run, once per process.
 * LOOKALIKE_BACKEND=wasm|cpu|tensorflow|tensorflow-gpu forces one (tests use it to cover the fallbacks).
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
    const failure = await tryBackend(name);
    if (failure === undefined) {
      const reason = [...skipped, forced ? `${name}: forced by LOOKALIKE_BACKEND` : `${name}: available`].join('; ');
      return { name, tfBackend: tf.getBackend(), gpu: name === 'tensorflow-gpu', reason };
    }
    skipped.push(`${name}: ${failure}`);
  }
  throw new Error(`no TF.js backend could start (${skipped.join('; ')})`);
}

/** Returns undefined on success, else why the backend could not start. */
async function tryBackend(name: BackendName): Promise<string | undefined> {
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
