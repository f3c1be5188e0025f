import { TRIPLET_METHODS, type TrainSettings } from '../../shared/api.js';
import { checkGap } from '../ml/loss.js';

/**
 * Defaults measured on flowers17 (see README "Choosing the defaults"): 5 epochs of 8 triplets per
 * training photo (tripletsPerEpoch 0), a linear head to 128-d,
 * L2-normalised output, gap 1.0, Adam at 1e-3.
 */
export const DEFAULT_SETTINGS: TrainSettings = {
  epochs: 5,
  batchSize: 32,
  learningRate: 0.001,
  gap: 1.0,
  dim: 128,
  validationFraction: 0.2,
  seed: 1,
  backbone: 'nsfwjs-mobilenetv2-1.4',
  fineTune: 'head',
  tripletsPerEpoch: 0,
  sampling: 'semi-hard',
};

export const DEFAULT_K = 30;

/** Fills defaults and refuses bad values with a message a person can act on, before any work starts. */
export function resolveSettings(partial: Partial<TrainSettings>): TrainSettings {
  const settings: TrainSettings = { ...DEFAULT_SETTINGS, ...stripUndefined(partial) };
  checkGap(settings.gap);
  for (const key of ['epochs', 'batchSize', 'dim'] as const) {
    if (!(Number.isInteger(settings[key]) && settings[key] > 0)) throw new RangeError(`${key} must be a positive whole number (got ${settings[key]})`);
  }
  if (!(Number.isInteger(settings.tripletsPerEpoch) && settings.tripletsPerEpoch >= 0)) {
    throw new RangeError(`tripletsPerEpoch must be 0 (automatic) or a positive whole number (got ${settings.tripletsPerEpoch})`);
  }
  if (!(Number.isFinite(settings.learningRate) && settings.learningRate > 0)) throw new RangeError(`learning rate must be a positive number (got ${settings.learningRate})`);
  if (!(settings.validationFraction > 0 && settings.validationFraction < 1)) {
    throw new RangeError(`validation fraction must be between 0 and 1 (got ${settings.validationFraction})`);
  }
  if (!Number.isInteger(settings.seed)) throw new RangeError(`seed must be a whole number (got ${settings.seed})`);
  if (settings.fineTune !== 'head' && settings.fineTune !== 'last-blocks') throw new RangeError(`fine-tune must be "head" or "last-blocks" (got ${String(settings.fineTune)})`);
  if (!TRIPLET_METHODS.includes(settings.sampling)) throw new RangeError(`sampling must be one of ${TRIPLET_METHODS.join(', ')} (got ${String(settings.sampling)})`);
  return settings;
}

export function checkK(k: number): number {
  if (!(Number.isInteger(k) && k > 0)) throw new RangeError(`k must be a positive whole number (got ${k})`);
  return k;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
