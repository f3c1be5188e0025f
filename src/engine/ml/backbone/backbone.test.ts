import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuiltinScale } from '../../../shared/builtin-backbone.js';
import { loadBackbone, parseBackboneSpec, trainingBackboneSpec, type BackboneSpec } from './backbone.js';
import { selectBackend } from '../runtime/compute-backend.js';
import { squaredDistance } from '../training/retrieval-metrics.js';
import { decodeForModel } from '../../library/image.js';
import { normalizeVector } from '../training/head.js';
import { FLOWERS17, MOBILENET_035, describeWithShared, drawPhoto } from '../../testing/test-photos.js';
import { TINY_FEATURE_DIM, TINY_FEATURE_LAYER, writeTinyLayersModel } from '../../testing/tiny-model.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';

const SHARED_MODEL = MOBILENET_035;
const firstPhotos = (cls: string, n: number) =>
  existsSync(FLOWERS17) ? readdirSync(join(FLOWERS17, cls)).sort().slice(0, n).map((f) => join(FLOWERS17, cls, f)) : [];
const SUNFLOWER = firstPhotos('sunflower', 4);
const SNOWDROP = firstPhotos('snowdrop', 4);

async function features(spec: Parameters<typeof loadBackbone>[0], files: string[]) {
  const backbone = await loadBackbone(spec);
  const images = await Promise.all(files.map(async (f) => (await decodeForModel(f, backbone.inputSize)).pixels));
  const before = tf.memory().numTensors;
  const vectors = (await backbone.embed(images)).map(normalizeVector);
  const leaked = tf.memory().numTensors - before;
  backbone.dispose();
  return { backbone, vectors, leaked };
}

/** Mean distance within each class is below the mean distance across the two classes. */
function separates(vectors: Float32Array[], classOf: (i: number) => number) {
  let within = 0;
  let across = 0;
  let nWithin = 0;
  let nAcross = 0;
  for (let i = 0; i < vectors.length; i++) {
    for (let j = i + 1; j < vectors.length; j++) {
      const d = Math.sqrt(squaredDistance(vectors[i], vectors[j]));
      if (classOf(i) === classOf(j)) {
        within += d;
        nWithin++;
      } else {
        across += d;
        nAcross++;
      }
    }
  }
  return { within: within / nWithin, across: across / nAcross };
}

/** The built-in graph model as a plain TF.js model folder (model.json + one weights file). */
async function writeBuiltinAsFolder(): Promise<string> {
  const { MobileNetV2MidModel } = (await import('nsfwjs/models/mobilenet_v2_mid')) as unknown as {
    MobileNetV2MidModel: { modelJson: () => Promise<unknown>; weightBundles: Array<() => Promise<unknown>> };
  };
  const unwrap = (m: unknown) => ((m as { default?: unknown }).default ?? m) as never;
  const modelJson = unwrap(await MobileNetV2MidModel.modelJson()) as { weightsManifest: Array<{ paths: string[] }> };
  const shards = await Promise.all(MobileNetV2MidModel.weightBundles.map(async (load) => Buffer.from(unwrap(await load()) as string, 'base64')));
  const folder = mkdtempSync(join(tmpdir(), 'lookalike-graph-'));
  writeFileSync(join(folder, 'weights.bin'), Buffer.concat(shards));
  const manifest = [{ ...modelJson.weightsManifest[0], paths: ['weights.bin'], weights: modelJson.weightsManifest.flatMap((g) => (g as unknown as { weights: unknown[] }).weights) }];
  writeFileSync(join(folder, 'model.json'), JSON.stringify({ ...modelJson, weightsManifest: manifest }));
  return folder;
}

expectNoTensorLeaks();

describe('backbones on photos drawn here and a model built here', () => {
  let dir: string;
  let tiny: string;
  const drawn: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lookalike-backbone-'));
    for (const seed of [1, 2]) drawn.push(await drawPhoto(join(dir, `${seed}.jpg`), 300, 200, seed));
    tiny = await writeTinyLayersModel();
  });
  afterAll(() => {
    // Setup may have failed part-way: remove only what was made.
    for (const folder of [dir, tiny]) if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('runs on the fallback backend it picked and says why', async () => {
    const choice = await selectBackend();
    expect(['wasm', 'cpu', 'tensorflow', 'tensorflow-gpu']).toContain(choice.name);
    expect(choice.reason).toContain(choice.name);
  });

  it('loads a user-supplied TF.js layers model folder, truncated at a named inner layer and pooled, without leaking tensors', async () => {
    const { backbone, vectors, leaked } = await features(parseBackboneSpec(`${tiny}#${TINY_FEATURE_LAYER}@-1,1`), drawn);
    expect(backbone.dim).toBe(TINY_FEATURE_DIM);
    expect(backbone.runtime).toMatch(/^tfjs-/);
    expect(vectors).toHaveLength(2);
    expect(vectors.every((v) => v.length === TINY_FEATURE_DIM && v.every(Number.isFinite))).toBe(true);
    expect(leaked).toBe(0);
    // Untruncated, the same folder gives the model's own output (3 logits).
    expect((await features(parseBackboneSpec(tiny), drawn)).backbone.dim).toBe(3);
  });

  it('runs a graph the ONNX exporter cannot express on TF.js instead, and says why', async () => {
    const folder = await writeBuiltinAsFolder();
    try {
      // The classifier's output node sits behind a Softmax, which the exporter does not know.
      const spec = parseBackboneSpec(`${folder}#Identity@0,1`);
      const { backbone, vectors } = await features(spec, drawn);
      expect(backbone.runtime).toMatch(/^tfjs-/);
      expect(backbone.runtimeNote).toMatch(/ONNX Runtime not used: .*op Softmax is not exported/);
      expect(backbone.dim).toBe(5);
      expect(vectors).toHaveLength(2);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('multi-scale built-in features: blocks 10 and 13 and the final pool, each of unit length, the same on ONNX Runtime and on TF.js', async () => {
    const spec = trainingBackboneSpec({ backbone: 'nsfwjs-mobilenetv2-1.4', features: 'multi-scale' });
    expect(spec).toEqual({ kind: 'builtin', id: 'nsfwjs-mobilenetv2-1.4', scales: ['block10-expand', 'block13-expand'] });
    const onRuntime = async (runtime: string, on: BackboneSpec) => {
      const before = process.env.LOOKALIKE_BACKBONE_RUNTIME;
      process.env.LOOKALIKE_BACKBONE_RUNTIME = runtime;
      try {
        const backbone = await loadBackbone(on);
        const images = await Promise.all(drawn.map(async (f) => (await decodeForModel(f, backbone.inputSize)).pixels));
        const tensors = tf.memory().numTensors;
        const vectors = await backbone.embed(images);
        expect(tf.memory().numTensors).toBe(tensors);
        backbone.dispose();
        return { backbone, vectors };
      } finally {
        if (before === undefined) delete process.env.LOOKALIKE_BACKBONE_RUNTIME;
        else process.env.LOOKALIKE_BACKBONE_RUNTIME = before;
      }
    };
    const onnx = await onRuntime('onnxruntime', spec);
    const tfjs = await onRuntime('tfjs', spec);
    const plain = await onRuntime('onnxruntime', parseBackboneSpec(''));
    expect(onnx.backbone.runtime).toBe('onnxruntime');
    expect(tfjs.backbone.runtime).toMatch(/^tfjs-/);
    // A key of its own, so the features of each layer set are cached apart.
    expect(onnx.backbone.key).toBe('nsfwjs-mobilenetv2-1.4+block10-expand+block13-expand');
    expect(onnx.backbone.dim).toBe(528 + 816 + 1792);
    expect(tfjs.backbone.dim).toBe(528 + 816 + 1792);
    const norm = (v: Float32Array) => Math.hypot(...v);
    for (const [i, vector] of onnx.vectors.entries()) {
      expect(vector).toHaveLength(3136);
      expect(norm(vector.subarray(0, 528))).toBeCloseTo(1, 5);
      expect(norm(vector.subarray(528, 1344))).toBeCloseTo(1, 5);
      expect(norm(vector.subarray(1344))).toBeCloseTo(1, 5);
      // The final part is the one-output backbone's features, normalised: the extra output changes nothing else.
      const final = normalizeVector(plain.vectors[i]);
      expect(Math.max(...vector.subarray(1344).map((v, j) => Math.abs(v - final[j])))).toBeLessThan(1e-5);
      const other = tfjs.vectors[i];
      expect(Math.max(...vector.map((v, j) => Math.abs(v - other[j])))).toBeLessThan(1e-3);
    }
    // The two drawn photos differ at the earlier scales too (they are not constants).
    for (const [from, to] of [[0, 528], [528, 1344]]) {
      expect(Math.max(...onnx.vectors[0].subarray(from, to).map((v, j) => Math.abs(v - onnx.vectors[1][from + j])))).toBeGreaterThan(1e-3);
    }
    await expect(loadBackbone({ kind: 'builtin', id: 'nsfwjs-mobilenetv2-1.4', scales: ['block99' as BuiltinScale] })).rejects.toThrow(/no layer "block99"/);
  });

  it('refuses a folder without a model and a layer that does not exist, naming them', async () => {
    await expect(loadBackbone(parseBackboneSpec('/nonexistent/model-folder'))).rejects.toThrow(/nonexistent\/model-folder\/model.json: cannot read/);
    await expect(loadBackbone(parseBackboneSpec(`${tiny}#no_such_layer@-1,1`))).rejects.toThrow(/no layer named "no_such_layer"/);
    expect(() => parseBackboneSpec(`${tiny}#out_relu@0,2`)).toThrow(/input range/);
  });
});

describeWithShared([FLOWERS17, SHARED_MODEL], 'backbones on real photos', () => {
  it('finds the photos the test needs', () => {
    for (const file of [...SUNFLOWER, ...SNOWDROP]) expect(existsSync(file), file).toBe(true);
  });

  it('built-in MobileNetV2 1.4 from nsfwjs gives 1792-d features that tell two flowers apart, without leaking tensors', async () => {
    const { backbone, vectors, leaked } = await features(undefined, [...SUNFLOWER, ...SNOWDROP]);
    expect(backbone.dim).toBe(1792);
    expect(backbone.key).toBe('nsfwjs-mobilenetv2-1.4');
    expect(vectors).toHaveLength(8);
    expect(vectors.every((v) => v.length === 1792 && v.every(Number.isFinite))).toBe(true);
    const { within, across } = separates(vectors, (i) => (i < 4 ? 0 : 1));
    expect(within).toBeLessThan(across);
    expect(leaked).toBe(0);
  });

  it('loads a user-supplied TF.js layers model folder, truncated at a named inner layer and pooled', async () => {
    const spec = parseBackboneSpec(`${SHARED_MODEL}#out_relu@-1,1`);
    const { backbone, vectors, leaked } = await features(spec, [...SUNFLOWER, ...SNOWDROP]);
    expect(backbone.dim).toBe(1280);
    const { within, across } = separates(vectors, (i) => (i < 4 ? 0 : 1));
    expect(within).toBeLessThan(across);
    expect(leaked).toBe(0);
  });
});
