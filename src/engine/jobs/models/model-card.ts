/**
 * A model card from elsewhere is data: checked whole before anything it names is read. Its backbone
 * must be built in or one this library already uses (a card never makes the app open a folder or
 * fetch a URL), its shapes must agree with that backbone, and every file it names is read only
 * through readConfinedFile, within a size its shapes give.
 */
import { invalidInput } from '../../../shared/errors.js';
import type { TrainSettings } from '../../../shared/api.js';
import { BUILTIN_BACKBONE, type BuiltinScale } from '../../../shared/builtin-backbone.js';
import { featuresProblem, resolveSettings } from '../../../shared/settings.js';
import { builtinSegments, describeSpec, featureSegments, type BackboneSpec } from '../../ml/backbone/backbone.js';
import type { HeadConfig } from '../../ml/training/head.js';
import type { ModelRow, Store } from '../../store/store.js';
import type { FineTuneConfig } from './fine-tuned-net.js';

export const CARD_FORMAT = 'lookalike-model';
/** 2: cards of fine-tuned models (fineTune, network); head-only cards stay 1, and both import. */
export const CARD_VERSION = 2;
export const CARD_FILE = 'card.json';

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
  network?: { input: string; layout: 'NHWC'; size: 224; range: '0,1'; output: 'embedding' };
  /** Centred heads (head.centre): the mean input feature, float32 little-endian, inputDim values (head.onnx holds it too). */
  files: { tfjs: string; onnx: string; backbone?: string; network?: string; centre?: string };
}

/** Limits for what a card's shapes cannot bound: the card itself, a model.json, and layer widths. */
export const CARD_LIMITS = { cardBytes: 4 << 20, headJsonBytes: 1 << 20, graphJsonBytes: 32 << 20, graphWeightsBytes: 256 << 20, width: 1 << 16, nameLength: 200 } as const;

/** A checked card, with the backbone this library will run it on (its own copy of the spec, never the card's path or URL). */
export interface CheckedCard {
  card: ModelCard;
  spec: BackboneSpec;
  /** Bytes of the head's weights file: the kernels and biases its shapes declare, float32. */
  headWeightBytes: number;
}

/** Checks a parsed card whole; throws a 400 naming the card and the field. */
export function checkCard(store: Store, libraryId: number, raw: unknown, cardPath: string): CheckedCard {
  const refuse = (what: string) => invalidInput(`${cardPath}: ${what}`);
  // Until the file is known to be a card, nothing of it is quoted: it may be any JSON file.
  if (!isRecord(raw) || raw.format !== CARD_FORMAT) throw refuse(`not a Lookalike model card (its "format" is not "${CARD_FORMAT}")`);
  if (!(raw.version === 1 || raw.version === CARD_VERSION)) {
    throw refuse(`a Lookalike model card of version ${Number.isInteger(raw.version) ? String(raw.version) : '(none)'}, which this Lookalike does not read (it reads 1 to ${CARD_VERSION})`);
  }
  if (typeof raw.name !== 'string' || raw.name.trim() === '' || raw.name.length > CARD_LIMITS.nameLength) throw refuse(`"name" must be a text of 1 to ${CARD_LIMITS.nameLength} characters`);
  if (typeof raw.backbone !== 'string') throw refuse('"backbone" must name the backbone');
  const { spec, dim } = allowedBackbone(store, libraryId, raw.backboneSpec, raw.backbone, refuse);
  const head = checkHead(raw.head, spec, dim, refuse);
  if (!isRecord(raw.files) || typeof raw.files.tfjs !== 'string') throw refuse('"files.tfjs" must name the head\'s model.json');
  for (const key of ['onnx', 'backbone', 'network', 'centre'] as const) {
    if (raw.files[key] !== undefined && typeof raw.files[key] !== 'string') throw refuse(`"files.${key}" must be a file name`);
  }
  if (raw.classes !== null && raw.classes !== undefined && !(Array.isArray(raw.classes) && raw.classes.every((c) => isRecord(c) && typeof c.name === 'string' && isCount(c.photoCount)))) {
    throw refuse('"classes" must list classes by name and photo count');
  }
  if (raw.settings !== null && raw.settings !== undefined) {
    if (!isRecord(raw.settings)) throw refuse('"settings" must be an object');
    // Evaluating the model later resolves them (its validation split, its seed): refused now, not then.
    try {
      resolveSettings(raw.settings as Partial<TrainSettings>);
    } catch (error) {
      throw refuse(`"settings": ${(error as Error).message}`);
    }
  }
  if (raw.fineTune !== undefined) checkFineTune(raw.fineTune, spec, refuse);
  const layers = head.hidden > 0 ? [head.inputDim * head.hidden + head.hidden, head.hidden * head.dim + head.dim] : [head.inputDim * head.dim + head.dim];
  const card = { ...(raw as unknown as ModelCard), head, classes: (raw.classes as ModelCard['classes']) ?? null, settings: (raw.settings as ModelCard['settings']) ?? null };
  return { card, spec, headWeightBytes: layers.reduce((a, b) => a + b, 0) * 4 };
}

/**
 * The backbone a card asks for, if this library may run it: a built-in one (known layers only), or
 * one a model trained in this library already uses, by its key. Returns the library's own spec.
 */
function allowedBackbone(store: Store, libraryId: number, rawSpec: unknown, key: string, refuse: (what: string) => Error): { spec: BackboneSpec; dim: number } {
  if (isRecord(rawSpec) && rawSpec.kind === 'builtin') {
    if (rawSpec.id !== BUILTIN_BACKBONE.id) throw refuse(`backbone ${shown(rawSpec.id)} is not built into this Lookalike (it has ${BUILTIN_BACKBONE.id})`);
    const scales = rawSpec.scales ?? [];
    if (!Array.isArray(scales) || !scales.every((s) => typeof s === 'string' && Object.hasOwn(BUILTIN_BACKBONE.scales, s)) || new Set(scales).size !== scales.length) {
      throw refuse(`backbone layers ${shown(rawSpec.scales)} are not layers of the built-in backbone (${Object.keys(BUILTIN_BACKBONE.scales).join(', ')})`);
    }
    const spec: BackboneSpec = scales.length ? { kind: 'builtin', id: BUILTIN_BACKBONE.id, scales: scales as BuiltinScale[] } : { kind: 'builtin', id: BUILTIN_BACKBONE.id };
    if (describeSpec(spec) !== key) throw refuse(`"backbone" ${shown(key)} does not match its "backboneSpec" (${describeSpec(spec)})`);
    return { spec, dim: builtinSegments(spec.scales).reduce((a, b) => a + b, 0) };
  }
  const own = store.models(libraryId).find((m) => m.backbone === key && m.config.importedCard === undefined);
  if (!own) {
    throw refuse(
      `the model runs on backbone ${shown(key)}, which is neither built in nor one this library uses; a model card never makes Lookalike open a folder or download a file. Train a model in this library with that backbone first, then import again`,
    );
  }
  return { spec: own.config.backboneSpec as BackboneSpec, dim: own.backboneDim };
}

/**
 * Why an imported model's stored backbone may not be loaded, or null: models imported before cards
 * were checked can name any folder or URL, which is opened only when this library uses it itself.
 */
export function importedBackboneProblem(store: Store, model: ModelRow): string | null {
  if (model.config.importedCard === undefined) return null;
  const spec = model.config.backboneSpec as BackboneSpec | undefined;
  if (spec?.kind === 'builtin' && spec.id === BUILTIN_BACKBONE.id && (spec.scales ?? []).every((s) => Object.hasOwn(BUILTIN_BACKBONE.scales, s))) return null;
  if (store.models(model.libraryId).some((m) => m.backbone === model.backbone && m.config.importedCard === undefined)) return null;
  return `its backbone (${model.backbone}) came from the model's card and is neither built in nor one this library uses, so it is not opened; remove the model, or train a model here with that backbone and import again`;
}

/** The head's shapes: whole numbers in range, the input the backbone's width, a centre split as the backbone's layers. */
function checkHead(raw: unknown, spec: BackboneSpec, backboneDim: number, refuse: (what: string) => Error): HeadConfig {
  if (!isRecord(raw)) throw refuse('"head" must describe the head');
  for (const key of ['inputDim', 'dim', 'hidden'] as const) {
    const value = raw[key];
    const least = key === 'hidden' ? 0 : 1;
    if (!Number.isInteger(value) || (value as number) < least || (value as number) > CARD_LIMITS.width) {
      throw refuse(`"head.${key}" is ${shown(value)}; it must be a whole number from ${least} to ${CARD_LIMITS.width}`);
    }
  }
  if (typeof raw.normalize !== 'boolean') throw refuse('"head.normalize" must be true or false');
  const head: HeadConfig = { inputDim: raw.inputDim as number, dim: raw.dim as number, hidden: raw.hidden as number, normalize: raw.normalize };
  if (head.inputDim !== backboneDim) throw refuse(`"head.inputDim" is ${head.inputDim}, but backbone ${describeSpec(spec)} gives ${backboneDim} values`);
  if (raw.centre !== undefined) {
    const expected = featureSegments(spec, backboneDim);
    const segments = isRecord(raw.centre) ? raw.centre.segments : undefined;
    if (!Array.isArray(segments) || segments.length !== expected.length || segments.some((w, i) => w !== expected[i])) {
      throw refuse(`"head.centre.segments" is ${shown(segments)}; backbone ${describeSpec(spec)} has layers of ${expected.join(', ')} values`);
    }
    head.centre = { segments: expected };
  }
  return head;
}

/**
 * A fine-tuned card runs on the built-in backbone, plain or with the multi-scale layers below its cut
 * (the settings' rule); the cut is a whole number of blocks.
 */
function checkFineTune(raw: unknown, spec: BackboneSpec, refuse: (what: string) => Error): void {
  if (!isRecord(raw) || raw.mode !== 'last-blocks') throw refuse(`"fineTune.mode" is ${shown(isRecord(raw) ? raw.mode : raw)}; only last-blocks models import`);
  const multiScale = spec.kind === 'builtin' && describeSpec(spec) === describeSpec({ ...spec, scales: BUILTIN_BACKBONE.multiScale });
  if (spec.kind !== 'builtin' || (spec.scales?.length && !multiScale)) {
    throw refuse(`a fine-tuned model runs on the built-in backbone (${BUILTIN_BACKBONE.id}), plain or with its multi-scale layers, not ${describeSpec(spec)}`);
  }
  if (!Number.isInteger(raw.blocks) || (raw.blocks as number) < 1 || (raw.blocks as number) > 64) throw refuse(`"fineTune.blocks" is ${shown(raw.blocks)}; it must be a whole number from 1 to 64`);
  const features = multiScale ? featuresProblem({ features: 'multi-scale', backbone: spec.id, fineTune: 'last-blocks', fineTuneBlocks: raw.blocks as number }) : null;
  if (features) throw refuse(features);
  if (typeof raw.cutNode !== 'string' || !Number.isInteger(raw.crop) || (raw.crop as number) < 0 || typeof raw.mirror !== 'boolean') throw refuse('"fineTune" must give cutNode, crop (a whole number) and mirror');
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown) => Number.isInteger(value) && (value as number) >= 0;
/** A card's value in a message: short, as JSON. */
const shown = (value: unknown) => (JSON.stringify(value) ?? String(value)).slice(0, 80);
