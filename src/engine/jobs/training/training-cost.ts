/**
 * What each fine-tune mode would cost on a library, phase by phase: the work still to do (cached
 * features and cut maps left out) at the speed this machine's newest run measured for that phase,
 * else at the speed measured on the 2-core reference machine (docs/measurements.md), else unknown.
 * No probe is run: an estimate must be cheap enough to ask for on every change of the form.
 */
import type { CostPart, CostPhase, CostSource, FineTuneMode, ModeCost, TrainSettings, TrainingCost } from '../../../shared/api.js';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { featuresProblem, trainableClasses, trainingProblem, type TrainingBackend } from '../../../shared/settings.js';
import { describeSpec, trainingBackboneSpec } from '../../ml/backbone/backbone.js';
import type { Store } from '../../store/store.js';
import { builtinGraph, cutKey } from '../models/fine-tuned-net.js';
import { HEAD_FIRST } from './fine-tune.js';
import { modeVariant } from './phase-rates.js';
import { autoTriplets } from './training-modes.js';

export const REFERENCE_MACHINE = 'measured on a 2-core reference machine (docs/measurements.md)';

/**
 * Speeds measured on the reference machine, per phase and variant (items a second). Features: file
 * to stored features, ONNX Runtime on 2 workers ("Quality on flowers17"). Head: 1,270 random
 * triplets/s on wasm ("train") at the 0.75 the semi-hard default runs at. Cut maps, blocks and
 * embedding through them: flowers17 at load 25-28 ("Triplets and the best epoch"; 1,360 photos
 * indexed in about 1.8 min). Nothing was measured for 2 or more blocks or for the whole network.
 */
const REFERENCE_RATES: Readonly<Partial<Record<CostPhase, Readonly<Record<string, number>>>>> = {
  features: { [BUILTIN_BACKBONE.id]: 63, [describeSpec(trainingBackboneSpec({ backbone: BUILTIN_BACKBONE.id, features: 'multi-scale' }))]: 63 },
  head: { '*': 950 },
  'cut-maps': { '*': 9 },
  blocks: { 'last-blocks:0': 6.5, 'last-blocks:1': 2.9 },
  embed: { 'last-blocks:0': 12.6, 'last-blocks:1': 12.6 },
};

const MODES: readonly FineTuneMode[] = ['head', 'last-blocks', 'full'];

/** Each mode's cost on the library with these (resolved) settings; modes that cannot run here say why. */
export async function trainingCost(store: Store, libraryId: number, settings: TrainSettings, backend: TrainingBackend | null): Promise<TrainingCost> {
  const modes: ModeCost[] = [];
  for (const mode of MODES) modes.push(await modeCost(store, libraryId, settingsFor(settings, mode), backend));
  return { modes, reference: REFERENCE_MACHINE };
}

/** The settings as the form would send them for this mode: features the mode cannot take fall back to the final ones. */
function settingsFor(settings: TrainSettings, mode: FineTuneMode): TrainSettings {
  const forMode = { ...settings, fineTune: mode };
  return featuresProblem(forMode) === null ? forMode : { ...forMode, features: 'final' };
}

async function modeCost(store: Store, libraryId: number, settings: TrainSettings, backend: TrainingBackend | null): Promise<ModeCost> {
  const mode = settings.fineTune;
  const unavailable = trainingProblem(settings, { backend });
  if (unavailable) return { mode, unavailable, seconds: null, source: 'reference', parts: [] };
  const featureKey = describeSpec(trainingBackboneSpec(settings));
  const { train, validation } = splitSizes(store, libraryId, settings.validationFraction);
  const photos = store.countPhotos(libraryId);
  const variant = modeVariant(settings);
  const parts: CostPart[] = [photosPart(store, 'features', featureKey, store.runRates.photosWithoutFeatures(libraryId, featureKey), photos)];
  if (mode === 'head') {
    parts.push(part(store, 'head', featureKey, tripletsOf(settings, settings.epochs, autoTriplets(settings, train)), 'triplets'));
    // Embedding through the head alone is a product per cached feature: counted once a run has measured it.
    const embed = part(store, 'embed', variant, train + validation + photos, 'photos');
    if (embed.source === 'this-machine') parts.push(embed);
    return total(mode, parts);
  }
  if (mode === 'last-blocks') parts.push(await cutMapsPart(store, libraryId, settings.fineTuneBlocks, photos));
  parts.push(part(store, 'head', featureKey, tripletsOf(settings, HEAD_FIRST.epochs, train * HEAD_FIRST.tripletsPerPhoto), 'triplets'));
  parts.push(part(store, 'blocks', variant, tripletsOf(settings, settings.epochs, autoTriplets(settings, train)), 'triplets'));
  parts.push(part(store, 'embed', variant, train + validation + photos, 'photos'));
  return total(mode, parts);
}

/**
 * The cut maps still to compute. Naming the cut takes the built-in graph (a second or two to load, and
 * memory kept): it is loaded only once some cut is cached. Before that every photo is still to do, and
 * no run can have measured the speed (a run that caches maps keeps them).
 */
async function cutMapsPart(store: Store, libraryId: number, blocks: number, photos: number): Promise<CostPart> {
  const backbone = describeSpec({ kind: 'builtin', id: BUILTIN_BACKBONE.id });
  const key = store.runRates.hasCutMaps(backbone) ? cutKey((await builtinGraph()).cutPoint(blocks)) : UNNAMED_CUT;
  return photosPart(store, 'cut-maps', key, store.runRates.photosWithoutCutMaps(libraryId, backbone, key), photos);
}

/** A cut not named yet: no maps and no speed are stored under it, so every photo is still to do, at the reference speed. */
const UNNAMED_CUT = 'unnamed';

/** Triplets as the trainer runs them: every step a full batch. */
function tripletsOf(settings: TrainSettings, epochs: number, perEpoch: number): number {
  return epochs * Math.ceil(perEpoch / settings.batchSize) * settings.batchSize;
}

/** Photos still to compute for a cache, with those it already holds. */
function photosPart(store: Store, phase: CostPhase, variant: string, missing: number, photos: number): CostPart {
  return { ...part(store, phase, variant, missing, 'photos'), cached: Math.max(0, photos - missing) };
}

function part(store: Store, phase: CostPhase, variant: string, items: number, unit: CostPart['unit']): CostPart {
  if (items === 0) return { phase, items, unit, perSecond: null, seconds: 0, source: 'cached' };
  const measured = store.runRates.latest(phase, variant);
  const reference = REFERENCE_RATES[phase]?.[variant] ?? REFERENCE_RATES[phase]?.['*'];
  const [perSecond, source]: [number | null, CostSource] = measured ? [measured.items / measured.seconds, 'this-machine'] : reference ? [reference, 'reference'] : [null, 'unknown'];
  return { phase, items, unit, perSecond, seconds: perSecond === null ? null : items / perSecond, source };
}

function total(mode: FineTuneMode, parts: CostPart[]): ModeCost {
  const timed = parts.filter((p) => p.source !== 'cached');
  const seconds = parts.some((p) => p.seconds === null) ? null : parts.reduce((sum, p) => sum + p.seconds!, 0);
  const ours = timed.filter((p) => p.source === 'this-machine').length;
  const source = ours === timed.length ? 'this-machine' : ours === 0 ? 'reference' : 'mixed';
  return { mode, unavailable: null, seconds, source, parts };
}

/**
 * The labelled photos on each side of the split as training will make it: each class of 2 or more
 * photos gives the validation side a share (at least 1), as the split does; the rest train.
 */
function splitSizes(store: Store, libraryId: number, validationFraction: number): { train: number; validation: number } {
  const classes = store.classes(libraryId);
  const labelled = classes.reduce((sum, c) => sum + c.photoCount, 0);
  const validation = trainableClasses(classes).reduce((sum, c) => sum + Math.max(1, Math.round(c.photoCount * validationFraction)), 0);
  return { train: labelled - validation, validation };
}
