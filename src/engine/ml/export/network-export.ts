/**
 * A fine-tuned network (the built-in graph with its trained blocks in place, then the head) as files
 * other programs run: the backbone as a TF.js graph model, and one ONNX model from image to embedding.
 */
import { checkFinite, checkShape, headToOnnx, weightName, type HeadWeights } from './head-weights.js';
import { exportGraphToOnnx, type TfNode } from './tfjs-to-onnx.js';
import type { OnnxModel } from '../runtime/onnx-proto.js';
import type { GraphWeight } from '../backbone/trainable-backbone.js';

/** The ONNX network's input: [batch, 224, 224, 3] RGB, NHWC, values 0..1. */
export const NETWORK_INPUT = 'image';

/** The graph's topology with these weights as a TF.js graph model (model.json + one weights file, all float32/int32). */
export function graphModelFiles(topology: unknown, weights: Map<string, GraphWeight>, weightsFile = 'weights.bin'): { modelJson: object; weights: Buffer } {
  const entries = [...weights];
  return {
    modelJson: {
      format: 'graph-model',
      generatedBy: 'lookalike',
      convertedBy: null,
      modelTopology: topology,
      weightsManifest: [{ paths: [weightsFile], weights: entries.map(([name, w]) => ({ name, shape: w.shape, dtype: w.dtype })) }],
    },
    weights: Buffer.concat(entries.map(([, w]) => Buffer.from(w.values.buffer, w.values.byteOffset, w.values.byteLength))),
  };
}

type ManifestEntry = { name: string; shape: unknown; dtype?: string; quantization?: unknown };

/** The entries of a graph model's weights manifest, each float32/int32 with a checked shape, and the bytes they take. */
export function graphManifest(modelJson: unknown): { entries: Array<ManifestEntry & { shape: number[] }>; bytes: number } {
  const manifest = (modelJson as { weightsManifest?: Array<{ weights?: ManifestEntry[] }> } | null)?.weightsManifest;
  if (!Array.isArray(manifest) || !manifest.every((group) => Array.isArray(group?.weights))) throw new Error('model.json has no weights manifest');
  let bytes = 0;
  const entries = manifest.flatMap((group) => group.weights!).map((entry) => {
    if (entry.quantization || (entry.dtype !== 'float32' && entry.dtype !== 'int32')) throw new Error(`weight ${weightName(entry.name)} is stored as ${weightName(entry.dtype)}${entry.quantization ? ' (quantised)' : ''}, which is not read back`);
    const shape = checkShape(entry);
    bytes += shape.reduce((a, b) => a * b, 1) * 4;
    return { ...entry, shape };
  });
  return { entries, bytes };
}

/** The named float32 weights of a graph model that graphModelFiles wrote, in their stored shapes, each value finite. */
export function readGraphModelWeights(modelJson: unknown, bytes: Buffer, names: string[]): Map<string, { shape: number[]; values: Float32Array }> {
  const { entries, bytes: declared } = graphManifest(modelJson);
  if (declared > bytes.length) throw new Error(`the weights file is too short (${bytes.length} bytes, model.json describes ${declared})`);
  if (declared < bytes.length) throw new Error(`the weights file has ${bytes.length - declared} bytes more than model.json describes`);
  const wanted = new Set(names);
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  let offset = 0;
  for (const entry of entries) {
    const size = entry.shape.reduce((a, b) => a * b, 1) * 4;
    if (wanted.has(entry.name)) {
      if (entry.dtype !== 'float32') throw new Error(`weight ${weightName(entry.name)} is ${weightName(entry.dtype)}, expected float32`);
      const values = new Float32Array(size / 4);
      new Uint8Array(values.buffer).set(bytes.subarray(offset, offset + size));
      checkFinite(values, entry.name);
      out.set(entry.name, { shape: entry.shape, values });
    }
    offset += size;
  }
  const missing = names.filter((n) => !out.has(n));
  if (missing.length) throw new Error(`the graph model lacks ${missing.length} trained weight(s), e.g. ${missing[0]}`);
  return out;
}

/**
 * The graph up to its pooled features, then the head: image in, L2-normalised embedding out. Several
 * feature nodes (multi-scale features) are each pooled and L2-normalised, then joined in order, as
 * the feature cache joins them.
 */
export function networkToOnnx(nodes: TfNode[], weights: Map<string, GraphWeight>, featureNodes: string | readonly string[], head: HeadWeights): OnnxModel {
  const backbone = exportGraphToOnnx(
    nodes,
    (name) => {
      const w = weights.get(name);
      return w?.dtype === 'float32' ? { shape: w.shape, values: w.values as Float32Array } : undefined;
    },
    featureNodes,
  );
  if (backbone.outputs.length > 1) joinNormalised(backbone, backbone.outputs.map((o) => o.name), 'features');
  const headModel = headToOnnx(head);
  // The backbone's output and the head's input are both "features": the two chain as they are.
  const defined = new Set([...backbone.initializers.map((t) => t.name), ...backbone.nodes.flatMap((n) => n.outputs)]);
  const clash = [...headModel.initializers.map((t) => t.name), ...headModel.nodes.flatMap((n) => n.outputs)].find((name) => defined.has(name));
  if (clash) throw new Error(`the head's ONNX name ${clash} is also a backbone name`);
  const [input] = backbone.inputs;
  for (const node of backbone.nodes) node.inputs = node.inputs.map((name) => (name === input.name ? NETWORK_INPUT : name));
  return {
    opset: backbone.opset,
    producer: 'lookalike',
    graphName: 'lookalike_network',
    nodes: [...backbone.nodes, ...headModel.nodes],
    initializers: [...backbone.initializers, ...headModel.initializers],
    inputs: [{ name: NETWORK_INPUT, shape: input.shape }],
    outputs: headModel.outputs,
  };
}

/** Adds to a model: each of `inputs` L2-normalised on its own, then all concatenated into `output`. */
function joinNormalised(model: OnnxModel, inputs: string[], output: string): void {
  const epsilon = `${output}_epsilon`;
  model.initializers.push({ name: epsilon, dims: [], data: Float32Array.of(1e-12) });
  const units = inputs.map((input) => {
    model.nodes.push({ opType: 'ReduceL2', inputs: [input], outputs: [`${input}_norm`], attributes: [{ name: 'axes', value: { ints: [1] } }, { name: 'keepdims', value: { int: 1 } }] });
    model.nodes.push({ opType: 'Add', inputs: [`${input}_norm`, epsilon], outputs: [`${input}_safe`] });
    model.nodes.push({ opType: 'Div', inputs: [input, `${input}_safe`], outputs: [`${input}_unit`] });
    return `${input}_unit`;
  });
  model.nodes.push({ opType: 'Concat', inputs: units, outputs: [output], attributes: [{ name: 'axis', value: { int: 1 } }] });
}
