import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backend.js';
import { EmbeddingHead, normalizeVector, packTensors, unpackTensors } from './model.js';

beforeAll(async () => {
  await selectBackend();
});

describe('embedding head', () => {
  const config = { inputDim: 6, dim: 3, hidden: 0, normalize: true };

  it('maps features to unit-length embeddings of the configured size', () => {
    const head = EmbeddingHead.create(config, 1);
    const out = head.embed([Float32Array.from([1, 2, 3, 4, 5, 6]), Float32Array.from([0, 1, 0, 1, 0, 1])]);
    expect(out).toHaveLength(2);
    for (const v of out) {
      expect(v).toHaveLength(3);
      expect(Math.hypot(...v)).toBeCloseTo(1, 5);
    }
    head.dispose();
  });

  it('is one function: the same input gives the same embedding (shared weights across branches)', () => {
    const head = EmbeddingHead.create({ ...config, hidden: 4 }, 2);
    const x = Float32Array.from([0.3, -0.2, 0.9, 0.1, 0, 0.5]);
    const [a, b] = head.embed([x, x]);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(head.variables).toHaveLength(4);
    head.dispose();
  });

  it('round-trips its weights through the stored blob, and refuses weights of the wrong shape', () => {
    const head = EmbeddingHead.create(config, 3);
    const blob = packTensors(head.namedWeights());
    const restored = EmbeddingHead.fromWeights(config, unpackTensors(blob));
    const x = [Float32Array.from([1, 0, 0, 0, 0, 1])];
    expect(Array.from(restored.embed(x)[0])).toEqual(Array.from(head.embed(x)[0]));
    expect(() => EmbeddingHead.fromWeights({ ...config, dim: 4 }, unpackTensors(blob))).toThrow(/head_w0 has shape 6x3, expected 6x4/);
    head.dispose();
    restored.dispose();
  });

  it('refuses a bad configuration', () => {
    expect(() => EmbeddingHead.create({ ...config, dim: 0 }, 1)).toThrow(/dim must be a positive whole number/);
    expect(() => EmbeddingHead.create({ ...config, hidden: -1 }, 1)).toThrow(/hidden must be 0 or a positive/);
  });

  it('normalises plain vectors and leaves the zero vector at zero', () => {
    expect(Array.from(normalizeVector(Float32Array.from([3, 4])))).toEqual([0.6000000238418579, 0.800000011920929]);
    expect(Array.from(normalizeVector(new Float32Array(2)))).toEqual([0, 0]);
  });
});
