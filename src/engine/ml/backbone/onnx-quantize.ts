/**
 * Static int8 quantisation of an exported backbone (onnx-export.ts) in ONNX Runtime's QDQ format:
 * every activation a convolution, a residual add or a pool reads passes through a
 * QuantizeLinear/DequantizeLinear pair (uint8, asymmetric, range measured on calibration photos),
 * convolution weights are int8, symmetric, one scale per output channel, and biases int32 at the
 * input scale times the weight scale. ONNX Runtime's CPU engine fuses DQ -> Conv -> Q into
 * QLinearConv (U8S8, fastest on x86 with VNNI), DQ -> Add -> Q into QLinearAdd, and drops a ReLU6
 * before a Q whose range already clips to [0, 6], so the float graph only survives at the edges.
 */
import type { OnnxModel, OnnxNode, OnnxTensor } from '../runtime/onnx-proto.js';

/** The observed range of one activation tensor over the calibration photos. */
export interface ActivationRange {
  min: number;
  max: number;
}

export type ActivationRanges = Record<string, ActivationRange>;

const QUANTISED_CONSUMERS = new Set(['Conv', 'Add', 'AveragePool', 'MaxPool']);

/** The activation tensors that get a Q/DQ pair: what convolutions, residual adds and pools read. */
export function quantisationPoints(model: OnnxModel): string[] {
  const constants = new Set(model.initializers.map((t) => t.name));
  const points = new Set<string>();
  for (const node of model.nodes) {
    if (!QUANTISED_CONSUMERS.has(node.opType)) continue;
    if (node.opType === 'Add' && node.inputs.some((input) => constants.has(input))) continue;
    for (const input of node.opType === 'Add' ? node.inputs : node.inputs.slice(0, 1)) points.add(input);
  }
  return [...points];
}

/**
 * The float model with each quantisation point's minimum and maximum over the batch as extra
 * outputs ("<point>_min", "<point>_max"): ONNX Runtime reduces the maps, only two numbers per point come back.
 */
export function withCalibrationTaps(model: OnnxModel, points: readonly string[]): OnnxModel {
  const reduce = (point: string, op: 'ReduceMin' | 'ReduceMax', suffix: string): OnnxNode => ({ opType: op, inputs: [point], outputs: [`${point}${suffix}`], attributes: [{ name: 'keepdims', value: { int: 0 } }] });
  return {
    ...model,
    nodes: [...model.nodes, ...points.flatMap((point) => [reduce(point, 'ReduceMin', '_min'), reduce(point, 'ReduceMax', '_max')])],
    outputs: [...model.outputs, ...points.flatMap((point) => [`${point}_min`, `${point}_max`].map((name) => ({ name, shape: [] })))],
  };
}

/** Widens a point's range to cover one batch's minimum and maximum (min/max calibration: percentiles measured no better here). */
export function recordRange(ranges: ActivationRanges, name: string, batchMin: number, batchMax: number): void {
  const range = ranges[name] ?? { min: Infinity, max: -Infinity };
  ranges[name] = { min: Math.min(range.min, batchMin), max: Math.max(range.max, batchMax) };
}

interface UInt8Quantisation {
  scale: number;
  zeroPoint: number;
}

/**
 * uint8 parameters for a range: it always holds 0 (so zero padding stays exact), and the output of
 * a ReLU6 maps onto [0, 6] with zero point 0, which is what lets ONNX Runtime drop the Clip.
 */
export function activationQuantisation(range: ActivationRange, producer: string | undefined): UInt8Quantisation {
  let min = Math.min(range.min, 0);
  let max = Math.max(range.max, 0);
  if (producer === 'Clip' || producer === 'Relu') {
    min = 0;
    // Just under 6: ONNX Runtime compares 255 * scale, in float32, with the clip's upper bound.
    if (producer === 'Clip') max = Math.min(max, 6 * (1 - 1e-6));
  }
  const scale = Math.fround(Math.max(max - min, 1e-6) / 255);
  return { scale, zeroPoint: Math.min(255, Math.max(0, Math.round(-min / scale))) };
}

/**
 * Symmetric int8 weights, one scale per output channel (axis 0). Weights a model stored quantised
 * lie on a grid of `step` (TF.js converter's uint8 quantisation, zero exactly representable): a
 * channel whose grid points fit in [-128, 127] keeps that step and loses nothing; others, and
 * weights without a grid, take max|w| / 127.
 */
export function quantiseWeights(values: Float32Array, outChannels: number, step?: number): { q: Int8Array; scales: Float32Array } {
  const perChannel = values.length / outChannels;
  const q = new Int8Array(values.length);
  const scales = new Float32Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    const channel = values.subarray(c * perChannel, (c + 1) * perChannel);
    let [min, max] = [0, 0];
    for (const v of channel) [min, max] = [Math.min(min, v), Math.max(max, v)];
    const onGrid = step !== undefined && step > 0 && min / step >= -128.5 && max / step <= 127.5;
    const scale = onGrid ? step : Math.max(-min, max) / 127 || 1;
    scales[c] = scale;
    channel.forEach((v, i) => (q[c * perChannel + i] = Math.max(-128, Math.min(127, Math.round(v / scale)))));
  }
  return { q, scales };
}

/** The QDQ model: the float model's nodes with Q/DQ pairs on the quantisation points and quantised convolution weights. */
export function quantiseModel(model: OnnxModel, ranges: ActivationRanges): OnnxModel {
  const points = quantisationPoints(model);
  const initializers = new Map(model.initializers.map((t) => [t.name, t]));
  const producers = new Map(model.nodes.flatMap((node) => node.outputs.map((output) => [output, node.opType] as const)));
  const params = new Map<string, UInt8Quantisation>();
  for (const point of points) {
    const range = ranges[point];
    if (!range) throw new Error(`no calibration range for ${point}`);
    params.set(point, activationQuantisation(range, producers.get(point)));
  }
  const added: OnnxTensor[] = [];
  const constant = (tensor: OnnxTensor): string => {
    added.push(tensor);
    return tensor.name;
  };
  const dequantised = (name: string) => (params.has(name) ? `${name}_dq` : name);
  const replaced = new Set<string>();
  const nodes: OnnxNode[] = [];

  const pairFor = (tensor: string): OnnxNode[] => {
    const { scale, zeroPoint } = params.get(tensor)!;
    const s = constant({ name: `${tensor}_scale`, dims: [], data: Float32Array.of(scale) });
    const z = constant({ name: `${tensor}_zero_point`, dims: [], data: Uint8Array.of(zeroPoint) });
    return [
      { opType: 'QuantizeLinear', inputs: [tensor, s, z], outputs: [`${tensor}_q`] },
      { opType: 'DequantizeLinear', inputs: [`${tensor}_q`, s, z], outputs: [`${tensor}_dq`] },
    ];
  };

  const convolution = (node: OnnxNode): OnnxNode => {
    const [x, weightName, biasName] = node.inputs;
    const weight = initializers.get(weightName);
    if (!weight || !(weight.data instanceof Float32Array)) throw new Error(`${node.name ?? 'a convolution'}: its weights are not a float constant`);
    const outChannels = weight.dims[0];
    const { q, scales } = quantiseWeights(weight.data, outChannels, weight.step);
    replaced.add(weightName);
    const zeros = (name: string) => constant({ name, dims: [outChannels], data: new Int8Array(outChannels) });
    const wScale = constant({ name: `${weightName}_scale`, dims: [outChannels], data: scales });
    const wq = constant({ name: `${weightName}_q`, dims: weight.dims, data: q });
    nodes.push({ opType: 'DequantizeLinear', inputs: [wq, wScale, zeros(`${weightName}_zero_point`)], outputs: [`${weightName}_dq`], attributes: [{ name: 'axis', value: { int: 0 } }] });
    const inputs = [dequantised(x), `${weightName}_dq`];
    if (biasName) {
      const bias = initializers.get(biasName);
      if (!bias || !(bias.data instanceof Float32Array)) throw new Error(`${node.name ?? 'a convolution'}: its bias is not a float constant`);
      const inputScale = params.get(x)?.scale;
      if (inputScale === undefined) throw new Error(`${node.name ?? 'a convolution'}: its input is not quantised`);
      const biasScales = scales.map((s) => s * inputScale);
      const qBias = Int32Array.from(bias.data, (v, c) => Math.round(v / biasScales[c]));
      replaced.add(biasName);
      const bq = constant({ name: `${biasName}_q`, dims: bias.dims, data: qBias });
      const bScale = constant({ name: `${biasName}_scale`, dims: [outChannels], data: biasScales });
      nodes.push({ opType: 'DequantizeLinear', inputs: [bq, bScale], outputs: [`${biasName}_dq`], attributes: [{ name: 'axis', value: { int: 0 } }] });
      inputs.push(`${biasName}_dq`);
    }
    return { ...node, inputs };
  };

  for (const node of model.nodes) {
    if (node.opType === 'Conv' && params.has(node.inputs[0])) nodes.push(convolution(node));
    else nodes.push({ ...node, inputs: node.inputs.map(dequantised) });
    for (const output of node.outputs) if (params.has(output)) nodes.push(...pairFor(output));
  }
  return {
    ...model,
    nodes,
    initializers: [...model.initializers.filter((t) => !replaced.has(t.name)), ...added],
  };
}
