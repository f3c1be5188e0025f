import type { HeadConfig } from '../training/head.js';
import type { OnnxModel, OnnxNode, OnnxTensor } from '../runtime/onnx-proto.js';

/** A head's weights as plain arrays, in layer order: [w0, b0, w1, b1, …]; w is inputs × outputs. */
export interface HeadWeights {
  config: HeadConfig;
  layers: Array<{ kernel: Float32Array; bias: Float32Array; inputs: number; units: number }>;
  /** A centred head's mean input feature (config.centre says how it is applied). */
  centre?: Float32Array;
}

/**
 * The head as a TF.js layers model (model.json + one weights file): Dense layers, ReLU between
 * them. What the layers format cannot say (the L2 normalisation of the features going in and of
 * the embedding coming out, and a centred head's centring, whose mean is exported as centre.bin) is
 * in the card, and in the ONNX file.
 */
export function tfjsLayersModel(head: HeadWeights, weightsFile = 'weights.bin'): { modelJson: object; weights: Buffer } {
  const layers = head.layers.map((layer, i) => ({
    class_name: 'Dense',
    config: {
      name: `head_dense_${i}`,
      units: layer.units,
      activation: i + 1 < head.layers.length ? 'relu' : 'linear',
      use_bias: true,
      kernel_initializer: { class_name: 'Zeros', config: {} },
      bias_initializer: { class_name: 'Zeros', config: {} },
      dtype: 'float32',
      trainable: true,
      ...(i === 0 ? { batch_input_shape: [null, layer.inputs] } : {}),
    },
  }));
  const manifest = head.layers.flatMap((layer, i) => [
    { name: `head_dense_${i}/kernel`, shape: [layer.inputs, layer.units], dtype: 'float32' },
    { name: `head_dense_${i}/bias`, shape: [layer.units], dtype: 'float32' },
  ]);
  const weights = Buffer.concat(head.layers.flatMap((layer) => [toBytes(layer.kernel), toBytes(layer.bias)]));
  return {
    modelJson: {
      format: 'layers-model',
      generatedBy: 'lookalike',
      convertedBy: null,
      modelTopology: { class_name: 'Sequential', config: { name: 'lookalike_head', layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
      weightsManifest: [{ paths: [weightsFile], weights: manifest }],
    },
    weights,
  };
}

/** Reads back what tfjsLayersModel wrote: the kernels and biases in layer order, each shape checked and each value finite. */
export function readTfjsLayersModel(modelJson: unknown, weights: Buffer, config: HeadConfig): HeadWeights {
  const manifest = (modelJson as { weightsManifest?: Array<{ weights: Array<{ name: string; shape: unknown }> }> } | null)?.weightsManifest?.[0]?.weights;
  if (!Array.isArray(manifest) || manifest.length === 0 || manifest.length % 2 !== 0) throw new Error('model.json has no weights manifest of kernels and biases');
  const layers: HeadWeights['layers'] = [];
  let offset = 0;
  const take = (entry: { name: string; shape: unknown }, rank: number) => {
    const shape = checkShape(entry, rank);
    const count = shape.reduce((a, b) => a * b, 1);
    if (offset + count * 4 > weights.length) throw new Error(`the weights file is too short (${weights.length} bytes)`);
    const values = new Float32Array(count);
    new Uint8Array(values.buffer).set(weights.subarray(offset, offset + count * 4));
    offset += count * 4;
    checkFinite(values, weightName(entry.name));
    return { shape, values };
  };
  for (let i = 0; i < manifest.length; i += 2) {
    const kernel = take(manifest[i], 2);
    const bias = take(manifest[i + 1], 1);
    const [inputs, units] = kernel.shape;
    if (bias.shape[0] !== units) throw new Error(`weight ${weightName(manifest[i + 1].name)} has ${bias.shape[0]} values for a layer of ${units} units`);
    if (layers.length > 0 && layers.at(-1)!.units !== inputs) throw new Error(`weight ${weightName(manifest[i].name)} takes ${inputs} values, but the layer before gives ${layers.at(-1)!.units}`);
    layers.push({ kernel: kernel.values, bias: bias.values, inputs, units });
  }
  if (offset !== weights.length) throw new Error(`the weights file has ${weights.length - offset} bytes more than model.json describes`);
  if (layers[0].inputs !== config.inputDim || layers.at(-1)!.units !== config.dim) {
    throw new Error(`the weights map ${layers[0].inputs} to ${layers.at(-1)!.units} values; the card says ${config.inputDim} to ${config.dim}`);
  }
  return { config, layers };
}

/** A declared weight shape: `rank` (when given) whole, non-negative numbers, else an error naming the weight. */
export function checkShape(entry: { name?: unknown; shape: unknown }, rank?: number): number[] {
  const { shape } = entry;
  if (!Array.isArray(shape) || (rank !== undefined && shape.length !== rank) || !shape.every((d) => Number.isInteger(d) && d >= 0 && d <= 1 << 24)) {
    throw new Error(`weight ${weightName(entry.name)} has shape ${JSON.stringify(shape)?.slice(0, 80)}; a shape is ${rank ?? 'a list of'} whole non-negative numbers`);
  }
  return shape as number[];
}

/** A weight's name from a model.json, as messages show it: short, whatever the file holds. */
export const weightName = (name: unknown) => String(name).slice(0, 120);

/** Weights must be numbers: one NaN or infinity makes every distance NaN. */
export function checkFinite(values: Float32Array, name: string): void {
  const at = values.findIndex((v) => !Number.isFinite(v));
  if (at >= 0) throw new Error(`weight ${weightName(name)} holds ${values[at]} at position ${at}; a model's weights must be finite numbers`);
}

/**
 * The whole head as ONNX: features L2-normalised; for a centred head, each layer's segment minus its
 * mean and L2-normalised, the whole scaled to unit length; Dense (+ReLU) layers; embedding L2-normalised.
 */
export function headToOnnx(head: HeadWeights): OnnxModel {
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [{ name: 'epsilon', dims: [], data: Float32Array.of(1e-12) }];
  const normalise = (input: string, output: string) => {
    nodes.push({ opType: 'ReduceL2', inputs: [input], outputs: [`${output}_norm`], attributes: [{ name: 'axes', value: { ints: [1] } }, { name: 'keepdims', value: { int: 1 } }] });
    nodes.push({ opType: 'Add', inputs: [`${output}_norm`, 'epsilon'], outputs: [`${output}_safe`] });
    nodes.push({ opType: 'Div', inputs: [input, `${output}_safe`], outputs: [output] });
  };
  normalise('features', 'x0');
  let x = 'x0';
  if (head.config.centre) {
    if (!head.centre) throw new Error('a centred head needs its centre to be exported');
    const { segments } = head.config.centre;
    initializers.push({ name: 'centre', dims: [head.config.inputDim], data: head.centre });
    initializers.push({ name: 'segment_scale', dims: [], data: Float32Array.of(1 / Math.sqrt(segments.length)) });
    nodes.push({ opType: 'Sub', inputs: [x, 'centre'], outputs: ['centred'] });
    const parts = segments.map((_, i) => `segment_${i}`);
    if (segments.length === 1) nodes.push({ opType: 'Identity', inputs: ['centred'], outputs: [parts[0]] });
    else {
      initializers.push({ name: 'segment_widths', dims: [segments.length], data: { int64: segments } });
      nodes.push({ opType: 'Split', inputs: ['centred', 'segment_widths'], outputs: parts, attributes: [{ name: 'axis', value: { int: 1 } }] });
    }
    parts.forEach((part) => normalise(part, `${part}_unit`));
    nodes.push({ opType: 'Concat', inputs: parts.map((part) => `${part}_unit`), outputs: ['joined'], attributes: [{ name: 'axis', value: { int: 1 } }] });
    nodes.push({ opType: 'Mul', inputs: ['joined', 'segment_scale'], outputs: ['x0_centred'] });
    x = 'x0_centred';
  }
  head.layers.forEach((layer, i) => {
    initializers.push({ name: `kernel_${i}`, dims: [layer.inputs, layer.units], data: layer.kernel }, { name: `bias_${i}`, dims: [layer.units], data: layer.bias });
    nodes.push({ opType: 'MatMul', inputs: [x, `kernel_${i}`], outputs: [`mm_${i}`] });
    nodes.push({ opType: 'Add', inputs: [`mm_${i}`, `bias_${i}`], outputs: [`dense_${i}`] });
    x = `dense_${i}`;
    if (i + 1 < head.layers.length) {
      nodes.push({ opType: 'Relu', inputs: [x], outputs: [`relu_${i}`] });
      x = `relu_${i}`;
    }
  });
  if (head.config.normalize) normalise(x, 'embedding');
  else nodes.push({ opType: 'Identity', inputs: [x], outputs: ['embedding'] });
  return {
    opset: 13,
    producer: 'lookalike',
    graphName: 'lookalike_head',
    nodes,
    initializers,
    inputs: [{ name: 'features', shape: ['batch', head.config.inputDim] }],
    outputs: [{ name: 'embedding', shape: ['batch', head.config.dim] }],
  };
}

const toBytes = (values: Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength);
