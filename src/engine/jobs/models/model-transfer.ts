import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { ModelInfo } from '../../../shared/api.js';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { conflict, invalidInput, notFound } from '../../../shared/errors.js';
import { readConfinedFile } from '../../common/confined-file.js';
import { describeFileError, formatBytes } from '../../common/error-words.js';
import { summariseNames } from '../../common/name-list.js';
import { makePrivateFolder, writePrivateFile } from '../../common/private-files.js';
import { describeSpec, type BackboneSpec } from '../../ml/backbone/backbone.js';
import { CENTRE_WEIGHT, type HeadConfig } from '../../ml/training/head.js';
import { checkFinite, headToOnnx, readTfjsLayersModel, tfjsLayersModel, type HeadWeights } from '../../ml/export/head-weights.js';
import { graphManifest } from '../../ml/export/network-export.js';
import { encodeModel } from '../../ml/runtime/onnx-proto.js';
import type { Store } from '../../store/store.js';
import { fineTuneConfig } from './fine-tuned-net.js';
import { fineTunedFiles, importFineTunedWeights } from './model-transfer-fine-tuned.js';
import { runClasses } from '../files/label-changes.js';
import { CARD_FILE, CARD_FORMAT, CARD_LIMITS, checkCard, type ModelCard } from './model-card.js';

export { CARD_FILE, CARD_FORMAT, CARD_VERSION, type ModelCard } from './model-card.js';

const HEAD_FILES = { tfjs: 'tfjs/model.json', onnx: 'head.onnx' };
const FINE_TUNED_FILES = { ...HEAD_FILES, backbone: 'tfjs-backbone/model.json', network: 'network.onnx' };
/** The weights files sit beside their model.json as the export wrote them; the card does not name them. */
const HEAD_WEIGHTS = 'tfjs/weights.bin';
const BACKBONE_WEIGHTS = 'tfjs-backbone/weights.bin';

const CENTRE_FILE = 'centre.bin';

/**
 * Writes a trained model to a new folder: the head as a TF.js layers model (tfjs/), the same head
 * as ONNX (head.onnx, normalisations included), and card.json. A fine-tuned model adds its backbone
 * with the trained blocks as a TF.js graph model (tfjs-backbone/) and the whole network, image to
 * embedding, as network.onnx. Never writes into a non-empty folder.
 */
export async function exportModel(store: Store, modelId: number, folder: unknown): Promise<{ folder: string; files: string[] }> {
  const model = store.model(modelId);
  if (!model) throw notFound(`no model ${modelId}`);
  if (model.kind !== 'trained') throw invalidInput(`model ${modelId} is the untrained backbone: there is no head to export; train one first`);
  const settings = (model.config.settings ?? null) as Record<string, unknown> | null;
  const fineTune = fineTuneConfig(model);
  if (!fineTune && settings && settings.fineTune !== undefined && settings.fineTune !== 'head') {
    throw invalidInput(`model ${modelId} was trained with fine-tune ${String(settings.fineTune)}, which has no export`);
  }
  const target = exportTarget(folder);
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
  // A model is the owner's data: 0600 files in 0700 folders whatever the umask, nothing replaced.
  const write = (name: string, data: string | Uint8Array) => writePrivateFile(join(target, name), data);
  await makePrivateFolder(target);
  await makePrivateFolder(join(target, 'tfjs'));
  await write('tfjs/model.json', JSON.stringify(layers.modelJson));
  await write(HEAD_WEIGHTS, layers.weights);
  await write('head.onnx', encodeModel(headToOnnx(head)));
  const files = [CARD_FILE, 'tfjs/model.json', HEAD_WEIGHTS, 'head.onnx'];
  if (head.centre) {
    await write(CENTRE_FILE, Buffer.from(head.centre.buffer, head.centre.byteOffset, head.centre.byteLength));
    files.push(CENTRE_FILE);
  }
  if (extra) {
    await makePrivateFolder(join(target, 'tfjs-backbone'));
    await write('tfjs-backbone/model.json', JSON.stringify(extra.graphModel.modelJson));
    await write(BACKBONE_WEIGHTS, extra.graphModel.weights);
    await write('network.onnx', encodeModel(extra.network));
    files.push('tfjs-backbone/model.json', BACKBONE_WEIGHTS, 'network.onnx');
  }
  await write(CARD_FILE, JSON.stringify(card, null, 2) + '\n');
  return { folder: target, files };
}

/** The folder an export goes to: a full path to a new or empty folder (never a file, a device or a link), else a 4xx naming it. */
function exportTarget(folder: unknown): string {
  if (typeof folder !== 'string') throw invalidInput(`the export folder must be given as a path (got ${folder === null ? 'null' : typeof folder})`);
  if (folder.includes('\0')) throw invalidInput(`${JSON.stringify(folder.replaceAll('\0', '\\0')).slice(0, 200)}: the path holds a NUL character; type the folder again`);
  if (!isAbsolute(folder.trim())) throw invalidInput(`${folder}: give the full path of a new folder to export to`);
  const target = resolve(folder.trim());
  let stats;
  try {
    stats = lstatSync(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return target;
    throw invalidInput(`${target}: ${describeFileError(error)}`);
  }
  if (stats.isSymbolicLink()) throw invalidInput(`${target}: a link, not a folder; give the folder it points to, or a new one (nothing is written through a link)`);
  if (!stats.isDirectory()) throw invalidInput(`${target}: ${stats.isFile() ? 'a file is there' : 'a device or special file is there'}, not a folder; choose a new or empty folder (nothing is overwritten)`);
  if (readdirSync(target).length > 0) throw conflict(`${target}: the folder is not empty; choose a new or empty one (nothing is overwritten)`);
  return target;
}

/**
 * Adds an exported model (its folder, or its card.json) to a library. The card is data: checked whole
 * (model-card.ts), and each file it names read through readConfinedFile, within the size its shapes
 * give. The same export imported twice into one library is one model. The caller indexes the library with it.
 */
export async function importModel(store: Store, libraryId: number, source: string): Promise<{ modelId: number; created: boolean }> {
  if (typeof source !== 'string' || source.trim() === '') throw invalidInput('choose an exported model folder (or its card.json)');
  if (source.includes('\0')) throw invalidInput('the model folder\'s path holds a NUL character; choose the folder again');
  const path = resolve(source.trim());
  const folder = path.endsWith('.json') ? dirname(path) : path;
  const cardPath = path.endsWith('.json') ? path : join(path, CARD_FILE);
  if (!existsSync(cardPath)) throw notFound(`${cardPath}: no model card here (export a model first; its folder holds card.json)`);
  const cardText = (await readConfinedFile(folder, basename(cardPath), { bytes: CARD_LIMITS.cardBytes, why: 'a model card can take' })).toString('utf8');
  const { card, spec, headWeightBytes } = checkCard(store, libraryId, parseJson(cardText, cardPath), cardPath);
  const fingerprint = createHash('sha256').update(cardText).digest('hex');
  const existing = store.models(libraryId).find((m) => m.config.importedCard === fingerprint);
  if (existing) return { modelId: existing.id, created: false };
  const headJson = join(folder, card.files.tfjs);
  const modelJson = parseJson((await readConfinedFile(folder, card.files.tfjs, { bytes: CARD_LIMITS.headJsonBytes, why: "a head's model.json can take" })).toString('utf8'), headJson);
  const weightsBytes = await readConfinedFile(folder, HEAD_WEIGHTS, { bytes: headWeightBytes, why: "the card's declared shapes take" });
  const head = fromFile(join(folder, HEAD_WEIGHTS), () => readTfjsLayersModel(modelJson, weightsBytes, card.head));
  if (card.head.centre) head.centre = await readCentre(folder, card.files.centre ?? CENTRE_FILE, card.head.inputDim);
  const fineTune = card.fineTune ? { blocks: card.fineTune.blocks, cutNode: card.fineTune.cutNode, crop: card.fineTune.crop, mirror: card.fineTune.mirror } : null;
  let weights = packHeadWeights(head);
  if (fineTune) {
    const backboneName = card.files.backbone ?? FINE_TUNED_FILES.backbone;
    const backboneJson = join(folder, backboneName);
    const graphJson = parseJson((await readConfinedFile(folder, backboneName, { bytes: CARD_LIMITS.graphJsonBytes, why: "a backbone's model.json can take" })).toString('utf8'), backboneJson);
    const declared = fromFile(backboneJson, () => graphManifest(graphJson).bytes);
    if (declared > CARD_LIMITS.graphWeightsBytes) throw invalidInput(`${backboneJson}: declares ${formatBytes(declared)} of weights, more than any backbone Lookalike exports`);
    const graphWeights = await readConfinedFile(folder, BACKBONE_WEIGHTS, { bytes: declared, why: 'its model.json declares' });
    weights = await importFineTunedWeights(fineTune, card.head, weights, graphJson, graphWeights, backboneJson).catch((error: unknown) => {
      throw invalidInput(`${backboneJson}: cannot read the fine-tuned blocks (${(error as Error).message})`);
    });
  }
  const modelId = store.createModel({
    libraryId,
    name: importedName(store, libraryId, card.name),
    kind: 'trained',
    backbone: describeSpec(spec),
    backboneDim: card.head.inputDim,
    dim: card.head.dim,
    config: {
      head: card.head,
      backboneSpec: spec,
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

/**
 * What an imported model is called in this library, everywhere: the name it had where it was trained,
 * marked as imported, and numbered when another model here has that name already.
 */
function importedName(store: Store, libraryId: number, cardName: string): string {
  const taken = new Set(store.models(libraryId).map((m) => m.name));
  const name = `Imported: ${cardName.trim()}`;
  let n = 1;
  while (taken.has(n === 1 ? name : `${name} (${n})`)) n++;
  return n === 1 ? name : `${name} (${n})`;
}

/** Parsed JSON of a file from outside, or a refusal naming it (never quoting it). */
function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw invalidInput(`${path}: not valid JSON`);
  }
}

/** What a check of a file's contents throws, as a 400 naming the file. */
function fromFile<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw invalidInput(`${path}: ${(error as Error).message}`);
  }
}

export function toModelInfo(store: Store, modelId: number): ModelInfo {
  const m = store.model(modelId)!;
  const imported = m.config.importedCard !== undefined;
  return {
    id: m.id,
    name: m.name,
    kind: m.kind,
    backbone: m.backbone,
    dim: m.dim,
    createdAt: m.createdAt,
    runId: m.runId,
    runNumber: m.runId === null ? null : (store.run(m.runId)?.number ?? null),
    metrics: m.metrics,
    indexedCount: store.embeddingCount(m.id),
    imported,
    problem: m.problem,
    classNote: imported ? otherClassesNote((m.config.classes as ModelCard['classes']) ?? null, store.classes(m.libraryId)) : null,
  };
}

/** What an imported model was trained on, when that is not this library's classes (null when the same, or unknown). */
export function otherClassesNote(modelClasses: Array<{ name: string }> | null, libraryClasses: Array<{ name: string; photoCount: number }>): string | null {
  if (!modelClasses) return null;
  const theirs = [...new Set(modelClasses.map((c) => c.name))].sort();
  const ours = libraryClasses.filter((c) => c.photoCount > 0).map((c) => c.name).sort();
  if (theirs.length === ours.length && theirs.every((name, i) => name === ours[i])) return null;
  const here = ours.length ? `this library has ${ours.length} (${summariseNames(ours)})` : 'this library has no classes';
  return `Trained elsewhere on ${theirs.length} class${theirs.length === 1 ? '' : 'es'} (${summariseNames(theirs)}); ${here}`;
}

/** Removes a trained or imported model of the library; the untrained one is the library's own and stays. */
export function removeModel(store: Store, libraryId: number, modelId: number): void {
  const model = Number.isInteger(modelId) ? store.model(modelId) : null;
  if (!model || model.libraryId !== libraryId) throw notFound(`no model ${String(modelId)} in this library`);
  if (model.kind === 'baseline') throw invalidInput(`${model.name} is the library's untrained model: search falls back to it, so it is not removed`);
  store.removeModel(model.id);
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

/** A centred model's mean feature from its export: inputDim finite float32 values, or a refusal naming the file. */
async function readCentre(folder: string, name: string, inputDim: number): Promise<Float32Array> {
  const bytes = await readConfinedFile(folder, name, { bytes: inputDim * 4, why: "the card's declared shapes take" }, 'the card says the model centres its features on the mean kept in this file');
  const path = join(folder, name);
  if (bytes.length !== inputDim * 4) throw invalidInput(`${path}: holds ${bytes.length} bytes, expected ${inputDim} float32 values (${inputDim * 4} bytes)`);
  const centre = new Float32Array(inputDim);
  new Uint8Array(centre.buffer).set(bytes);
  fromFile(path, () => checkFinite(centre, CENTRE_WEIGHT));
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
