import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { drawPhoto } from '../../testing/test-photos.js';

const dir = mkdtempSync(join(tmpdir(), 'lookalike-backend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PHOTOS = await Promise.all([1, 2].map((seed) => drawPhoto(join(dir, `${seed}.jpg`), 320, 240, seed)));

interface Features {
  name: string;
  reason: string;
  runtime: string;
  vectors: number[][];
}

/** Runs the built-in backbone in a fresh process on a forced backend (and backbone runtime); returns its choice and features. */
function featuresOn(backend: string, runtime = 'tfjs'): Features {
  const script = `
    const { selectBackend } = await import(${JSON.stringify(new URL('./compute-backend.ts', import.meta.url).href)});
    const { loadBackbone } = await import(${JSON.stringify(new URL('../backbone/backbone.ts', import.meta.url).href)});
    const { decodeForModel } = await import(${JSON.stringify(new URL('../../library/image.ts', import.meta.url).href)});
    const choice = await selectBackend();
    const backbone = await loadBackbone();
    const images = await Promise.all(${JSON.stringify(PHOTOS)}.map(async (f) => (await decodeForModel(f, 224)).pixels));
    const vectors = (await backbone.embed(images)).map((v) => Array.from(v));
    process.stdout.write(JSON.stringify({ name: choice.name, reason: choice.reason, runtime: backbone.runtime, vectors }));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, LOOKALIKE_BACKEND: backend, LOOKALIKE_BACKBONE_RUNTIME: runtime },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out) as Features;
}

function expectSameFeatures(a: Features, b: Features): void {
  for (let i = 0; i < PHOTOS.length; i++) {
    expect(a.vectors[i]).toHaveLength(1792);
    const maxDiff = Math.max(...a.vectors[i].map((v, j) => Math.abs(v - b.vectors[i][j])));
    const scale = Math.max(...a.vectors[i].map(Math.abs));
    expect(maxDiff / scale).toBeLessThan(1e-3);
  }
}

describe('TF.js backend fallbacks', () => {
  it('takes the best backend installed here, and says why each better one was passed over', () => {
    const choice = featuresOn('');
    // npm leaves an optional native package out where its install fails: installed means it can run.
    const installed = (pkg: string) => {
      try {
        createRequire(import.meta.url).resolve(pkg);
        return true;
      } catch {
        return false;
      }
    };
    const expected = installed('@tensorflow/tfjs-node-gpu') ? 'tensorflow-gpu' : installed('@tensorflow/tfjs-node') ? 'tensorflow' : 'wasm';
    if (choice.name === 'webgpu') {
      expect(choice.reason).toMatch(/^webgpu: available, adapter /); // a real GPU outranks every CPU backend
      return;
    }
    expect(choice.name).toBe(expected);
    expect(choice.reason).toMatch(/^webgpu: .+; /);
    const passedOver = ['tensorflow-gpu', 'tensorflow', 'wasm'].slice(0, ['tensorflow-gpu', 'tensorflow', 'wasm'].indexOf(expected));
    for (const name of passedOver) expect(choice.reason).toMatch(new RegExp(`; ${name}: .+; `));
    expect(choice.reason).toMatch(new RegExp(`${expected}: available$`));
  });

  // The plain cpu backend runs MobileNetV2 1.4 slowly: minutes on a busy machine.
  it('gives the same features on the wasm and the plain cpu backend', { timeout: 600_000 }, () => {
    const wasm = featuresOn('wasm');
    const cpu = featuresOn('cpu');
    expect(wasm.name).toBe('wasm');
    expect(cpu.name).toBe('cpu');
    expect(cpu.reason).toContain('forced');
    expect([wasm.runtime, cpu.runtime]).toEqual(['tfjs-wasm', 'tfjs-cpu']);
    expectSameFeatures(wasm, cpu);
  });

  it('gives the same features with the backbone exported to ONNX Runtime, which it prefers over TF.js wasm', () => {
    const onnx = featuresOn('wasm', '');
    expect(onnx.runtime).toBe('onnxruntime');
    expectSameFeatures(featuresOn('wasm'), onnx);
  });

  it('refuses an unknown backend name', () => {
    expect(() => featuresOn('quantum')).toThrow(/unknown backend "quantum"/);
  });
});
