/**
 * The one rulebook for training settings: defaults, limits and the messages that refuse a bad
 * value. The Train form, the CLI and the engine's door all read it, so a value means the same
 * thing everywhere. Plain data and functions only: the renderer imports it too (no Node, no TF.js).
 */
import { FEATURE_LAYERS, TRIPLET_METHODS, type FeatureLayers, type FineTuneMode, type TrainSettings } from './api.js';
import { BUILTIN_BACKBONE } from './builtin-backbone.js';

/**
 * Defaults measured on flowers17 (docs/measurements.md, "Quality on flowers17"): 5 epochs of 8 triplets per
 * training photo (tripletsPerEpoch 0), a linear head to 128-d, L2-normalised output, gap 1.0,
 * Adam at 1e-3. Every setting has a default here: resolveSettings keeps only these keys.
 */
export const DEFAULT_SETTINGS: Readonly<TrainSettings> = Object.freeze({
  epochs: 5,
  batchSize: 32,
  learningRate: 0.001,
  gap: 1.0,
  dim: 128,
  validationFraction: 0.2,
  seed: 1,
  backbone: BUILTIN_BACKBONE.id,
  fineTune: 'head',
  fineTuneBlocks: 1,
  tripletsPerEpoch: 0,
  // Measured best on flowers17 (docs/measurements.md, "Triplets and the best epoch").
  sampling: 'semi-hard',
  // Measured best on flowers17 and the uneven set (docs/measurements.md, "Multi-scale features"); where it does not
  // apply (another backbone, fine-tuning) resolveSettings makes the default 'final' (see featuresProblem).
  features: 'multi-scale',
});

/**
 * Epochs when none are asked for, by fine-tune mode. last-blocks: the epochs of its block phase (its
 * head first trains 5 epochs of its own); 2 measured best on flowers17 and the uneven set
 * (docs/measurements.md, "Fine-tuning the last blocks"). full: not measured, as the head.
 */
export const MODE_EPOCHS: Readonly<Record<FineTuneMode, number>> = Object.freeze({ head: DEFAULT_SETTINGS.epochs, 'last-blocks': 2, full: DEFAULT_SETTINGS.epochs });

/** k of precision@k when none is asked for. */
export const DEFAULT_K = 30;

/**
 * Where the Duplicates slider starts: copies, not look-alikes, under the untrained backbone. Measured
 * on 34 flowers17 photos with planted copies: exact and PNG copies 0, resized to half 0.07-0.25,
 * re-encoded at JPEG quality 40 0.07-0.33 (90% under 0.18), cropped by 5% a side 0.24-0.46; the
 * closest different photos were 0.35 apart on flowers17 (cowslip and bluebell look-alikes 0.39-0.40)
 * and 0.32 in the drawn sample library. Slightly cropped copies past it are found by moving the slider.
 */
export const DEFAULT_DUPLICATE_THRESHOLD = 0.28;

/** Find the mislabelled: heads cross-fitted over this many folds (each trains on 4/5 of the labelled photos). */
export const AUDIT_FOLDS = 5;
/** Epochs of each cross-fitted head (bench/audit.ts measures recall and time). */
export const AUDIT_EPOCHS = 1;
/** Neighbours that vote on a held-out photo's class. */
export const AUDIT_NEIGHBOURS = 10;

/**
 * How the built-in backbone computes features on the CPU (ONNX Runtime): 'int8' quantises it,
 * calibrated on the library's own photos, 'fp32' keeps the float graph. Features differ by a cosine
 * of about 0.998; retrieval quality measured the same (docs/measurements.md, "int8 backbone").
 */
export const BACKBONE_PRECISIONS = ['int8', 'fp32'] as const;
export type BackbonePrecision = (typeof BACKBONE_PRECISIONS)[number];
export const DEFAULT_BACKBONE_PRECISION: BackbonePrecision = 'int8';
/** Photos (spread over the library) an int8 calibration runs the float backbone on; fewer than the minimum keep fp32. */
export const INT8_CALIBRATION_PHOTOS = 256;
export const MIN_INT8_CALIBRATION_PHOTOS = 32;

/** A precision as typed (CLI flag, environment); empty or absent is the default. */
export function parseBackbonePrecision(text: string | undefined): BackbonePrecision {
  if (text === undefined || text === '') return DEFAULT_BACKBONE_PRECISION;
  if ((BACKBONE_PRECISIONS as readonly string[]).includes(text)) return text as BackbonePrecision;
  throw new SettingsError(`backbone precision must be ${BACKBONE_PRECISIONS.map((p) => `"${p}"`).join(' or ')} (got ${JSON.stringify(text)})`);
}

/** Triplets per training photo and epoch when tripletsPerEpoch is 0. */
export const TRIPLETS_PER_PHOTO = 8;

export interface NumberRule {
  /** How a message names the setting. */
  label: string;
  whole: boolean;
  min: number;
  /** True when `min` itself is refused (the gap, the learning rate). */
  minExclusive?: boolean;
  max: number;
  maxExclusive?: boolean;
  /** What a valid value looks like, in words: shown under a form field and in every refusal. */
  hint: string;
}

type NumberKey = { [K in keyof TrainSettings]: TrainSettings[K] extends number ? K : never }[keyof TrainSettings];

/** One rule per numeric setting; adding a numeric setting to TrainSettings fails to compile until it has one. */
export const NUMBER_RULES: Readonly<Record<NumberKey, NumberRule>> = {
  epochs: { label: 'epochs', whole: true, min: 1, max: 1000, hint: 'a positive whole number, at most 1000' },
  batchSize: { label: 'batch size', whole: true, min: 1, max: 4096, hint: 'a positive whole number, at most 4096' },
  learningRate: { label: 'learning rate', whole: false, min: 0, minExclusive: true, max: 1, hint: 'a positive number, at most 1 (e.g. 0.001)' },
  gap: { label: 'gap g', whole: false, min: 0, minExclusive: true, max: 100, hint: 'a positive number, at most 100' },
  dim: { label: 'embedding size', whole: true, min: 1, max: 4096, hint: 'a positive whole number, at most 4096' },
  validationFraction: { label: 'validation fraction', whole: false, min: 0, minExclusive: true, max: 1, maxExclusive: true, hint: 'between 0 and 1, e.g. 0.2' },
  seed: { label: 'seed', whole: true, min: -(2 ** 31), max: 2 ** 31 - 1, hint: 'a whole number' },
  fineTuneBlocks: { label: 'fine-tune blocks', whole: true, min: 0, max: 17, hint: 'a whole number from 0 to 17 (0 = the final 1×1 conv only)' },
  tripletsPerEpoch: { label: 'triplets per epoch', whole: true, min: 0, max: 10_000_000, hint: `0 (${TRIPLETS_PER_PHOTO} per training photo) or a positive whole number` },
};

/** Every fine-tune mode with what it changes; adding a mode to FineTuneMode fails to compile until it is described here. */
export const FINE_TUNE_MODES: Readonly<Record<FineTuneMode, string>> = {
  head: 'backbone unchanged, only the head is trained',
  'last-blocks': 'the head and the backbone\'s last blocks are trained',
  full: 'the whole network is trained (needs a GPU)',
};

/**
 * What a mode does not use of the settings it is given (null: it uses them all). The fine-tune modes
 * train their blocks as the head trains: the triplet choice (semi-hard negatives mined through the
 * blocks) and the marks reach the head's phase and the blocks' (block-trainer.ts).
 */
export const MODE_LEAVES_OUT: Readonly<Record<FineTuneMode, string | null>> = {
  head: null,
  'last-blocks': null,
  full: null,
};

/**
 * The most blocks last-blocks can train under multi-scale features: the layers they pool lie in
 * fixed blocks below the cut (block 13's expansion is 4 blocks from the end, so up to 3).
 */
export const MULTI_SCALE_MAX_BLOCKS = BUILTIN_BACKBONE.blockCount - 1 - Math.max(...BUILTIN_BACKBONE.multiScale.map((scale) => BUILTIN_BACKBONE.scales[scale].block));

/** Every feature choice with what it means; adding one to FeatureLayers fails to compile until it is described here. */
export const FEATURE_CHOICES: Readonly<Record<FeatureLayers, string>> = {
  final: 'the backbone\'s final pooled features',
  'multi-scale': `blocks 10 and 13 pooled beside the final features, each centred on the training photos (built-in backbone; with last-blocks, at most ${MULTI_SCALE_MAX_BLOCKS} blocks)`,
};

/**
 * Null when the feature choice fits the backbone and fine-tune mode, else why not. Without
 * `fineTuneBlocks` (a form that has not asked yet) the default number of blocks is assumed.
 */
export function featuresProblem(settings: Pick<TrainSettings, 'features' | 'backbone' | 'fineTune'> & { fineTuneBlocks?: number }): string | null {
  if (!FEATURE_LAYERS.includes(settings.features)) {
    return `features must be ${FEATURE_LAYERS.map((f) => `"${f}"`).join(' or ')} (got ${JSON.stringify(settings.features)})`;
  }
  if (settings.features !== 'multi-scale') return null;
  if (settings.backbone.trim() !== BUILTIN_BACKBONE.id) return `multi-scale features are defined for the built-in backbone (${BUILTIN_BACKBONE.id}) only; use features "final" with ${settings.backbone.trim()}`;
  // The pooled layers below the cut stay fixed while the blocks above it train: a cut below one of them would train it too.
  if (settings.fineTune === 'full') return 'multi-scale features pool blocks 10 and 13, which full fine-tuning trains; use features "final" with it';
  const blocks = settings.fineTuneBlocks ?? DEFAULT_SETTINGS.fineTuneBlocks;
  if (settings.fineTune === 'last-blocks' && blocks > MULTI_SCALE_MAX_BLOCKS) {
    return `multi-scale features pool block 13, which fine-tuning ${blocks} blocks would train; fine-tune at most ${MULTI_SCALE_MAX_BLOCKS} blocks with them, or use features "final"`;
  }
  return null;
}

/** What this machine trains on, as far as the rules need it (BackendInfo in the app, BackendChoice in the engine). */
export interface TrainingBackend {
  name: string;
  gpu: boolean;
}

/**
 * Null when this training can run here, else why not: the fine-tune mode against this machine's
 * backend and the backbone, the features against both. The Train form, the CLI and the service ask
 * it before a run is created; nothing behind them asks again. The backbone is the settings' own
 * (resolved: trimmed, the built-in one by its id, as the engine reads it). A null backend: none works
 * here (or the form does not know it yet).
 */
export function trainingProblem(settings: Pick<TrainSettings, 'features' | 'backbone' | 'fineTune'> & { fineTuneBlocks?: number }, context: { backend: TrainingBackend | null }): string | null {
  const features = featuresProblem(settings);
  if (features || settings.fineTune === 'head') return features;
  const { backend } = context;
  // WebGPU on a software adapter (SwiftShader) is only ever taken when forced: allowed, so the path can be tested.
  if (settings.fineTune === 'full' && !(backend?.gpu || backend?.name === 'webgpu')) {
    const here = backend ? `this machine runs ${backend.name}, where one epoch would take hours` : 'this machine has no working compute backend';
    return `full fine-tuning needs a GPU backend; ${here}: train the last blocks (fine-tune last-blocks) or the head`;
  }
  const backbone = settings.backbone.trim();
  if (backbone !== BUILTIN_BACKBONE.id) return `${settings.fineTune} fine-tuning is built for the built-in backbone (${BUILTIN_BACKBONE.id}) only; ${backbone} can train its head (fine-tune head)`;
  return null;
}

export const K_RULE: NumberRule = { label: 'k', whole: true, min: 1, max: Number.MAX_SAFE_INTEGER, hint: 'a positive whole number' };

/** Thrown for a setting a person can fix; the CLI exits 2 on it and the transports answer 4xx. */
export class SettingsError extends RangeError {
  override name = 'SettingsError';
}

/** Null when the value passes the rule, else the rule's hint. */
export function numberProblem(rule: NumberRule, value: unknown): string | null {
  if (typeof value !== 'number' || !Number.isFinite(value)) return rule.hint;
  if (rule.whole && !Number.isInteger(value)) return rule.hint;
  if (value < rule.min || (rule.minExclusive && value === rule.min)) return rule.hint;
  if (value > rule.max || (rule.maxExclusive && value === rule.max)) return rule.hint;
  return null;
}

export function checkNumber(rule: NumberRule, value: unknown): number {
  const problem = numberProblem(rule, value);
  if (problem) throw new SettingsError(`${rule.label} must be ${problem} (got ${String(value)})`);
  return value as number;
}

export function checkK(k: unknown): number {
  return checkNumber(K_RULE, k);
}

/** Null when every setting passes, else the first refusal, naming the setting. */
export function settingsProblem(settings: TrainSettings): string | null {
  for (const key of Object.keys(NUMBER_RULES) as NumberKey[]) {
    const problem = numberProblem(NUMBER_RULES[key], settings[key]);
    if (problem) return `${NUMBER_RULES[key].label} must be ${problem} (got ${String(settings[key])})`;
  }
  if (typeof settings.backbone !== 'string' || settings.backbone.trim() === '') {
    return `backbone must be "${BUILTIN_BACKBONE.id}", a TF.js model folder or a model URL (got ${JSON.stringify(settings.backbone)})`;
  }
  if (!Object.hasOwn(FINE_TUNE_MODES, settings.fineTune)) {
    const modes = Object.keys(FINE_TUNE_MODES).map((m) => `"${m}"`).join(' or ');
    return `fine-tune must be ${modes} (got ${JSON.stringify(settings.fineTune)})`;
  }
  if (!TRIPLET_METHODS.includes(settings.sampling)) {
    return `sampling must be ${TRIPLET_METHODS.map((m) => `"${m}"`).join(', ')} (got ${JSON.stringify(settings.sampling)})`;
  }
  return featuresProblem(settings);
}

/**
 * Defaults filled in, unknown keys dropped, and every value checked: the one check, at the door,
 * before any work starts. Throws a SettingsError a person can act on.
 */
export function resolveSettings(partial: Partial<TrainSettings> = {}): TrainSettings {
  const settings = { ...DEFAULT_SETTINGS } as Record<keyof TrainSettings, unknown>;
  for (const key of Object.keys(DEFAULT_SETTINGS) as Array<keyof TrainSettings>) {
    if (partial[key] !== undefined) settings[key] = partial[key];
  }
  const resolved = settings as TrainSettings;
  if (partial.epochs === undefined && Object.hasOwn(MODE_EPOCHS, resolved.fineTune)) resolved.epochs = MODE_EPOCHS[resolved.fineTune];
  // The default features are the best that apply: multi-scale only fits the built-in backbone's head.
  if (partial.features === undefined && typeof resolved.backbone === 'string' && featuresProblem({ ...resolved, features: 'multi-scale' }) !== null) {
    resolved.features = 'final';
  }
  const problem = settingsProblem(resolved);
  if (problem) throw new SettingsError(problem);
  return { ...resolved, backbone: resolved.backbone.trim() };
}

export interface ClassCount {
  name?: string;
  photoCount: number;
}

/** A class name, as a person types it: at most this many characters… */
export const MAX_CLASS_NAME_CHARS = 100;
/** …and this many bytes in UTF-8, the longest folder name most file systems hold (ext4, APFS, NTFS in UTF-16 allows more). */
export const MAX_CLASS_NAME_BYTES = 255;
/** Most photos one label change may name (a selection, not a library). */
export const MAX_LABELLED_PHOTOS = 20_000;
/** Label changes that can be undone, newest first (older ones are forgotten). */
export const MAX_LABEL_UNDO_STEPS = 30;

export const MIN_TRAINING_CLASSES = 2;
export const MIN_PHOTOS_PER_CLASS = 2;

/** Classes that can give a query and a positive. */
export function trainableClasses<C extends ClassCount>(classes: readonly C[]): C[] {
  return classes.filter((c) => c.photoCount >= MIN_PHOTOS_PER_CLASS);
}

/** Null when the library can be trained on, else why not (the same words in the form, the CLI and the API). */
export function trainabilityProblem(classes: readonly ClassCount[]): string | null {
  const usable = trainableClasses(classes).length;
  if (usable >= MIN_TRAINING_CLASSES) return null;
  return `training needs at least ${MIN_TRAINING_CLASSES} classes with ${MIN_PHOTOS_PER_CLASS} or more photos each (this library has ${usable}); put photos in sub-folders, one per class`;
}

/**
 * P@30 says little when a class has fewer than 30 training photos (it cannot reach 1): small
 * libraries are scored at k = the smallest class's training count, and the k used is shown.
 */
export function validationK(classes: readonly ClassCount[], validationFraction: number): number {
  const sizes = trainableClasses(classes).map((c) => c.photoCount);
  const smallestTrainCount = Math.min(...sizes.map((n) => n - Math.max(1, Math.round(n * validationFraction))));
  return Math.max(1, Math.min(DEFAULT_K, smallestTrainCount));
}
