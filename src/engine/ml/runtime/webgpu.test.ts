import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, describe, expect, it } from 'vitest';
import { loadBackbone } from '../backbone/backbone.js';
import { selectBackend } from './compute-backend.js';
import { trainHead } from '../training/trainer.js';
import { setUpWebGpu } from './webgpu.js';
import { decodeForModel } from '../../library/image.js';

// No GPU here: Debian's chromium ships SwiftShader's Vulkan driver, a CPU implementation Dawn accepts.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

const setup = await setUpWebGpu();
if (!setup.adapter) console.warn(`WebGPU tests skipped: ${setup.reason}`);

/** Runs selectBackend() in a fresh process (the choice is made once per process) with these variables. */
function chooseInChild(env: Record<string, string>): { name: string; reason: string; adapter?: { software: boolean } } {
  const script = `
    const { selectBackend } = await import(${JSON.stringify(new URL('./compute-backend.ts', import.meta.url).href)});
    const choice = await selectBackend().catch((error) => ({ name: 'none', reason: error.message }));
    process.stdout.write(JSON.stringify(choice));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return JSON.parse(out) as { name: string; reason: string };
}

/** Seeded values in [-1, 1): the same inputs on both backends. */
function values(n: number, seed: number): Float32Array {
  let state = seed;
  return Float32Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return (state / 2 ** 31) * 2 - 1;
  });
}

/** A matMul, a conv, a stride-2 depthwise conv and their gradients, read back as plain arrays. */
async function smallOps(): Promise<Float32Array[]> {
  const a = tf.tensor2d(values(33 * 65, 1), [33, 65]);
  const b = tf.tensor2d(values(65 * 17, 2), [65, 17]);
  const x = tf.tensor4d(values(2 * 15 * 15 * 8, 3), [2, 15, 15, 8]);
  const conv = tf.tensor4d(values(3 * 3 * 8 * 12, 4), [3, 3, 8, 12]);
  const depthwise = tf.tensor4d(values(3 * 3 * 8, 5), [3, 3, 8, 1]);
  const outputs = tf.tidy(() => {
    const convLoss = (xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.square(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, 'same')));
    const depthwiseLoss = (xx: tf.Tensor, ww: tf.Tensor) => tf.sum(tf.square(tf.depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 2, 'same')));
    return [
      tf.matMul(a, b),
      tf.conv2d(x, conv, 1, 'same'),
      ...tf.grads(convLoss)([x, conv]),
      tf.depthwiseConv2d(x, depthwise, 2, 'same'),
      ...tf.grads(depthwiseLoss)([x, depthwise]),
    ];
  });
  const read = await Promise.all(outputs.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([a, b, x, conv, depthwise, ...outputs]);
  return read;
}

function relativeError(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / scale;
}

/** Temp folders the tests made, removed once they are done. */
const made: string[] = [];
const tempFolder = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** Two 224x224 JPEGs with texture and shapes, decoded by sharp as the app decodes photos. */
async function makePhotos(): Promise<string[]> {
  const dir = tempFolder('lookalike-webgpu-');
  const shapes = [
    '<circle cx="120" cy="110" r="70" fill="#e0b020"/><rect x="20" y="150" width="190" height="50" fill="#2a7a30"/>',
    '<polygon points="30,200 120,20 210,200" fill="#6040c0"/><circle cx="60" cy="60" r="30" fill="#f0f0f0"/>',
  ];
  return Promise.all(
    shapes.map(async (svg, i) => {
      const file = join(dir, `photo-${i}.jpg`);
      const noise = await sharp({ create: { width: 240, height: 240, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 110 + 30 * i, sigma: 40 } } })
        .png()
        .toBuffer();
      const overlay = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240">${svg}</svg>`);
      await sharp(noise).composite([{ input: overlay, blend: 'over' }]).jpeg({ quality: 90 }).toFile(file);
      return file;
    }),
  );
}

describe.skipIf(!setup.adapter)('WebGPU backend (dawn.node)', () => {
  const runtimeBefore = process.env.LOOKALIKE_BACKBONE_RUNTIME;
  afterAll(() => {
    if (runtimeBefore === undefined) delete process.env.LOOKALIKE_BACKBONE_RUNTIME;
    else process.env.LOOKALIKE_BACKBONE_RUNTIME = runtimeBefore;
  });

  it('is the backend when forced, software adapter included, and reports the adapter', async () => {
    const choice = await selectBackend('webgpu');
    expect(choice.name).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(choice.adapter).toEqual(setup.adapter);
    expect(choice.adapter!.vendor).not.toBe('');
    expect(choice.reason).toBe(`webgpu: forced by LOOKALIKE_BACKEND, adapter ${choice.adapter!.vendor} ${choice.adapter!.architecture} (${choice.adapter!.description})`);
    expect(choice.gpu).toBe(!choice.adapter!.software);
  });

  it('computes a matMul, convolutions and their gradients as the cpu backend does, leaking no tensor', async () => {
    await selectBackend('webgpu');
    const before = tf.memory().numTensors;
    const onGpu = await smallOps();
    expect(tf.memory().numTensors).toBe(before);
    await tf.setBackend('cpu');
    try {
      const onCpu = await smallOps();
      expect(onGpu).toHaveLength(7);
      onGpu.forEach((result, i) => expect(relativeError(result, onCpu[i]), `output ${i}`).toBeLessThan(1e-4));
    } finally {
      await tf.setBackend('webgpu');
    }
  });

  it('runs the built-in backbone on TF.js WebGPU with the features of the CPU path (within 1e-3)', { timeout: 900_000 }, async () => {
    await selectBackend('webgpu');
    const photos = await Promise.all((await makePhotos()).map(async (file) => (await decodeForModel(file, 224)).pixels));
    process.env.LOOKALIKE_BACKBONE_RUNTIME = 'tfjs';
    const onGpu = await loadBackbone();
    expect(onGpu.runtime).toBe('tfjs-webgpu');
    const before = tf.memory().numTensors;
    // One photo a call: SwiftShader compiles a shader per op and shape, and the load's probe ran batch 1.
    const gpuFeatures = [];
    for (const photo of photos) gpuFeatures.push(...(await onGpu.embed([photo])));
    expect(tf.memory().numTensors).toBe(before);
    onGpu.dispose();

    // The CPU path: ONNX Runtime where installed (the default), else TF.js on the cpu backend.
    process.env.LOOKALIKE_BACKBONE_RUNTIME = 'onnxruntime';
    const reference = await loadBackbone().catch(async () => {
      await tf.setBackend('cpu');
      process.env.LOOKALIKE_BACKBONE_RUNTIME = 'tfjs';
      return loadBackbone();
    });
    const cpuFeatures = await reference.embed(photos);
    reference.dispose();
    await tf.setBackend('webgpu');
    expect(gpuFeatures.map((f) => f.length)).toEqual([1792, 1792]);
    gpuFeatures.forEach((features, i) => expect(relativeError(features, cpuFeatures[i]), `photo ${i}`).toBeLessThan(1e-3));
    // The two photos differ: the comparison is not between two zero vectors.
    expect(relativeError(cpuFeatures[0], cpuFeatures[1])).toBeGreaterThan(0.1);
  });

  it('trains the head, checkpoints and embeds on it (all read back asynchronously: WebGPU in Node has no synchronous read)', { timeout: 600_000 }, async () => {
    await selectBackend('webgpu');
    const vectors = Array.from({ length: 12 }, (_, i) => values(16, 100 + i));
    const classIds = vectors.map((_, i) => i % 3);
    const data = { train: { vectors, classIds }, validation: { vectors: vectors.slice(0, 3), classIds: classIds.slice(0, 3) } };
    const run = async () => {
      const before = tf.memory().numTensors;
      const checkpoints: Buffer[] = [];
      const outcome = await trainHead(
        data,
        { inputDim: 16, dim: 4, hidden: 0, normalize: true },
        { epochs: 1, batchSize: 4, learningRate: 0.01, gap: 1, seed: 1, tripletsPerEpoch: 8, k: 2 },
        { onEpoch: async (epoch) => void checkpoints.push(await epoch.checkpoint()) },
      );
      const [embedded] = await outcome.head.embed([vectors[0]]);
      outcome.head.dispose();
      return { outcome, checkpoint: checkpoints[0], embedded, left: tf.memory().numTensors - before };
    };
    const onGpu = await run();
    expect(onGpu.outcome.epochsDone).toBe(1);
    expect(Number.isFinite(onGpu.outcome.finalLoss)).toBe(true);
    expect(Math.hypot(...onGpu.embedded)).toBeCloseTo(1, 4);
    await tf.setBackend('cpu');
    try {
      const onCpu = await run();
      // The same run on the cpu backend: the same loss and stored weights, and no tensor more left over.
      expect(onGpu.outcome.finalLoss).toBeCloseTo(onCpu.outcome.finalLoss!, 4);
      expect(onGpu.checkpoint.length).toBe(onCpu.checkpoint.length);
      expect(onGpu.left).toBe(onCpu.left);
    } finally {
      await tf.setBackend('webgpu');
    }
  });

  it('is chosen on its own only for a real GPU: a software adapter is passed over, with the reason', () => {
    const choice = chooseInChild({ LOOKALIKE_BACKEND: '' });
    if (setup.adapter!.software) {
      expect(choice.name).not.toBe('webgpu');
      expect(choice.reason).toMatch(/^webgpu: only a software adapter, .+, slower than the CPU; tensorflow-gpu: /);
    } else {
      expect(choice.name).toBe('webgpu');
      expect(choice.adapter?.software).toBe(false);
    }
  });
});

describe('WebGPU without a driver', () => {
  const noDrivers = () => {
    const empty = tempFolder('lookalike-no-vulkan-');
    return { VK_ICD_FILENAMES: '', VK_DRIVER_FILES: '', HOME: empty, XDG_CONFIG_DIRS: empty, XDG_DATA_HOME: empty, XDG_DATA_DIRS: empty };
  };

  it('passes over WebGPU to the next backend and says why', () => {
    const choice = chooseInChild({ ...noDrivers(), LOOKALIKE_BACKEND: '' });
    expect(choice.name).not.toBe('webgpu');
    // Driver manifests in /etc/vulkan/icd.d cannot be hidden from a test; then Dawn itself is asked.
    expect(choice.reason).toMatch(/^webgpu: (no Vulkan driver installed|only a software adapter|dawn\.node found no adapter)/);
  });

  it('refuses a forced webgpu that finds no adapter, naming the reason', () => {
    const choice = chooseInChild({ ...noDrivers(), VK_ICD_FILENAMES: join(tmpdir(), 'no-such-icd.json'), LOOKALIKE_BACKEND: 'webgpu' });
    expect(choice.name).toBe('none');
    expect(choice.reason).toMatch(/^no TF\.js backend could start \(webgpu: dawn\.node found no adapter/);
  });
});
