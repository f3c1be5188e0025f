import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BUILTIN_BACKBONE } from '../src/shared/builtin-backbone.js';
import { selectBackend, type BackendChoice } from '../src/engine/ml/runtime/compute-backend.js';
import { loadBackbone } from '../src/engine/ml/backbone/backbone.js';
import { trainStep, type FineTunedNet } from '../src/engine/ml/training/block-trainer.js';
import { createRng } from '../src/engine/common/rng.js';
import { EmbeddingHead } from '../src/engine/ml/training/head.js';
import { decodedInputs } from '../src/engine/ml/training/pixel-batches.js';
import { BuiltinGraph, gradientGaps, type CutPoint, type GradientSource } from '../src/engine/ml/backbone/trainable-backbone.js';
import { setUpWebGpu } from '../src/engine/ml/runtime/webgpu.js';
import { flag, printReport, type BenchReport } from './report.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** MobileNetV2-1.4 at 224x224: [spatial size, depthwise channels, 1x1 conv input -> output channels] per stage. */
const STAGES: Array<[number, number, number, number]> = [
  [112, 48, 48, 24],
  [56, 192, 192, 32],
  [28, 288, 288, 48],
  [14, 528, 528, 88],
  [7, 1344, 1344, 224],
  [7, 448, 448, 1792],
];

type Row = Record<string, unknown>;

/**
 * gpu: TF.js on WebGPU (dawn.node) — the adapter, matMul TFLOP/s, forward and backward times of the
 * convolutions MobileNetV2 is made of, the built-in backbone's inference images/s, fine-tune
 * triplets/s (last-blocks and full, through gradients.ts's gradients and through TF.js's own); PyTorch CUDA on the same machine as the peer where it is installed (bench/torch_peer.py).
 * On a software adapter (SwiftShader) it runs tiny sizes and checks correctness against the cpu
 * backend only: its times say nothing about a GPU.
 *   --batch N (images per op on a GPU, default 96)   --reps N (default 10; 1 on a software adapter)
 *   --tiny (tiny sizes on a GPU too)   --only matmul,ops,inference,fine-tune,peer (default: all)
 */
export async function run(args: string[]): Promise<BenchReport> {
  const backend = await webGpuBackend();
  if ('skipped' in backend) return { bench: 'gpu', results: [{ row: 'adapter', skipped: backend.skipped }], notes: [backend.skipped] };
  const adapter = backend.adapter!;
  const tiny = adapter.software || args.includes('--tiny');
  const reps = Number(flag(args, 'reps', tiny ? '1' : '10'));
  const batch = Number(flag(args, 'batch', tiny ? '2' : '96'));
  const only = new Set(flag(args, 'only', 'matmul,ops,inference,fine-tune,peer').split(','));
  const notes: string[] = [];
  if (tiny) notes.push(`${adapter.description || adapter.architecture} is ${adapter.software ? 'a software adapter' : 'run with --tiny'}: tiny sizes, correctness only; the times are not GPU figures`);

  const say = (what: string) => process.stderr.write(`gpu: ${what}…\n`);
  say(`adapter ${adapter.vendor} ${adapter.architecture} (${adapter.description})`);
  const results: Row[] = [{ row: 'adapter', vendor: adapter.vendor, architecture: adapter.architecture, description: adapter.description, software: adapter.software }];
  if (only.has('matmul')) {
    say('matMul');
    results.push(await matMulRow(tiny ? 256 : 4096, reps, tiny));
  }
  if (only.has('ops')) {
    say('convolutions, forward and backward');
    for (const stage of STAGES) results.push(...(await convRows(stage, tiny ? 2 : batch, reps, tiny)));
  }
  if (only.has('inference')) {
    say('built-in backbone inference');
    results.push(...(await inferenceRows(tiny ? [1] : [32, 128], reps)));
  }
  if (only.has('fine-tune')) {
    say('fine-tuning, custom and TF.js gradients');
    results.push(...(await fineTuneRows(tiny, reps)));
  }
  if (only.has('peer')) {
    say('PyTorch peer');
    const peer = torchPeer(tiny);
    results.push(...('skipped' in peer ? [{ row: 'pytorch peer', skipped: peer.skipped }] : peer.rows));
  }
  addRatios(results);
  return { bench: 'gpu', results, notes };
}

/** WebGPU forced; with no driver named and none found, SwiftShader's (Debian chromium) where installed. */
async function webGpuBackend(): Promise<BackendChoice | { skipped: string }> {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) {
    const probe = await setUpWebGpu({ needDriverFiles: true });
    if (!probe.adapter) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  try {
    return await selectBackend('webgpu');
  } catch (error) {
    return { skipped: `no WebGPU adapter: ${(error as Error).message}` };
  }
}

/** Mean milliseconds of f over reps runs after one warm-up (which compiles the shaders), waiting for the GPU. */
async function time(f: () => tf.Tensor, reps: number): Promise<number> {
  const warm = f();
  await warm.data();
  warm.dispose();
  const started = performance.now();
  for (let i = 0; i < reps; i++) {
    const out = f();
    if (i === reps - 1) await out.data();
    out.dispose();
  }
  return (performance.now() - started) / reps;
}

async function matMulRow(n: number, reps: number, check: boolean): Promise<Row> {
  const make = () => [tf.randomNormal([n, n], 0, 1, 'float32', 1), tf.randomNormal([n, n], 0, 1, 'float32', 2)];
  const matMul = ([a, b]: tf.Tensor[]) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D);
  const inputs = make();
  const ms = await time(() => matMul(inputs), reps);
  tf.dispose(inputs);
  const row: Row = { row: `matMul ${n}x${n}`, ms: round(ms, 3), tflops: significant((2 * n ** 3) / ms / 1e9) };
  if (check) row.max_rel_error_vs_cpu = await againstCpu(make, matMul);
  return row;
}

type Op = (inputs: tf.Tensor[]) => tf.Tensor;

/** Depthwise 3x3 and 1x1 conv at one stage: forward, input gradient, filter gradient (TF.js's own). */
async function convRows([size, dwChannels, pwIn, pwOut]: [number, number, number, number], batch: number, reps: number, tiny: boolean): Promise<Row[]> {
  const h = tiny ? Math.max(4, size / 8) : size;
  const rows: Row[] = [];
  const measure = async (label: string, make: () => tf.Tensor[], ops: Record<string, Op>) => {
    const row: Row = { row: label };
    const inputs = make();
    for (const [name, op] of Object.entries(ops)) row[`${name}_ms`] = round(await time(() => op(inputs), reps), 3);
    tf.dispose(inputs);
    if (tiny) {
      // One at a time: each check switches the backend to cpu and back.
      let worst = 0;
      for (const op of Object.values(ops)) worst = Math.max(worst, await againstCpu(make, op));
      row.max_rel_error_vs_cpu = worst;
    }
    rows.push(row);
  };
  // x, filter, and the gradient arriving from above (dy): the loss sum(conv(x, w) * dy) has exactly that gradient.
  const inputsOf = (xShape: number[], wShape: number[], yShape: number[], seed: number) => () => [
    tf.randomNormal(xShape, 0, 1, 'float32', seed),
    tf.randomNormal(wShape, 0, 0.2, 'float32', seed + 1),
    tf.randomNormal(yShape, 0, 1, 'float32', seed + 2),
  ];
  const depthwise = (x: tf.Tensor, w: tf.Tensor, dy: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), dy));
  await measure(`depthwise 3x3 ${batch}x${h}x${h}x${dwChannels}`, inputsOf([batch, h, h, dwChannels], [3, 3, dwChannels, 1], [batch, h, h, dwChannels], 3), {
    forward: ([x, w]) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
    input_grad: ([x, w, dy]) => tf.grad((xx) => depthwise(xx, w, dy))(x),
    filter_grad: ([x, w, dy]) => tf.grad((ww) => depthwise(x, ww, dy))(w),
  });
  const pointwise = (x: tf.Tensor, w: tf.Tensor, dy: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'), dy));
  await measure(`1x1 conv ${batch}x${h}x${h}x${pwIn}->${pwOut}`, inputsOf([batch, h, h, pwIn], [1, 1, pwIn, pwOut], [batch, h, h, pwOut], 6), {
    forward: ([x, w]) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'),
    input_grad: ([x, w, dy]) => tf.grad((xx) => pointwise(xx, w, dy))(x),
    filter_grad: ([x, w, dy]) => tf.grad((ww) => pointwise(x, ww, dy))(w),
  });
  return rows;
}

/**
 * The built-in backbone (nsfwjs MobileNetV2-1.4 graph, to its pool) on TF.js WebGPU, through embed()
 * as the app calls it: pixel scaling on the CPU, upload, the graph, download of the features.
 */
async function inferenceRows(batches: number[], reps: number): Promise<Row[]> {
  const before = process.env.LOOKALIKE_BACKBONE_RUNTIME;
  process.env.LOOKALIKE_BACKBONE_RUNTIME = 'tfjs';
  const backbone = await loadBackbone();
  if (before === undefined) delete process.env.LOOKALIKE_BACKBONE_RUNTIME;
  else process.env.LOOKALIKE_BACKBONE_RUNTIME = before;
  const rows: Row[] = [];
  for (const batch of batches) {
    const images = Array.from({ length: batch }, (_, i) => Uint8Array.from({ length: BUILTIN_BACKBONE.inputSize ** 2 * 3 }, (_, j) => (j * 7 + i * 31) % 256));
    await backbone.embed(images);
    const started = performance.now();
    for (let i = 0; i < reps; i++) await backbone.embed(images);
    const ms = (performance.now() - started) / reps;
    rows.push({ row: `backbone inference, batch ${batch}`, runtime: backbone.runtime, ms: round(ms, 1), images_per_s: significant((batch / ms) * 1000) });
  }
  backbone.dispose();
  return rows;
}

/**
 * Training steps of the app's own trainer (block-trainer.ts trainStep: blocks and a 128-d head,
 * two Adams, the triplet loss) at 32 triplets a step, 224×224 (1 triplet at 32×32 on a software
 * adapter), each with gradients.ts's gradients ("fine-tune …", the app's path, compared with
 * PyTorch's row of the same name) and with TF.js's own ("…, TF.js gradients").
 *   last-blocks: the last block and the final 1×1 conv, on 6×6 crops of the 7×7 cut map (N = 1, the
 *     default, as the app trains them; the maps are random here: the cost does not depend on them).
 *   full: the whole network on photos (random pixels), with the app's crop and mirror on the device.
 * Where tiny, the two gradients of one step are compared instead of trusting the times.
 */
async function fineTuneRows(tiny: boolean, reps: number): Promise<Row[]> {
  const graph = await BuiltinGraph.load();
  const triplets = tiny ? 1 : 32;
  const side = tiny ? 32 : BUILTIN_BACKBONE.inputSize;
  const order = Array.from({ length: 3 * triplets }, (_, i) => i);
  const pixels = Array.from({ length: 3 * triplets }, (_, i) => Uint8Array.from({ length: side * side * 3 }, (_, j) => (j * 7 + i * 31) % 256));
  const photos = decodedInputs(pixels, side);
  const augment = createRng(1);
  const lastBlocks = graph.cutPoint(1);
  const [h, , c] = lastBlocks.shape;
  const cases: Array<{ mode: string; cut: CutPoint; input: () => Promise<tf.Tensor4D>; shape: string }> = [
    { mode: 'last-blocks', cut: lastBlocks, input: async () => tf.randomUniform([3 * triplets, h - 1, h - 1, c], 0, 6, 'float32', 3) as tf.Tensor4D, shape: `${h - 1}x${h - 1}x${c}` },
    { mode: 'full', cut: graph.inputCut(side), input: () => photos.batch(order, augment), shape: `${side}x${side}x3` },
  ];
  const rows: Row[] = [];
  for (const { mode, cut, input, shape } of cases) {
    for (const gradients of ['custom', 'tfjs'] as GradientSource[]) {
      const net: FineTunedNet = { blocks: graph.trainable(cut, undefined, { gradients }), head: EmbeddingHead.create({ inputDim: BUILTIN_BACKBONE.featureDim, dim: 128, hidden: 0, normalize: true }, 1) };
      const headOptimizer = tf.train.adam(1e-3);
      const blockOptimizer = tf.train.adam(1e-4);
      const step = async () => {
        const x = await input();
        const loss = await trainStep(net, headOptimizer, blockOptimizer, x, [1]);
        x.dispose();
        return loss;
      };
      const first = await step(); // compiles the shaders and makes Adam's slots
      const started = performance.now();
      for (let i = 0; i < reps; i++) await step();
      const ms = (performance.now() - started) / reps;
      const row: Row = { row: `fine-tune ${mode}${gradients === 'tfjs' ? ', TF.js gradients' : ''}`, input: shape, batch_triplets: triplets, ms: round(ms, 1), triplets_per_s: significant((triplets / ms) * 1000), loss_finite: Number.isFinite(first) };
      headOptimizer.dispose();
      blockOptimizer.dispose();
      net.head.dispose();
      net.blocks.dispose();
      rows.push(row);
    }
    if (tiny) {
      const x = await input();
      const worst = Math.max(...(await gradientGaps(graph, cut, x)).map((g) => g.relError));
      x.dispose();
      rows.at(-2)!.max_rel_error_vs_tfjs_gradients = Number(worst.toExponential(2));
    }
  }
  graph.dispose();
  return rows;
}

/** Max relative error of op on this backend against the cpu backend, each on inputs it makes itself (seeded, so equal). */
async function againstCpu(make: () => tf.Tensor[], op: Op): Promise<number> {
  const runOnce = async () => {
    const inputs = make();
    const out = op(inputs);
    const values = (await out.data()) as Float32Array;
    tf.dispose([...inputs, out]);
    return values;
  };
  const actual = await runOnce();
  const backend = tf.getBackend();
  await tf.setBackend('cpu');
  let reference: Float32Array;
  try {
    reference = await runOnce();
  } finally {
    await tf.setBackend(backend);
  }
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - reference[i]));
    scale = Math.max(scale, Math.abs(reference[i]));
  }
  return Number((scale === 0 ? diff : diff / scale).toExponential(2));
}

/** bench/torch_peer.py on the same machine: PyTorch CUDA where installed, else a one-line reason. */
function torchPeer(tiny: boolean): { rows: Row[] } | { skipped: string } {
  try {
    const out = execFileSync('python3', [new URL('./torch_peer.py', import.meta.url).pathname, ...(tiny ? ['--tiny'] : [])], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 600_000,
    });
    const last = JSON.parse(out.trim().split('\n').at(-1)!) as { skipped?: string; rows?: Row[] };
    return last.skipped ? { skipped: last.skipped } : { rows: last.rows ?? [] };
  } catch (error) {
    return { skipped: String((error as { stderr?: string }).stderr || (error as Error).message).trim().split('\n').at(-1)! };
  }
}

/** Each TF.js row with a PyTorch row of the same name gets ratio_vs_torch (TF.js / PyTorch, in speed). */
function addRatios(results: Row[]): void {
  for (const row of results) {
    const peer = results.find((r) => r.peer === 'pytorch' && r.row === row.row);
    if (!peer || row === peer) continue;
    for (const key of ['tflops', 'images_per_s', 'triplets_per_s']) {
      if (typeof row[key] === 'number' && typeof peer[key] === 'number') row.ratio_vs_torch = round((row[key] as number) / (peer[key] as number), 3);
    }
  }
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}

function significant(value: number): number {
  return Number(value.toPrecision(3));
}

if (import.meta.url === `file://${process.argv[1]}`) printReport(await run(process.argv.slice(2)), process.argv.includes('--json'));
