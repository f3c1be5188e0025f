/**
 * Fine-tuning the backbone with the head. "last-blocks": activations at the cut cached per photo in
 * the store, the blocks above the cut trained on them. "full" (a GPU backend only): the whole
 * network trained from decoded photos, with random crops and mirroring. Both train the head first
 * on pooled features exactly as "head" does, then blocks and head together (block-trainer.ts); the
 * model stores both, and indexing, Find similar and evaluation embed through the fine-tuned network
 * (fine-tuned-embedder.ts).
 */
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { describeSpec } from '../../ml/backbone/backbone.js';
import { evaluateDetailed, squaredDistance } from '../../ml/training/retrieval-metrics.js';
import { embedInputs, mapInputs, packFineTuned, trainBlocks, type BlockTrainData, type BlockTrainOutcome, type FineTunedNet } from '../../ml/training/block-trainer.js';
import { photoInputs } from '../../ml/training/decoded-photos.js';
import type { BuiltinGraph, CutPoint } from '../../ml/backbone/trainable-backbone.js';
import { trainHead, type TrainData } from '../../ml/training/trainer.js';
import { builtinGraph, cacheCutActivations, cutKey, disposeNet, labelledMaps, photoSources, type FineTuneConfig, type LabelledPhotos } from '../models/fine-tuned-net.js';
import { evaluateHeadOn } from './labelled-features.js';
import { countingTriplets, modeVariant } from './phase-rates.js';
import type { BlockPhase, ModeTrainer, ModeTraining, TrainedOutcome } from './training-plan.js';

/** Triplets per training photo and epoch for the blocks: each step costs about 100× a head step on CPU. */
export const BLOCK_TRIPLETS_PER_PHOTO = 1;
/** The head's own schedule, run first (as --fine-tune head with default epochs would). */
export const HEAD_FIRST = { epochs: 5, tripletsPerPhoto: 8 };

/**
 * The block phase's defaults, measured on flowers17 with multi-scale features, 1 block, 2 epochs
 * (docs/measurements.md, "Fine-tuning the last blocks"): against a rate factor of 0.1, 0.3 lost
 * 0.009 P@30 and 0.012 mAP@R and 0.03 lost 0.003 mAP@R (seed 1); without crops and mirroring the
 * blocks lost 0.001 P@30 and 0.002 mAP@R (mean of seeds 1 and 2), within a seed's spread.
 */
export const BLOCK_PHASE: Readonly<BlockPhase> = Object.freeze({ learningRateFactor: 0.1, crop: true, mirror: true });

/** The "last-blocks" part of the Train button; the caller has cached features, split, and prepared the run. */
export const trainLastBlocks: ModeTrainer = async (training) => {
  const { ctx, libraryId, plan, featureSets, photos } = training;
  const graph = await builtinGraph();
  const cut = graph.cutPoint(plan.settings.fineTuneBlocks);
  await training.rates.measure('cut-maps', cutKey(cut), async (count) => count((await cacheCutActivations(ctx, libraryId, cut, describeSpec(plan.spec))).computed));
  if (ctx.control?.isStopped) throw new Error('stopped before training started');
  // With multi-scale features the layers pooled below the cut come from the feature cache beside each map.
  const maps = labelledMaps(ctx.store, cut, plan.spec, photos);
  if (maps.train.maps.length === 0 || maps.validation.maps.length === 0) throw new Error('no labelled photo could be read at the cut; nothing to train on');
  const phase = { ...BLOCK_PHASE, ...plan.blockPhase };
  const side = Math.min(cut.shape[0], cut.shape[1]);
  const config: FineTuneConfig = { blocks: cut.blocks, cutNode: cut.node, crop: phase.crop ? side - 1 || 1 : side, mirror: phase.mirror };
  const augmented = phase.crop || phase.mirror;
  const data = {
    train: mapInputs(maps.train, augmented ? { crop: config.crop, mirror: config.mirror } : undefined),
    validation: mapInputs(maps.validation),
    ...carriedOver(featureSets, maps.train.positions),
  };
  return trainWithBlocks(training, graph, cut, config, data, phase.learningRateFactor);
};

/**
 * The "full" part of the Train button: the whole network from decoded photos (no cut cache). The
 * plan's `fullInputSize` is the photo side; less than the backbone's own input size only for tests
 * and the bench (SwiftShader is slow).
 */
export const trainFull: ModeTrainer = async (training) => {
  const { ctx, libraryId, plan, featureSets, photos } = training;
  const inputSize = plan.fullInputSize ?? BUILTIN_BACKBONE.inputSize;
  const graph = await builtinGraph();
  const cut = graph.inputCut(inputSize);
  // The photos the head trains on (the backbone read each of them), in its order: marks carry over as they are.
  const sets = photoSources(ctx.store, libraryId, photos);
  if (sets.train.sources.length === 0 || sets.validation.sources.length === 0) throw new Error('no labelled photo could be read; nothing to train on');
  const config: FineTuneConfig = { blocks: cut.blocks, cutNode: cut.node, crop: 0, mirror: true, inputSize };
  const inputsOf = (set: LabelledPhotos) => photoInputs(set.sources, set.classIds, inputSize);
  const data = { train: inputsOf(sets.train), validation: inputsOf(sets.validation), ...carriedOver(featureSets, sets.train.sources.map((_, i) => i)) };
  return trainWithBlocks(training, graph, cut, config, data, BLOCK_PHASE.learningRateFactor);
};

/**
 * The head's marked pairs and untrained distances for block inputs that are its training photos at
 * `positions` (a photo with no input is left out, and so are its marks).
 */
function carriedOver(featureSets: TrainData, positions: number[]): Pick<BlockTrainData, 'marked' | 'distance'> {
  const inputOf = new Map(positions.map((position, input) => [position, input]));
  const marked = (featureSets.marked ?? []).flatMap((m) => {
    const [query, negative] = [inputOf.get(m.query), inputOf.get(m.negative)];
    return query === undefined || negative === undefined ? [] : [{ query, negative }];
  });
  const vectors = featureSets.train.vectors;
  return { marked, distance: (a, b) => squaredDistance(vectors[positions[a]], vectors[positions[b]]) };
}

/**
 * The head first (as --fine-tune head would train it), scored on the validation split as the head
 * alone, then blocks and head together.
 */
async function trainWithBlocks(training: ModeTraining, graph: BuiltinGraph, cut: CutPoint, config: FineTuneConfig, data: BlockTrainData, learningRateFactor: number): Promise<TrainedOutcome> {
  const { ctx, plan, trainer, headConfig, featureSets, options, rates } = training;
  let startHead: FineTunedNet['head'] | undefined;
  if (!options.resumeFrom) {
    ctx.emit?.({ type: 'progress', kind: 'train', phase: 'Training the head first', done: 0, total: HEAD_FIRST.epochs, etaSeconds: null });
    const headOptions = {
      control: ctx.control,
      onEpoch: (epoch: { epoch: number }) => ctx.emit?.({ type: 'progress', kind: 'train', phase: 'Training the head first', done: epoch.epoch, total: HEAD_FIRST.epochs, etaSeconds: null }),
    };
    const headSettings = { ...trainer, epochs: HEAD_FIRST.epochs, tripletsPerEpoch: featureSets.train.vectors.length * HEAD_FIRST.tripletsPerPhoto };
    const head = await rates.measure('head', describeSpec(plan.spec), (count) => trainHead(featureSets, headConfig, headSettings, countingTriplets(headOptions, trainer.batchSize, count)));
    startHead = head.head;
    if (head.stopped) {
      head.head.dispose();
      throw new Error('stopped before training started');
    }
    training.onHeadAlone((await evaluateHeadOn(head.head, featureSets, trainer.k)).scores);
  }
  const blockSettings = { ...trainer, blockLearningRate: trainer.learningRate * learningRateFactor };
  const outcome: BlockTrainOutcome = await rates.measure('blocks', modeVariant(plan.settings), (count) =>
    trainBlocks((saved) => graph.trainable(cut, saved), data, headConfig, blockSettings, {
      ...countingTriplets(options, trainer.batchSize, count),
      startHead: startHead ? () => startHead : undefined,
    }),
  );
  const embed = async (set: BlockTrainData['train']) => ({ vectors: await embedInputs(outcome.net, set, set.classIds.length), classIds: set.classIds });
  return {
    epochsDone: outcome.epochsDone,
    finalLoss: outcome.finalLoss,
    stopped: outcome.stopped,
    keptEpoch: outcome.keptEpoch,
    fineTune: config,
    evaluate: async () => evaluateDetailed(await embed(data.validation), await embed(data.train), trainer.k),
    weights: () => packFineTuned(outcome.net),
    dispose: () => disposeNet(outcome.net),
  };
}
