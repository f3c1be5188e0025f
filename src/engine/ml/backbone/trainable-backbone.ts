/**
 * The built-in MobileNetV2-1.4 graph (nsfwjs 4.3.0; batch norm already folded into its convolutions)
 * rebuilt above a cut point as a trainable TF.js network on tf.variables, with the fast gradients of
 * gradients.ts. The cut is the input of inverted-residual block N from the end (N = 0: the input of
 * the final 1×1 conv); below it the frozen graph computes activations, which are cached per photo.
 * The cut can also be the graph's input ("full"): then the whole network is rebuilt and trains
 * from photos.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { byteScaling, joinPixels, readBuiltinArtifacts, scalePixels } from './backbone.js';
import { depthwiseConv, inputConv, pointwiseConv, type Activation } from '../training/gradients.js';
import { selectBackend } from '../runtime/compute-backend.js';
import { openOnnxRunner, preferredRuntime, type OnnxFeatureRunner } from './onnx-backbone.js';
import type { TfNode } from '../export/tfjs-to-onnx.js';

export interface CutPoint {
  /** Inverted-residual blocks above the cut (they and the final 1×1 conv train). */
  blocks: number;
  /** The graph node whose output is the cut. */
  node: string;
  /** [height, width, channels] of the activations there, for a 224×224 photo. */
  shape: [number, number, number];
}

/** One weight of the graph, read out of TF.js. */
export interface GraphWeight {
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

type Step =
  | { kind: 'pointwise'; name: string; input: string; filter: string; bias: string; activation: Activation }
  | { kind: 'depthwise'; name: string; input: string; filter: string; bias: string; stride: 1 | 2; activation: Activation }
  | { kind: 'input-conv'; name: string; input: string; filter: string; bias: string; stride: number; activation: Activation }
  | { kind: 'constant'; name: string; op: 'mul' | 'sub'; input: string; constant: string }
  | { kind: 'add'; name: string; inputs: [string, string] };

/** Whose backward passes the convolutions use: gradients.ts's, or TF.js's own kernels. */
export type GradientSource = 'custom' | 'tfjs';

const { blockPattern: BLOCK, featureNode: FEATURE_NODE, inputSize: INPUT_SIZE } = BUILTIN_BACKBONE;

/** The frozen graph: activations at a cut for decoded photos, and trainable copies of what lies above. */
export class BuiltinGraph {
  private readonly cuts = new Map<number, CutPoint>();
  private readonly runners = new Map<string, Promise<OnnxFeatureRunner | null>>();
  /** "onnxruntime" or "tfjs-<backend>": what computed the last activations. */
  runtime = `tfjs-${tf.getBackend()}`;

  private constructor(
    private readonly graph: GraphModel,
    private readonly topology: unknown,
    private readonly nodes: TfNode[],
    /** Node names of each block's first op, in order. */
    private readonly blockStarts: string[],
  ) {}

  static async load(): Promise<BuiltinGraph> {
    const artifacts = await readBuiltinArtifacts();
    const graph = await loadGraphModel(tf.io.fromMemory(artifacts));
    const nodes = ((artifacts.modelTopology as { node?: TfNode[] }).node ?? []).filter((n) => n.op !== 'Const');
    const starts: string[] = [];
    const seen = new Set<string>();
    for (const node of nodes) {
      const block = BLOCK.exec(node.name)?.[1];
      if (block && !seen.has(block)) {
        seen.add(block);
        starts.push(node.name);
      }
    }
    return new BuiltinGraph(graph, artifacts.modelTopology, nodes, starts);
  }

  get blockCount(): number {
    return this.blockStarts.length;
  }

  /** The cut below the last `blocks` blocks: the input of the first op of block (count − blocks). */
  cutPoint(blocks: number): CutPoint {
    if (!(Number.isInteger(blocks) && blocks >= 0 && blocks <= this.blockCount)) {
      throw new RangeError(`fine-tune blocks must be a whole number from 0 to ${this.blockCount} (got ${blocks})`);
    }
    let cut = this.cuts.get(blocks);
    if (cut) return cut;
    const first = blocks > 0 ? this.blockStarts[this.blockCount - blocks] : this.firstNodeAfterBlocks();
    const node = inputsOf(this.nodes.find((n) => n.name === first)!)[0];
    const probe = tf.tidy(() => this.graph.execute(tf.zeros([1, INPUT_SIZE, INPUT_SIZE, 3]), node) as tf.Tensor);
    const [, h, w, c] = probe.shape;
    probe.dispose();
    cut = { blocks, node, shape: [h, w, c] };
    this.cuts.set(blocks, cut);
    return cut;
  }

  /**
   * The cut at the graph's input: the whole network trains, from photos of side `inputSize` (RGB
   * in [0, 1]; the graph rescales them itself). 224 is what the backbone was trained at; the
   * network is convolutional and pooled, so any side from 32 runs (tests use small ones).
   */
  inputCut(inputSize: number = INPUT_SIZE): CutPoint {
    if (!(Number.isInteger(inputSize) && inputSize >= 32)) throw new RangeError(`the input side must be a whole number of at least 32 pixels (got ${inputSize})`);
    const input = this.nodes.find((n) => n.op === 'Placeholder');
    if (!input) throw new Error('the backbone graph has no input');
    return { blocks: this.blockCount, node: input.name, shape: [inputSize, inputSize, 3] };
  }

  /** Activations at the cut, [h·w·c] floats per photo (NHWC), of decoded 224×224 RGB photos. */
  async activations(images: Uint8Array[], cut: CutPoint): Promise<Float32Array[]> {
    if (images.length === 0) return [];
    const size = cut.shape[0] * cut.shape[1] * cut.shape[2];
    const runner = await this.onnxRunner(cut);
    if (runner) {
      const flat = await runner.run(joinPixels(images, INPUT_SIZE), images.length, INPUT_SIZE);
      return images.map((_, i) => flat.slice(i * size, (i + 1) * size));
    }
    const out = tf.tidy(() => this.graph.execute(tf.tensor4d(scalePixels(images, INPUT_SIZE, BUILTIN_BACKBONE.inputRange), [images.length, INPUT_SIZE, INPUT_SIZE, 3]), cut.node) as tf.Tensor);
    const flat = (await out.data()) as Float32Array;
    out.dispose();
    return images.map((_, i) => flat.slice(i * size, (i + 1) * size));
  }

  /** The graph's own pooled features (the reference the rebuilt network must match). */
  async features(images: Uint8Array[]): Promise<Float32Array[]> {
    const pooled = tf.tidy(() => {
      const map = this.graph.execute(tf.tensor4d(scalePixels(images, INPUT_SIZE, BUILTIN_BACKBONE.inputRange), [images.length, INPUT_SIZE, INPUT_SIZE, 3]), FEATURE_NODE) as tf.Tensor;
      return tf.reshape(map, [images.length, -1]);
    });
    const flat = (await pooled.data()) as Float32Array;
    const dim = pooled.shape[1]!;
    pooled.dispose();
    return images.map((_, i) => flat.slice(i * dim, (i + 1) * dim));
  }

  /**
   * A trainable copy of everything above the cut, from the graph's weights or from saved ones.
   * `gradients: 'tfjs'` trains through TF.js's own convolution gradients instead of gradients.ts's
   * (the GPU bench compares the two; wasm has no such kernels).
   */
  trainable(cut: CutPoint, saved?: tf.NamedTensorMap, options: { gradients?: GradientSource } = {}): TrainableBlocks {
    const steps = this.stepsAbove(cut);
    const names = [...new Set(steps.flatMap((s) => (s.kind === 'add' || s.kind === 'constant' ? [] : [s.filter, s.bias])))];
    const variables = new Map<string, tf.Variable>();
    for (const name of names) {
      const original = this.graph.weights[name]?.[0];
      if (!original) throw new Error(`the backbone graph has no weight ${name}`);
      // 1×1 filters are kept as [in, out] matrices: what pointwiseConv multiplies by.
      const pointwise = steps.some((s) => s.kind === 'pointwise' && s.filter === name);
      const shape = pointwise ? original.shape.slice(2) : original.shape;
      const stored = saved?.[name];
      if (saved && !stored) throw new Error(`saved fine-tuned weights lack ${name}`);
      if (stored && stored.shape.join('x') !== shape.join('x')) throw new Error(`saved weight ${name} has shape ${stored.shape.join('x')}, expected ${shape.join('x')}`);
      variables.set(name, tf.tidy(() => tf.variable(tf.reshape(stored ?? original, shape), true)));
    }
    const constants = new Map<string, tf.Tensor>();
    for (const step of steps) if (step.kind === 'constant') constants.set(step.constant, tf.clone(this.graph.weights[step.constant][0]));
    return new TrainableBlocks(cut, steps, variables, constants, options.gradients ?? 'custom');
  }

  /** The graph's topology (GraphDef as TF.js stores it) and all its nodes, constants included: what an export rewrites. */
  get exportable(): { topology: unknown; nodes: TfNode[] } {
    return { topology: this.topology, nodes: (this.topology as { node?: TfNode[] }).node ?? [] };
  }

  /**
   * Every weight of the graph as the graph shapes it, with the weights of `blocks` (trained above a
   * cut) in place of the originals: the whole fine-tuned network, for export.
   */
  async weightsWith(blocks: TrainableBlocks): Promise<Map<string, GraphWeight>> {
    const trained = blocks.namedWeights();
    const out = new Map<string, GraphWeight>();
    for (const [name, [original]] of Object.entries(this.graph.weights)) {
      const source = trained[name] ?? original;
      if (source.size !== original.size) throw new Error(`trained weight ${name} has ${source.size} values, the graph's ${original.size}`);
      const dtype = original.dtype;
      if (dtype !== 'float32' && dtype !== 'int32') throw new Error(`graph weight ${name} is ${dtype}, which is not exported`);
      out.set(name, { shape: original.shape, dtype, values: (await source.data()) as Float32Array | Int32Array });
    }
    return out;
  }

  dispose(): void {
    for (const runner of this.runners.values()) void runner.then((r) => r?.dispose());
    this.runners.clear();
    this.graph.dispose();
  }

  /**
   * The graph up to the cut on ONNX Runtime (both cores: it runs alone on the engine thread), where
   * that is the preferred runtime, as for pooled features; null where TF.js computes the cut instead.
   */
  private onnxRunner(cut: CutPoint): Promise<OnnxFeatureRunner | null> {
    let runner = this.runners.get(cut.node);
    if (!runner) {
      runner = selectBackend().then((backend) =>
        preferredRuntime(backend) === 'onnxruntime'
          ? openOnnxRunner(this.graph, { modelTopology: this.topology as object }, cut.node, { threads: 2, pool: false, byteInput: byteScaling(BUILTIN_BACKBONE.inputRange) }).then(
              (r) => ((this.runtime = 'onnxruntime'), r),
              (error: unknown) => {
                if (process.env.LOOKALIKE_BACKBONE_RUNTIME === 'onnxruntime') throw error;
                return null;
              },
            )
          : null,
      );
      this.runners.set(cut.node, runner);
    }
    return runner;
  }

  private firstNodeAfterBlocks(): string {
    const lastBlockNode = this.nodes.length - 1 - [...this.nodes].reverse().findIndex((n) => BLOCK.test(n.name));
    return this.nodes[lastBlockNode + 1].name;
  }

  /** The ops from the cut up to the feature map that is pooled; refuses any op it cannot train. */
  private stepsAbove(cut: CutPoint): Step[] {
    const poolNode = this.nodes.find((n) => n.name === FEATURE_NODE)!;
    const featureMap = inputsOf(poolNode)[0];
    const known = new Set([cut.node]);
    // Computed from the cut with nothing trainable on the way: a k×k convolution may read only these.
    const fixed = new Set([cut.node]);
    const steps: Step[] = [];
    const start = this.nodes.findIndex((n) => inputsOf(n).includes(cut.node));
    for (const node of this.nodes.slice(start)) {
      if (node.name === FEATURE_NODE) break;
      const inputs = inputsOf(node);
      if (node.op === 'AddV2') steps.push({ kind: 'add', name: node.name, inputs: [inputs[0], inputs[1]] });
      else if (node.op === '_FusedConv2D' || node.op === 'FusedDepthwiseConv2dNative') steps.push(this.convolution(node, inputs, fixed));
      else if ((node.op === 'Mul' || node.op === 'Sub') && inputs.length === 2) steps.push(this.constantStep(node, inputs));
      else throw new Error(`${node.name}: op ${node.op} cannot be fine-tuned`);
      const step = steps[steps.length - 1];
      for (const input of step.kind === 'add' ? inputs : [step.input]) {
        if (!known.has(input)) throw new Error(`${node.name} reads ${input}, which lies below the cut`);
      }
      known.add(node.name);
      if (step.kind === 'constant' && fixed.has(step.input)) fixed.add(node.name);
    }
    if (!known.has(featureMap)) throw new Error(`the rebuilt blocks do not reach ${featureMap}`);
    return steps;
  }

  /** x·c or x − c with c a constant of the graph (the input's rescaling to [-1, 1]). */
  private constantStep(node: TfNode, inputs: string[]): Step {
    const at = inputs.findIndex((i) => this.graph.weights[i] !== undefined);
    if (at === -1 || (node.op === 'Sub' && at === 0)) throw new Error(`${node.name}: ${node.op} of two computed values cannot be fine-tuned`);
    return { kind: 'constant', name: node.name, op: node.op === 'Mul' ? 'mul' : 'sub', input: inputs[1 - at], constant: inputs[at] };
  }

  private convolution(node: TfNode, inputs: string[], fixed: Set<string>): Step {
    const fused = (node.attr?.fused_ops?.list?.s ?? []).map((s) => Buffer.from(s, 'base64').toString('utf8'));
    if (!fused.includes('BiasAdd') || fused.some((op) => !['BiasAdd', 'Relu6'].includes(op))) throw new Error(`${node.name}: fused ${fused.join(', ')} cannot be fine-tuned`);
    if (Buffer.from(node.attr?.padding?.s ?? '', 'base64').toString('utf8') !== 'SAME') throw new Error(`${node.name}: only SAME padding can be fine-tuned`);
    const stride = Number(node.attr?.strides?.list?.i?.[1] ?? 1);
    const activation: Activation = fused.includes('Relu6') ? 'relu6' : 'linear';
    const [input, filter, bias] = inputs;
    if (node.op === 'FusedDepthwiseConv2dNative') {
      if (stride !== 1 && stride !== 2) throw new Error(`${node.name}: stride ${stride} cannot be fine-tuned`);
      return { kind: 'depthwise', name: node.name, input, filter, bias, stride, activation };
    }
    const shape = this.graph.weights[filter]?.[0]?.shape ?? [];
    if (fixed.has(input) && node.op === '_FusedConv2D') return { kind: 'input-conv', name: node.name, input, filter, bias, stride, activation };
    if (shape[0] !== 1 || shape[1] !== 1 || stride !== 1) throw new Error(`${node.name}: only 1×1 stride-1 convolutions can be fine-tuned (filter ${shape.join('x')}, stride ${stride})`);
    return { kind: 'pointwise', name: node.name, input, filter, bias, activation };
  }
}

/** The blocks above a cut as a function of tf.variables: cut activations in, pooled features out. */
export class TrainableBlocks {
  constructor(
    readonly cut: CutPoint,
    private readonly steps: Step[],
    private readonly byName: Map<string, tf.Variable>,
    /** Fixed tensors of the graph the steps use (the input's rescaling): not trained, not stored. */
    private readonly constants = new Map<string, tf.Tensor>(),
    readonly gradients: GradientSource = 'custom',
  ) {}

  get variables(): tf.Variable[] {
    return [...this.byName.values()];
  }

  /** [batch, h, w, c] at the cut (any h, w: crops train too) -> [batch, channels] globally average-pooled. */
  apply(activations: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const values = new Map<string, tf.Tensor4D>([[this.cut.node, activations]]);
      let last: tf.Tensor4D = activations;
      for (const step of this.steps) {
        if (step.kind === 'add') last = tf.add(values.get(step.inputs[0])!, values.get(step.inputs[1])!);
        else if (step.kind === 'constant') {
          const x = values.get(step.input)!;
          const c = this.constants.get(step.constant)!;
          last = step.op === 'mul' ? tf.mul(x, c) : tf.sub(x, c);
        } else {
          const x = values.get(step.input)!;
          const filter = this.byName.get(step.filter)!;
          const bias = this.byName.get(step.bias)! as tf.Tensor1D;
          if (this.gradients === 'tfjs') last = tfjsConvolution(step, x, filter, bias);
          else if (step.kind === 'pointwise') last = pointwiseConv(x, filter as tf.Tensor2D, bias, step.activation);
          else if (step.kind === 'depthwise') last = depthwiseConv(x, filter as tf.Tensor4D, bias, step.stride, step.activation);
          else last = inputConv(x, filter as tf.Tensor4D, bias, step.stride, step.activation);
        }
        values.set(step.name, last);
      }
      return tf.mean(last, [1, 2]) as tf.Tensor2D;
    });
  }

  /** Weights under the graph's names (1×1 filters as [in, out]); the variables themselves, not copies. */
  namedWeights(): tf.NamedTensorMap {
    return Object.fromEntries(this.byName);
  }

  dispose(): void {
    for (const v of this.byName.values()) v.dispose();
    for (const c of this.constants.values()) c.dispose();
  }
}

/** A step as plain TF.js ops, whose gradients TF.js derives (its fused ops have none for ReLU6). */
function tfjsConvolution(step: Extract<Step, { filter: string }>, x: tf.Tensor4D, filter: tf.Tensor, bias: tf.Tensor1D): tf.Tensor4D {
  let z: tf.Tensor4D;
  if (step.kind === 'pointwise') z = tf.conv2d(x, tf.reshape(filter, [1, 1, ...(filter as tf.Tensor2D).shape]) as tf.Tensor4D, 1, 'same');
  else if (step.kind === 'depthwise') z = tf.depthwiseConv2d(x, filter as tf.Tensor4D, step.stride, 'same');
  else z = tf.conv2d(x, filter as tf.Tensor4D, step.stride, 'same');
  const biased = tf.add(z, bias) as tf.Tensor4D;
  return step.activation === 'relu6' ? tf.relu6(biased) : biased;
}

function inputsOf(node: TfNode): string[] {
  return (node.input ?? []).filter((i) => !i.startsWith('^')).map((i) => i.replace(/:0$/, ''));
}

/**
 * For each trained weight (by the graph's name), the relative L2 difference between gradients.ts's
 * gradient and TF.js's own for the same batch (loss: sum of squared features). `x` stays the caller's.
 */
export async function gradientGaps(graph: BuiltinGraph, cut: CutPoint, x: tf.Tensor4D): Promise<Array<{ name: string; relError: number }>> {
  const gradientsOf = async (gradients: GradientSource) => {
    const blocks = graph.trainable(cut, undefined, { gradients });
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(blocks.apply(x))) as tf.Scalar, blocks.variables);
    const named = Object.entries(blocks.namedWeights()).map(([name, v]) => ({ name, values: grads[(v as tf.Variable).name] }));
    // Read asynchronously: WebGPU in Node cannot read back synchronously.
    const read = await Promise.all(named.map(async ({ name, values }) => ({ name, values: (await values.data()) as Float32Array })));
    tf.dispose([value, ...Object.values(grads)]);
    blocks.dispose();
    return read;
  };
  const ours = await gradientsOf('custom');
  const theirs = await gradientsOf('tfjs');
  return ours.map(({ name, values }, i) => {
    let diff = 0;
    let norm = 0;
    values.forEach((v, j) => {
      diff += (v - theirs[i].values[j]) ** 2;
      norm += theirs[i].values[j] ** 2;
    });
    return { name, relError: Math.sqrt(diff / Math.max(norm, 1e-30)) };
  });
}
