import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { ModelInfo } from '../../shared/api.js';
import { BUILTIN_BACKBONE } from '../../shared/builtin-backbone.js';
import { conflict, invalidInput, notFound } from '../../shared/errors.js';
import type { BackboneSpec } from '../ml/backbone.js';
import { CENTRE_WEIGHT, type HeadConfig } from '../ml/head.js';
import { headToOnnx, readTfjsLayersModel, tfjsLayersModel, type HeadWeights } from '../ml/model-export.js';
import { encodeModel } from '../ml/onnx-proto.js';
import type { Store } from '../store/store.js';
import { fineTuneConfig, type FineTuneConfig } from './fine-tune.js';
import { fineTunedFiles, importFineTunedWeights } from './fine-tuned-transfer.js';
import { runClasses } from './labels.js';

export const CARD_FORMAT = 'lookalike-model';
/** 2: cards of fine-tuned models (fineTune, network); head-only cards stay 1, and both import. */
export const CARD_VERSION = 2;
export const CARD_FILE = 'card.json';
const HEAD_FILES = { tfjs: 'tfjs/model.json', onnx: 'head.onnx' };
const FINE_TUNED_FILES = { ...HEAD_FILES, backbone: 'tfjs-backbone/model.json', network: 'network.onnx' };

/** What travels with an exported model: enough to know what it is and to use it elsewhere. */
export interface ModelCard {
  format: typeof CARD_FORMAT;
  version: number;
  name: string;
  trainedAt: string;
  exportedAt: string;
  backbone: string;
  backboneSpec: BackboneSpec;
  head: HeadConfig;
  /** The features go in L2-normalised; the embedding comes out L2-normalised when head.normalize. */
  inputNormalized: true;
  settings: Record<string, unknown> | null;
  classes: Array<{ name: string; photoCount: number }> | null;
  validation: { trained: unknown; baseline: unknown } | null;
  /** Fine-tuned models: the blocks above the cut were trained and travel in the backbone graph model. */
  fineTune?: FineTuneConfig & { mode: 'last-blocks' };
  /** Fine-tuned models: how to run network.onnx (image in, embedding out). */
  network?: { input: string; layout: 'NHWC'; size: typeof BUILTIN_BACKBONE.inputSize; range: typeof BUILTIN_BACKBONE.inputRange; output: 'embedding' };
  /** Centred heads (head.centre): the mean input feature, float32 little-endian, inputDim values (head.onnx holds it too). */
  files: { tfjs: string; onnx: string; backbone?: string; network?: string; centre?: string };
}

const CENTRE_FILE = 'centre.bin';

/**
 * Writes a trained model to a new folder: the head as a TF.js layers model (tfjs/), the same head
 * as ONNX (head.onnx, normalisations included), and card.json. A fine-tuned model adds its backbone
 * with the trained blocks as a TF.js graph model (tfjs-backbone/) and the whole network, image to
 * embedding, as network.onnx. Never writes into a non-empty folder.
 */
export async function exportModel(store: Store, modelId: number, folder: string): Promise<{ folder: string; files: string[] }> {
  const model = store.model(modelId);
  if (!model) throw notFound(`no model ${modelId}`);
  if (model.kind !== 'trained') throw invalidInput(`model ${modelId} is the untrained backbone: there is no head to export; train one first`);
  const settings = (model.config.settings ?? null) as Record<string, unknown> | null;
  const fineTune = fineTuneConfig(model);
  if (!fineTune && settings && settings.fineTune !== undefined && settings.fineTune !== 'head') {
    throw invalidInput(`model ${modelId} was trained with fine-tune ${String(settings.fineTune)}, which has no export`);
  }
  if (typeof folder !== 'string' || !isAbsolute(folder.trim())) throw invalidInput(`${String(folder)}: give the full path of a new folder to export to`);
  const target = resolve(folder.trim());
  if (existsSync(target) && readdirSync(target).length > 0) throw conflict(`${target}: the folder is not empty; choose a new or empty one (nothing is overwritten)`);
  const weights = store.modelWeights(modelId);
  if (!weights) throw notFound(`model ${modelId} has no stored weights`);
  const head = headWeights(model.config.head as HeadConfig, weights);
  const run = model.runId === null ? null : store.run(model.runId);
  const card: ModelCard = {
    format: CARD_FORMAT,
    version: fineTune ? 2 : 1,
    name: model.name,
    trainedAt: model.createdAt,
    exportedAt: new Date().toISOString(),
    backbone: model.backbone,
    backboneSpec: model.config.backboneSpec as BackboneSpec,
    head: head.config,
    inputNormalized: true,
    settings,
    classes: model.runId === null ? ((model.config.classes as ModelCard['classes']) ?? null) : runClasses(store, model.runId),
    validation: { trained: model.metrics ?? run?.trained ?? null, baseline: run?.baseline ?? null },
    ...(fineTune ? { fineTune: { mode: 'last-blocks' as const, ...fineTune }, network: { input: 'image', layout: 'NHWC' as const, size: BUILTIN_BACKBONE.inputSize, range: BUILTIN_BACKBONE.inputRange, output: 'embedding' as const } } : {}),
    files: { ...(fineTune ? FINE_TUNED_FILES : HEAD_FILES), ...(head.centre ? { centre: CENTRE_FILE } : {}) },
  };
  const extra = fineTune ? await fineTunedFiles(store, model, head) : null;
  const layers = tfjsLayersModel(head);
  await mkdir(join(target, 'tfjs'), { recursive: true });
  await writeFile(join(target, 'tfjs', 'model.json'), JSON.stringify(layers.modelJson), { flag: 'wx' });
  await writeFile(join(target, 'tfjs', 'weights.bin'), layers.weights, { flag: 'wx' });
  await writeFile(join(target, 'head.onnx'), encodeModel(headToOnnx(head)), { flag: 'wx' });
  const files = [CARD_FILE, 'tfjs/model.json', 'tfjs/weights.bin', 'head.onnx'];
  if (head.centre) {
    await writeFile(join(target, CENTRE_FILE), Buffer.from(head.centre.buffer, head.centre.byteOffset, head.centre.byteLength), { flag: 'wx' });
    files.push(CENTRE_FILE);
  }
  if (extra) {
    await mkdir(join(target, 'tfjs-backbone'));
    await writeFile(join(target, 'tfjs-backbone', 'model.json'), JSON.stringify(extra.graphModel.modelJson), { flag: 'wx' });
    await writeFile(join(target, 'tfjs-backbone', 'weights.bin'), extra.graphModel.weights, { flag: 'wx' });
    await writeFile(join(target, 'network.onnx'), encodeModel(extra.network), { flag: 'wx' });
    files.push('tfjs-backbone/model.json', 'tfjs-backbone/weights.bin', 'network.onnx');
  }
  await writeFile(join(target, CARD_FILE), JSON.stringify(card, null, 2) + '\n', { flag: 'wx' });
  return { folder: target, files };
}

/**
 * Adds an exported model (its folder, or its card.json) to a library. The same export imported
 * twice into one library is one model. The caller indexes the library with it.
 */
export async function importModel(store: Store, libraryId: number, source: string): Promise<{ modelId: number; created: boolean }> {
  if (typeof source !== 'string' || source.trim() === '') throw invalidInput('choose an exported model folder (or its card.json)');
  const path = resolve(source.trim());
  const folder = path.endsWith('.json') ? resolve(path, '..') : path;
  const cardPath = path.endsWith('.json') ? path : join(path, CARD_FILE);
  const cardText = await readFile(cardPath, 'utf8').catch(() => {
    throw notFound(`${cardPath}: no model card here (export a model first; its folder holds card.json)`);
  });
  let card: ModelCard;
  try {
    card = JSON.parse(cardText) as ModelCard;
  } catch {
    throw invalidInput(`${cardPath}: not valid JSON`);
  }
  if (card.format !== CARD_FORMAT || !(card.version === 1 || card.version === CARD_VERSION)) throw invalidInput(`${cardPath}: not a Lookalike model card (format ${String(card.format)} version ${String(card.version)})`);
  const fingerprint = createHash('sha256').update(cardText).digest('hex');
  const existing = store.models(libraryId).find((m) => m.config.importedCard === fingerprint);
  if (existing) return { modelId: existing.id, created: false };
  const modelJson = JSON.parse(await readFile(join(folder, card.files.tfjs), 'utf8')) as unknown;
  const weightsPath = join(folder, 'tfjs', 'weights.bin');
  const head = readTfjsLayersModel(modelJson, await readFile(weightsPath), card.head);
  if (card.head.centre) head.centre = await readCentre(join(folder, card.files.centre ?? CENTRE_FILE), card.head.inputDim);
  const fineTune = card.fineTune ? { blocks: card.fineTune.blocks, cutNode: card.fineTune.cutNode, crop: card.fineTune.crop, mirror: card.fineTune.mirror } : null;
  let weights = packHeadWeights(head);
  if (fineTune) {
    const backboneJson = join(folder, card.files.backbone ?? FINE_TUNED_FILES.backbone);
    const graphJson = JSON.parse(await readFile(backboneJson, 'utf8')) as unknown;
    const graphWeights = await readFile(join(folder, 'tfjs-backbone', 'weights.bin'));
    weights = await importFineTunedWeights(fineTune, card.head, weights, graphJson, graphWeights, backboneJson).catch((error: unknown) => {
      throw invalidInput(`${backboneJson}: cannot read the fine-tuned blocks (${(error as Error).message})`);
    });
  }
  const modelId = store.createModel({
    libraryId,
    name: `Imported: ${card.name}`,
    kind: 'trained',
    backbone: card.backbone,
    backboneDim: card.head.inputDim,
    dim: card.head.dim,
    config: {
      head: card.head,
      backboneSpec: card.backboneSpec,
      settings: card.settings,
      classes: card.classes,
      importedCard: fingerprint,
      importedFrom: folder,
      cardValidation: card.validation,
      ...(fineTune ? { fineTune } : {}),
    },
    runId: null,
    weights,
  });
  return { modelId, created: true };
}

export function toModelInfo(store: Store, modelId: number): ModelInfo {
  const m = store.model(modelId)!;
  return { id: m.id, name: m.name, kind: m.kind, backbone: m.backbone, dim: m.dim, createdAt: m.createdAt, runId: m.runId, metrics: m.metrics, indexedCount: store.embeddingCount(m.id) };
}

/** Stored weights (head.ts's packTensors format: u32 header length, JSON [{name, shape}], float32 data) to layers. */
export function headWeights(config: HeadConfig, blob: Buffer): HeadWeights {
  const headerLength = blob.readUInt32LE(0);
  const header = JSON.parse(blob.subarray(4, 4 + headerLength).toString('utf8')) as Array<{ name: string; shape: number[] }>;
  const tensors = new Map<string, { shape: number[]; values: Float32Array }>();
  let offset = 4 + headerLength;
  for (const { name, shape } of header) {
    const count = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(count);
    new Uint8Array(values.buffer).set(blob.subarray(offset, offset + count * 4));
    offset += count * 4;
    tensors.set(name, { shape, values });
  }
  const layers: HeadWeights['layers'] = [];
  for (let i = 0; tensors.has(`head_w${i}`); i += 2) {
    const kernel = tensors.get(`head_w${i}`)!;
    const bias = tensors.get(`head_b${i + 1}`);
    if (!bias) throw new Error(`stored weights lack head_b${i + 1}`);
    layers.push({ kernel: kernel.values, bias: bias.values, inputs: kernel.shape[0], units: kernel.shape[1] });
  }
  if (layers.length === 0) throw new Error('stored weights hold no head layers');
  const centre = tensors.get(CENTRE_WEIGHT)?.values;
  if (config.centre && !centre) throw new Error(`stored weights lack ${CENTRE_WEIGHT}, which a centred head needs`);
  return { config, layers, ...(centre ? { centre } : {}) };
}

/** A centred model's mean feature from its export: inputDim float32 values, or a refusal naming the file. */
async function readCentre(path: string, inputDim: number): Promise<Float32Array> {
  const bytes = await readFile(path).catch(() => {
    throw invalidInput(`${path}: missing; the card says the model centres its features on the mean kept in this file`);
  });
  if (bytes.length !== inputDim * 4) throw invalidInput(`${path}: holds ${bytes.length} bytes, expected ${inputDim} float32 values (${inputDim * 4} bytes)`);
  const centre = new Float32Array(inputDim);
  new Uint8Array(centre.buffer).set(bytes);
  return centre;
}

/** Layers back to head.ts's stored format (the inverse of headWeights). */
export function packHeadWeights(head: HeadWeights): Buffer {
  const entries = head.layers.flatMap((layer, i) => [
    { name: `head_w${2 * i}`, shape: [layer.inputs, layer.units], values: layer.kernel },
    { name: `head_b${2 * i + 1}`, shape: [layer.units], values: layer.bias },
  ]);
  if (head.centre) entries.push({ name: CENTRE_WEIGHT, shape: [head.centre.length], values: head.centre });
  const header = Buffer.from(JSON.stringify(entries.map(({ name, shape }) => ({ name, shape }))), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  return Buffer.concat([length, header, ...entries.map((e) => Buffer.from(e.values.buffer, e.values.byteOffset, e.values.byteLength))]);
}
