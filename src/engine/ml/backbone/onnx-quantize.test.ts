import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel } from '@tensorflow/tfjs-converter';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_OUTPUTS, byteScaling, joinPixels, readBuiltinArtifacts, scalePixels } from './backbone.js';
import { selectBackend } from '../runtime/compute-backend.js';
import { calibrateOnnx, exportBackbone, loadOnnxRuntime, openOnnxRunner, withByteInput, type OnnxFeatureRunner } from './onnx-backbone.js';
import { encodeModel } from '../runtime/onnx-proto.js';
import { activationQuantisation, quantisationPoints, quantiseModel, quantiseWeights, type ActivationRanges } from './onnx-quantize.js';
import { decodeForModel } from '../../library/image.js';
import { drawPhoto } from '../../testing/test-photos.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';

describe('int8 quantisation parameters', () => {
  it('keeps weights stored on a grid exact, channel by channel, and rounds the others to max|w|/127', () => {
    const step = 0.05;
    // Channel 0 fits the grid in int8; channel 1 reaches 200 steps, beyond int8.
    const values = Float32Array.from([-128, -3, 0, 127, -200, 0, 5, 100].map((k) => k * step));
    const { q, scales } = quantiseWeights(values, 2, step);
    expect(scales[0]).toBeCloseTo(step, 7);
    for (let i = 0; i < 4; i++) expect(q[i] * scales[0]).toBeCloseTo(values[i], 6);
    expect(scales[1]).toBeCloseTo((200 * step) / 127, 6);
    for (let i = 4; i < 8; i++) expect(Math.abs(q[i] * scales[1] - values[i])).toBeLessThanOrEqual(scales[1] / 2 + 1e-7);
    // Without a grid, every channel takes its own max|w|/127.
    expect(quantiseWeights(values, 2).scales[0]).toBeCloseTo((128 * step) / 127, 6);
  });

  it('maps a ReLU6 output onto [0, 6] with zero point 0 (what lets ONNX Runtime drop the Clip) and keeps zero exact in a signed range', () => {
    const relu6 = activationQuantisation({ min: 0, max: 6.5 }, 'Clip');
    expect(relu6.zeroPoint).toBe(0);
    expect(Math.fround(255 * relu6.scale)).toBeLessThanOrEqual(6);
    expect(255 * relu6.scale).toBeGreaterThan(5.999);
    const signed = activationQuantisation({ min: -10, max: 30 }, 'Conv');
    expect(signed.scale).toBeCloseTo(40 / 255, 6);
    expect(signed.zeroPoint).toBe(Math.round(10 / signed.scale));
    // A range that never reaches zero is widened to hold it, so zero padding stays exact.
    expect(activationQuantisation({ min: 2, max: 4 }, 'Add').zeroPoint).toBe(0);
  });
});

describe('the int8 built-in backbone', () => {
  expectNoTensorLeaks();
  let graph: Awaited<ReturnType<typeof loadGraphModel>>;
  let artifacts: tf.io.ModelArtifacts;
  let ranges: ActivationRanges;
  let folder: string;
  let photos: Uint8Array[];

  beforeAll(async () => {
    await selectBackend();
    artifacts = await readBuiltinArtifacts();
    graph = await loadGraphModel(tf.io.fromMemory(artifacts));
    folder = mkdtempSync(join(tmpdir(), 'lookalike-int8-'));
    // Drawn photos, so the suite runs on a fresh clone: 12 to calibrate on, 4 others to compare.
    const files = await Promise.all(Array.from({ length: 16 }, (_, i) => drawPhoto(join(folder, `${i}.jpg`), 320, 240, i + 1)));
    photos = await Promise.all(files.map(async (file) => (await decodeForModel(file, 224)).pixels));
    const calibration = photos.slice(0, 12);
    const batches = [0, 4, 8].map((i) => ({ pixels: scalePixels(calibration.slice(i, i + 4), 224, '0,1'), count: 4 }));
    ranges = await calibrateOnnx(graph, artifacts, BUILTIN_OUTPUTS, batches, 224);
  });

  afterAll(() => {
    graph?.dispose();
    rmSync(folder, { recursive: true, force: true });
  });

  it('has a calibrated range for every activation it quantises', () => {
    const points = quantisationPoints(exportBackbone(graph, artifacts, BUILTIN_OUTPUTS));
    // 52 convolutions read 36 distinct tensors plus the residual adds' and the final pool's inputs.
    expect(points.length).toBeGreaterThan(50);
    for (const point of points) {
      expect(ranges[point], point).toBeDefined();
      expect(ranges[point].max, point).toBeGreaterThan(ranges[point].min);
    }
  });

  it('gives features close to the float graph on photos it was not calibrated on, every layer of the multi-scale features', async () => {
    const runners: OnnxFeatureRunner[] = [];
    try {
      runners.push(await openOnnxRunner(graph, artifacts, BUILTIN_OUTPUTS), await openOnnxRunner(graph, artifacts, BUILTIN_OUTPUTS, { int8: ranges }));
      const pixels = scalePixels(photos.slice(12), 224, '0,1');
      const [float, int8] = await Promise.all(runners.map((runner) => runner.runEach(pixels, 4, 224)));
      float.forEach((layer, l) => {
        const width = layer.length / 4;
        for (let i = 0; i < 4; i++) {
          const [a, b] = [layer.subarray(i * width, (i + 1) * width), int8[l].subarray(i * width, (i + 1) * width)];
          expect(a.some((v, j) => v !== b[j]), 'int8 computes its own values').toBe(true);
          // Measured 0.9989 to 0.99998 on these photos (0.9984 mean on flowers17's final pool, bench int8).
          expect(cosine(a, b), `${BUILTIN_OUTPUTS[l]}, photo ${i}`).toBeGreaterThan(0.998);
        }
      });
    } finally {
      for (const runner of runners) await runner.dispose();
    }
  });

  it('takes RGB bytes and scales them in the graph: the very features of floats scaled in JavaScript, float and int8', async () => {
    const runners: OnnxFeatureRunner[] = [];
    try {
      const bytes = { byteInput: byteScaling('0,1') };
      for (const int8 of [undefined, ranges]) runners.push(await openOnnxRunner(graph, artifacts, BUILTIN_OUTPUTS, { int8 }), await openOnnxRunner(graph, artifacts, BUILTIN_OUTPUTS, { int8, ...bytes }));
      const [floats, raw] = [scalePixels(photos.slice(12), 224, '0,1'), joinPixels(photos.slice(12), 224)];
      for (let r = 0; r < 4; r += 2) {
        const [fromFloats, fromBytes] = [await runners[r].runEach(floats, 4, 224), await runners[r + 1].runEach(raw, 4, 224)];
        // Bit for bit, int8 too: its quantised first layer would turn one float ulp into a different value.
        fromFloats.forEach((layer, l) => expect(fromBytes[l], `${r ? 'int8' : 'float'} ${BUILTIN_OUTPUTS[l]}`).toEqual(layer));
      }
      await expect(runners[1].run(floats, 4, 224)).rejects.toThrow(/takes RGB bytes/);
      await expect(runners[0].run(raw, 4, 224)).rejects.toThrow(/takes scaled floats/);
    } finally {
      for (const runner of runners) await runner.dispose();
    }
  });

  it('runs as integer kernels: ONNX Runtime fuses every convolution into QLinearConv, every residual add into QLinearAdd, and drops every ReLU6', async () => {
    const ort = await loadOnnxRuntime();
    const optimized = join(folder, 'optimized.onnx');
    // As the feature threads open it: bytes in, cast and scaled in the graph.
    const model = withByteInput(quantiseModel(exportBackbone(graph, artifacts, BUILTIN_OUTPUTS), ranges), byteScaling('0,1'));
    const session = await ort.InferenceSession.create(encodeModel(model), { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized, intraOpNumThreads: 1 });
    await session.release();
    const text = readFileSync(optimized).toString('latin1');
    const count = (op: string) => text.split(op).length - 1;
    // All 52 convolutions and 10 residual adds run on integers, every ReLU6 is gone into its output's
    // quantised range, and only the three pooled layers are turned back into floats.
    expect(count('QLinearConv')).toBe(52);
    expect(count('QLinearAdd')).toBe(10);
    expect(count('Clip')).toBe(0);
    expect(count('DequantizeLinear')).toBe(3);
  });
});

function cosine(a: Float32Array, b: Float32Array): number {
  let [dot, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) [dot, aa, bb] = [dot + a[i] * b[i], aa + a[i] * a[i], bb + b[i] * b[i]];
  return dot / Math.sqrt(aa * bb);
}
