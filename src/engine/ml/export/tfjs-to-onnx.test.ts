import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportGraphToOnnx, UnsupportedGraphError, type TfNode, type TfWeight } from './tfjs-to-onnx.js';
import { loadOnnxRuntime, type OnnxTensor } from '../backbone/onnx-backbone.js';
import { encodeModel } from '../runtime/onnx-proto.js';
import { createRng } from '../../common/rng.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const ints = (...values: number[]) => ({ list: { i: values.map(String) } });
const conv = (name: string, op: string, inputs: string[], strides: number, padding: string, fused: string[]): TfNode => ({
  name,
  op,
  input: inputs,
  attr: { strides: ints(1, strides, strides, 1), dilations: ints(1, 1, 1, 1), padding: { s: b64(padding) }, data_format: { s: b64('NHWC') }, fused_ops: { list: { s: fused.map(b64) } } },
});

/**
 * A small graph with every layout trap the exporter handles: odd sizes (SAME pads unevenly at
 * stride 2), a non-square kernel, a depthwise multiplier of 2, per-channel constants, a residual add.
 */
const NODES: TfNode[] = [
  { name: 'input', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '-1' }, { size: '9' }, { size: '11' }, { size: '3' }] } } } as never },
  { name: 'scale', op: 'Const' },
  { name: 'mean', op: 'Const' },
  { name: 'scaled', op: 'Mul', input: ['input', 'scale'] },
  { name: 'centred', op: 'Sub', input: ['scaled', 'mean'] },
  { name: 'w1', op: 'Const' },
  { name: 'b1', op: 'Const' },
  conv('stem', '_FusedConv2D', ['centred', 'w1', 'b1'], 2, 'SAME', ['BiasAdd', 'Relu6']),
  { name: 'w2', op: 'Const' },
  { name: 'b2', op: 'Const' },
  conv('depthwise', 'FusedDepthwiseConv2dNative', ['stem', 'w2', 'b2'], 1, 'SAME', ['BiasAdd', 'Relu']),
  { name: 'w3', op: 'Const' },
  conv('project', 'Conv2D', ['depthwise', 'w3'], 1, 'VALID', []),
  { name: 'residual', op: 'AddV2', input: ['depthwise', 'project'] },
  { name: 'pool', op: 'AvgPool', input: ['residual'], attr: { ksize: ints(1, 2, 2, 1), strides: ints(1, 2, 2, 1), padding: { s: b64('VALID') }, data_format: { s: b64('NHWC') } } },
  { name: 'logits', op: 'Softmax', input: ['pool'] },
];

const rng = createRng(7);
const random = (shape: number[]): TfWeight => ({ shape, values: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng() * 2 - 1) });
const WEIGHTS: Record<string, TfWeight> = {
  scale: { shape: [], values: Float32Array.of(2) },
  mean: { shape: [3], values: Float32Array.of(0.2, -0.1, 0.5) },
  w1: random([3, 2, 3, 4]),
  b1: random([4]),
  w2: random([3, 3, 4, 2]),
  b2: random([8]),
  w3: random([1, 1, 8, 8]),
};

/** The same function computed by TF.js ops directly, NHWC, then pooled as the backbone pools. */
function reference(input: tf.Tensor4D): Float32Array {
  return tf.tidy(() => {
    const w = (name: string) => tf.tensor(WEIGHTS[name].values, WEIGHTS[name].shape);
    const centred = tf.sub(tf.mul(input, w('scale')), w('mean')) as tf.Tensor4D;
    const stem = tf.clipByValue(tf.add(tf.conv2d(centred, w('w1') as tf.Tensor4D, 2, 'same'), w('b1')), 0, 6) as tf.Tensor4D;
    const depthwise = tf.relu(tf.add(tf.depthwiseConv2d(stem, w('w2') as tf.Tensor4D, 1, 'same'), w('b2'))) as tf.Tensor4D;
    const residual = tf.add(depthwise, tf.conv2d(depthwise, w('w3') as tf.Tensor4D, 1, 'valid')) as tf.Tensor4D;
    return tf.mean(tf.avgPool(residual, 2, 2, 'valid'), [1, 2]).dataSync() as Float32Array;
  });
}

async function runOnnx(output: string, input: Float32Array, batch: number): Promise<OnnxTensor> {
  return (await runOnnxOutputs(output, input, batch)).features;
}

async function runOnnxOutputs(outputs: string | string[], input: Float32Array, batch: number): Promise<Record<string, OnnxTensor>> {
  const ort = await loadOnnxRuntime();
  const model = exportGraphToOnnx(NODES, (name) => WEIGHTS[name], outputs);
  const session = await ort.InferenceSession.create(encodeModel(model));
  try {
    return await session.run({ input: new ort.Tensor('float32', input, [batch, 9, 11, 3]) });
  } finally {
    await session.release();
  }
}

expectNoTensorLeaks();

describe('TF.js graph to ONNX export', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('computes what TF.js computes: NHWC->NCHW, SAME at stride 2 on odd sizes, depthwise multiplier, per-channel constants', async () => {
    const batch = 3;
    const input = Float32Array.from({ length: batch * 9 * 11 * 3 }, () => rng());
    const features = await runOnnx('pool', input, batch);
    expect(features.dims).toEqual([batch, 8]);
    const expected = tf.tidy(() => reference(tf.tensor4d(input, [batch, 9, 11, 3])));
    const got = features.data as Float32Array;
    expect(Math.max(...expected.map(Math.abs))).toBeGreaterThan(0.1); // not a trivially zero network
    for (let i = 0; i < expected.length; i++) expect(got[i]).toBeCloseTo(expected[i], 4);
  });

  it('pools an intermediate node when asked for it, and ignores what lies after the requested node', async () => {
    const input = Float32Array.from({ length: 9 * 11 * 3 }, () => rng());
    const features = await runOnnx('stem', input, 1);
    expect(features.dims).toEqual([1, 4]);
  });

  it('gives one pooled output per node asked for, in order, each what its own export gives', async () => {
    const batch = 2;
    const input = Float32Array.from({ length: batch * 9 * 11 * 3 }, () => rng());
    const outputs = await runOnnxOutputs(['stem', 'pool'], input, batch);
    expect(Object.keys(outputs).sort()).toEqual(['features_0', 'features_1']);
    expect(outputs.features_0.dims).toEqual([batch, 4]);
    expect(outputs.features_1.dims).toEqual([batch, 8]);
    expect([...(outputs.features_0.data as Float32Array)]).toEqual([...((await runOnnx('stem', input, batch)).data as Float32Array)]);
    const expected = tf.tidy(() => reference(tf.tensor4d(input, [batch, 9, 11, 3])));
    (outputs.features_1.data as Float32Array).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
    expect(() => exportGraphToOnnx(NODES, (name) => WEIGHTS[name], [])).toThrow(/no output node/);
  });

  it('refuses what it cannot express, naming the node and op', () => {
    expect(() => exportGraphToOnnx(NODES, (name) => WEIGHTS[name], 'logits')).toThrow(UnsupportedGraphError);
    expect(() => exportGraphToOnnx(NODES, (name) => WEIGHTS[name], 'logits')).toThrow(/logits: op Softmax is not exported/);
    const batchNorm = NODES.map((n) => (n.name === 'stem' ? conv('stem', '_FusedConv2D', ['centred', 'w1', 'b1'], 2, 'SAME', ['FusedBatchNorm']) : n));
    expect(() => exportGraphToOnnx(batchNorm, (name) => WEIGHTS[name], 'pool')).toThrow(/stem: fused FusedBatchNorm/);
    expect(() => exportGraphToOnnx(NODES, () => undefined, 'pool')).toThrow(/input (scale|mean|w1) is not a constant/);
    expect(() => exportGraphToOnnx(NODES, (name) => WEIGHTS[name], 'missing')).toThrow(/no node "missing"/);
  });
});
