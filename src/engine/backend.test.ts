import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const FLOWERS = resolve(__dirname, '../../../shared/datasets/flowers17');
const PHOTOS = ['daisy', 'tulip'].map((cls) => join(FLOWERS, cls, readdirSync(join(FLOWERS, cls)).sort()[0]));

/** Runs the built-in backbone in a fresh process on a forced backend; returns its choice and features. */
function featuresOn(backend: string): { name: string; reason: string; vectors: number[][] } {
  const script = `
    const { selectBackend } = await import(${JSON.stringify(new URL('./backend.ts', import.meta.url).href)});
    const { loadBackbone } = await import(${JSON.stringify(new URL('./backbone.ts', import.meta.url).href)});
    const { decodeForModel } = await import(${JSON.stringify(new URL('./image.ts', import.meta.url).href)});
    const choice = await selectBackend();
    const backbone = await loadBackbone();
    const images = await Promise.all(${JSON.stringify(PHOTOS)}.map(async (f) => (await decodeForModel(f, 224)).pixels));
    const vectors = (await backbone.embed(images)).map((v) => Array.from(v));
    process.stdout.write(JSON.stringify({ name: choice.name, reason: choice.reason, vectors }));
  `;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, LOOKALIKE_BACKEND: backend },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out) as { name: string; reason: string; vectors: number[][] };
}

describe('TF.js backend fallbacks', () => {
  it('passes over tfjs-node-gpu and tfjs-node where they are absent and says so', () => {
    const choice = featuresOn('');
    expect(['tensorflow-gpu', 'tensorflow', 'wasm']).toContain(choice.name);
    if (choice.name === 'wasm') expect(choice.reason).toMatch(/tensorflow-gpu: .+; tensorflow: .+; wasm: available/);
  });

  it('gives the same features on the wasm and the plain cpu backend', () => {
    const wasm = featuresOn('wasm');
    const cpu = featuresOn('cpu');
    expect(wasm.name).toBe('wasm');
    expect(cpu.name).toBe('cpu');
    expect(cpu.reason).toContain('forced');
    for (let i = 0; i < PHOTOS.length; i++) {
      const a = wasm.vectors[i];
      const b = cpu.vectors[i];
      expect(a).toHaveLength(1792);
      const maxDiff = Math.max(...a.map((v, j) => Math.abs(v - b[j])));
      const scale = Math.max(...a.map(Math.abs));
      expect(maxDiff / scale).toBeLessThan(1e-3);
    }
  });

  it('refuses an unknown backend name', () => {
    expect(() => featuresOn('quantum')).toThrow(/unknown backend "quantum"/);
  });
});
