import { describe, expect, it } from 'vitest';
import { graphManifest, readGraphModelWeights } from './network-export.js';

/** A graph model's model.json with these weights, all float32, and their bytes (values 0, 1, 2, …). */
function graphModel(weights: Array<{ name: string; shape: unknown }>, bytes: number) {
  return {
    modelJson: { format: 'graph-model', weightsManifest: [{ paths: ['weights.bin'], weights: weights.map((w) => ({ ...w, dtype: 'float32' })) }] },
    bytes: Buffer.from(Float32Array.from({ length: bytes / 4 }, (_, i) => i).buffer),
  };
}

describe('reading an exported graph model’s trained weights back', () => {
  it('reads the named weights in their shapes, the size known from the manifest before the file is read', () => {
    const { modelJson, bytes } = graphModel([{ name: 'a', shape: [2, 3] }, { name: 'b', shape: [4] }], 40);
    expect(graphManifest(modelJson).bytes).toBe(40);
    const read = readGraphModelWeights(modelJson, bytes, ['b']);
    expect(read.get('b')).toEqual({ shape: [4], values: Float32Array.of(6, 7, 8, 9) });
  });

  it('refuses a negative or fractional shape, naming the weight', () => {
    for (const shape of [[-2, -3], [2.5, 2], 'big']) {
      const { modelJson, bytes } = graphModel([{ name: 'block/kernel', shape }], 24);
      expect(() => graphManifest(modelJson)).toThrow(`weight block/kernel has shape ${JSON.stringify(shape)}; a shape is a list of whole non-negative numbers`);
      expect(() => readGraphModelWeights(modelJson, bytes, ['block/kernel'])).toThrow(/weight block\/kernel has shape/);
    }
  });

  it('refuses a trained weight holding NaN or an infinity, naming it', () => {
    const { modelJson, bytes } = graphModel([{ name: 'block/kernel', shape: [2, 2] }], 16);
    bytes.writeFloatLE(Number.NaN, 8);
    expect(() => readGraphModelWeights(modelJson, bytes, ['block/kernel'])).toThrow("weight block/kernel holds NaN at position 2; a model's weights must be finite numbers");
    bytes.writeFloatLE(Number.NEGATIVE_INFINITY, 8);
    expect(() => readGraphModelWeights(modelJson, bytes, ['block/kernel'])).toThrow(/holds -Infinity at position 2/);
  });
});
