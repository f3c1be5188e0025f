/**
 * TF.js graph model -> ONNX, for the convolutional feature extractors Lookalike uses as backbones
 * (MobileNet-style: fused conv/depthwise conv with bias and ReLU/ReLU6, adds, pooling). The
 * weights are the ones TF.js itself loaded (already de-quantised), so both runtimes compute the
 * same function; ONNX Runtime just computes it several times faster on a CPU than TF.js wasm.
 *
 * TF.js graphs are NHWC, ONNX convolutions NCHW: the input is transposed once, weights are laid
 * out OIHW, and each requested node's feature map is global-average-pooled to [batch, channels].
 */
import type { OnnxAttribute, OnnxModel, OnnxNode, OnnxTensor } from '../runtime/onnx-proto.js';

/** One node of a TF GraphDef as TF.js stores it in model.json. */
export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttr>;
}

interface TfAttr {
  s?: string;
  i?: string | number;
  f?: number;
  list?: { i?: Array<string | number>; s?: string[] };
}

export interface TfWeight {
  shape: number[];
  values: Float32Array;
  /** The step of the grid the values lie on, when the model stored them quantised. */
  step?: number;
}

export class UnsupportedGraphError extends Error {}

/**
 * One output per requested node: "features" for one node, "features_0", "features_1", … in order for
 * several (one graph computes the shared layers once). `pool: false` gives each node's whole feature
 * map, NHWC like TF.js, instead of its global average.
 */
export function exportGraphToOnnx(nodes: TfNode[], weight: (name: string) => TfWeight | undefined, outputNodes: string | readonly string[], options: { pool?: boolean } = {}): OnnxModel {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const model: OnnxModel = { opset: 13, producer: 'lookalike', graphName: 'backbone', nodes: [], initializers: [], inputs: [], outputs: [] };
  const emitted = new Map<string, string>();
  const scalars = new Map<number, string>();

  const constant = (tensor: OnnxTensor): string => {
    model.initializers.push(tensor);
    return tensor.name;
  };
  const scalar = (value: number): string => {
    let name = scalars.get(value);
    if (!name) {
      name = constant({ name: `scalar_${model.initializers.length}`, dims: [], data: Float32Array.of(value) });
      scalars.set(value, name);
    }
    return name;
  };
  const add = (node: OnnxNode): string => {
    model.nodes.push(node);
    return node.outputs[0];
  };
  const weightOf = (name: string, forNode: TfNode): TfWeight => {
    const w = weight(name);
    if (!w) throw new UnsupportedGraphError(`${forNode.name} (${forNode.op}): input ${name} is not a constant`);
    return w;
  };

  const visit = (ref: string): string => {
    const name = ref.replace(/^\^/, '').replace(/:0$/, '');
    const done = emitted.get(name);
    if (done) return done;
    const node = byName.get(name);
    if (!node) throw new UnsupportedGraphError(`the graph has no node "${name}"`);
    const out = convert(node);
    emitted.set(name, out);
    return out;
  };

  /** An element-wise operand: a tensor from the graph, or a constant shaped to broadcast over NCHW. */
  const operand = (ref: string, forNode: TfNode): string => {
    const name = ref.replace(/:0$/, '');
    if (byName.get(name)?.op !== 'Const') return visit(ref);
    const already = model.initializers.find((t) => t.name === `${name}_nchw`);
    if (already) return already.name;
    const w = weightOf(name, forNode);
    if (w.shape.length > 1) throw new UnsupportedGraphError(`${forNode.name} (${forNode.op}): constant of shape [${w.shape}] is not a scalar or per-channel`);
    const dims = w.shape.length === 1 ? [w.shape[0], 1, 1] : [];
    return constant({ name: `${name}_nchw`, dims, data: w.values });
  };

  const convert = (node: TfNode): string => {
    const inputs = (node.input ?? []).filter((i) => !i.startsWith('^'));
    switch (node.op) {
      case 'Placeholder': {
        const shape = (node.attr?.shape as { shape?: { dim?: Array<{ size: string }> } } | undefined)?.shape?.dim?.map((d) => Number(d.size));
        const [, h, w, c] = shape ?? [-1, -1, -1, 3];
        model.inputs.push({ name: node.name, shape: ['batch', dimOrName(h, 'height'), dimOrName(w, 'width'), dimOrName(c, 'channels')] });
        return add({ opType: 'Transpose', inputs: [node.name], outputs: [`${node.name}_nchw`], attributes: [ints('perm', [0, 3, 1, 2])] });
      }
      case 'Identity':
        return visit(inputs[0]);
      case 'Mul':
      case 'Sub':
      case 'Add':
      case 'AddV2': {
        const opType = node.op === 'AddV2' ? 'Add' : node.op;
        return add({ opType, name: node.name, inputs: [operand(inputs[0], node), operand(inputs[1], node)], outputs: [node.name] });
      }
      case 'Relu':
        return add({ opType: 'Relu', name: node.name, inputs: [visit(inputs[0])], outputs: [node.name] });
      case 'Relu6':
        return add({ opType: 'Clip', name: node.name, inputs: [visit(inputs[0]), scalar(0), scalar(6)], outputs: [node.name] });
      case 'Conv2D':
      case '_FusedConv2D':
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative':
        return convolution(node, inputs);
      case 'AvgPool':
      case 'MaxPool': {
        requireNhwc(node);
        const [, kh, kw] = listInts(node, 'ksize');
        const [, sh, sw] = listInts(node, 'strides');
        const attributes = [ints('kernel_shape', [kh, kw]), ints('strides', [sh, sw]), padding(node)];
        const opType = node.op === 'AvgPool' ? 'AveragePool' : 'MaxPool';
        return add({ opType, name: node.name, inputs: [visit(inputs[0])], outputs: [node.name], attributes });
      }
      default:
        throw new UnsupportedGraphError(`${node.name}: op ${node.op} is not exported to ONNX`);
    }
  };

  const convolution = (node: TfNode, inputs: string[]): string => {
    requireNhwc(node);
    const depthwise = node.op.includes('Depthwise');
    const fused = (node.attr?.fused_ops?.list?.s ?? []).map(decode);
    const unknown = fused.filter((op) => !['BiasAdd', 'Relu', 'Relu6'].includes(op));
    if (unknown.length) throw new UnsupportedGraphError(`${node.name}: fused ${unknown.join(', ')} is not exported to ONNX`);
    const x = visit(inputs[0]);
    const w = weightOf(inputs[1].replace(/:0$/, ''), node);
    const [kh, kw, inC, outPer] = w.shape;
    const oihw = depthwise ? hwcmToGrouped(w.values, kh, kw, inC, outPer) : hwioToOihw(w.values, kh, kw, inC, outPer);
    const outChannels = depthwise ? inC * outPer : outPer;
    const convInputs = [x, constant({ name: `${node.name}_weight`, dims: [outChannels, depthwise ? 1 : inC, kh, kw], data: oihw, ...(w.step ? { step: w.step } : {}) })];
    if (fused.includes('BiasAdd')) convInputs.push(constant({ name: `${node.name}_bias`, dims: [outChannels], data: weightOf(inputs[2].replace(/:0$/, ''), node).values }));
    const [, sh, sw] = listInts(node, 'strides');
    const [, dh, dw] = node.attr?.dilations ? listInts(node, 'dilations') : [1, 1, 1];
    const attributes = [ints('kernel_shape', [kh, kw]), ints('strides', [sh, sw]), ints('dilations', [dh, dw]), padding(node)];
    if (depthwise) attributes.push({ name: 'group', value: { int: inC } });
    const activation = fused.includes('Relu6') ? 'Relu6' : fused.includes('Relu') ? 'Relu' : undefined;
    const convOut = add({ opType: 'Conv', name: node.name, inputs: convInputs, outputs: [activation ? `${node.name}_linear` : node.name], attributes });
    if (activation === 'Relu6') return add({ opType: 'Clip', inputs: [convOut, scalar(0), scalar(6)], outputs: [node.name] });
    if (activation === 'Relu') return add({ opType: 'Relu', inputs: [convOut], outputs: [node.name] });
    return convOut;
  };

  const requested = typeof outputNodes === 'string' ? [outputNodes] : outputNodes;
  if (requested.length === 0) throw new UnsupportedGraphError('no output node was named');
  requested.forEach((node, i) => {
    const featureMap = visit(node);
    const name = requested.length === 1 ? 'features' : `features_${i}`;
    if (options.pool === false) {
      add({ opType: 'Transpose', inputs: [featureMap], outputs: [name], attributes: [ints('perm', [0, 2, 3, 1])] });
      model.outputs.push({ name, shape: ['batch', 'height', 'width', 'channels'] });
      return;
    }
    const pooled = add({ opType: 'GlobalAveragePool', inputs: [featureMap], outputs: [`${name}_pooled`] });
    add({ opType: 'Flatten', inputs: [pooled], outputs: [name], attributes: [{ name: 'axis', value: { int: 1 } }] });
    model.outputs.push({ name, shape: ['batch', 'dim'] });
  });
  return model;
}

function dimOrName(size: number, name: string): number | string {
  return size > 0 ? size : name;
}

function ints(name: string, values: number[]): OnnxAttribute {
  return { name, value: { ints: values } };
}

function decode(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8');
}

function listInts(node: TfNode, attr: string): number[] {
  const values = node.attr?.[attr]?.list?.i;
  if (!values || values.length !== 4) throw new UnsupportedGraphError(`${node.name}: attribute ${attr} missing`);
  return values.map(Number);
}

function requireNhwc(node: TfNode): void {
  const format = node.attr?.data_format?.s;
  if (format && decode(format) !== 'NHWC') throw new UnsupportedGraphError(`${node.name}: data format ${decode(format)} is not exported to ONNX`);
}

/** TF's SAME pads the extra row/column after, which is ONNX's SAME_UPPER. */
function padding(node: TfNode): OnnxAttribute {
  const mode = decode(node.attr?.padding?.s ?? '');
  if (mode === 'SAME') return { name: 'auto_pad', value: { string: 'SAME_UPPER' } };
  if (mode === 'VALID') return { name: 'auto_pad', value: { string: 'VALID' } };
  throw new UnsupportedGraphError(`${node.name}: padding ${mode || '(none)'} is not exported to ONNX`);
}

/** Conv2D filters [kh, kw, in, out] -> ONNX [out, in, kh, kw]. */
function hwioToOihw(values: Float32Array, kh: number, kw: number, inC: number, outC: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < inC; i++)
        for (let o = 0; o < outC; o++) out[((o * inC + i) * kh + y) * kw + x] = values[((y * kw + x) * inC + i) * outC + o];
  return out;
}

/** Depthwise filters [kh, kw, channels, multiplier] -> grouped ONNX [channels*multiplier, 1, kh, kw]; output c*m+j as TF orders it. */
function hwcmToGrouped(values: Float32Array, kh: number, kw: number, channels: number, multiplier: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < channels; c++)
        for (let m = 0; m < multiplier; m++) out[((c * multiplier + m) * kh + y) * kw + x] = values[((y * kw + x) * channels + c) * multiplier + m];
  return out;
}
