import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeForModel } from '../../library/image.js';
import { decodeActivations, encodeActivations } from '../backbone/activation-codec.js';
import { BuiltinGraph, type CutPoint } from '../backbone/trainable-backbone.js';
import { selectBackend } from '../runtime/compute-backend.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';
import { FLOWERS17, photosOf } from '../../testing/test-photos.js';
import { mapInputs, trainBlocks, type BlockTrainerSettings, type MapSet, type NetInputs } from './block-trainer.js';
import { epochPlanner, type MarkedPair, type Triplet } from './triplets.js';

const haveFlowers = existsSync(FLOWERS17);
if (!haveFlowers) console.warn(`skipping the block trainer tests: ${FLOWERS17} is missing`);

const CLASSES = ['daisy', 'sunflower', 'snowdrop'];
const PER_CLASS = 4;

/** The inputs, recording each training batch they give as the triplets it stacks ([queries; positives; negatives]). */
function recording(inputs: NetInputs): { inputs: NetInputs; fed: Triplet[] } {
  const fed: Triplet[] = [];
  return {
    fed,
    inputs: {
      ...inputs,
      batch: (indices, augment) => {
        // Mining embeds whole inputs (no augmentation); a training step asks for augmented ones.
        if (augment) {
          const n = indices.length / 3;
          for (let i = 0; i < n; i++) fed.push({ query: indices[i], positive: indices[n + i], negative: indices[2 * n + i] });
        }
        return inputs.batch(indices, augment);
      },
    },
  };
}

describe.skipIf(!haveFlowers)('the block phase draws its triplets as the head trainer does', () => {
  let graph: BuiltinGraph;
  let cut: CutPoint;
  let train: MapSet;
  // Photo 0 (a daisy) marked "not similar" to photo 5 (a sunflower).
  const marked: MarkedPair[] = [{ query: 0, negative: 5 }];
  const settings: BlockTrainerSettings = { epochs: 1, batchSize: 6, tripletsPerEpoch: 12, learningRate: 1e-3, blockLearningRate: 1e-4, gap: 1.8, seed: 2, k: 2 };
  const headConfig = { inputDim: 1792, dim: 8, hidden: 0, normalize: true };

  beforeAll(async () => {
    await selectBackend();
    graph = await BuiltinGraph.load();
    cut = graph.cutPoint(0);
    const files = CLASSES.flatMap((cls) => photosOf(cls).slice(0, PER_CLASS).map((f) => join(FLOWERS17, cls, f)));
    const pixels = await Promise.all(files.map(async (f) => (await decodeForModel(f, 224)).pixels));
    const maps = (await graph.activations(pixels, cut)).map((values) => decodeActivations(encodeActivations(values, cut.shape)));
    train = { maps, classIds: files.map((_, i) => Math.floor(i / PER_CLASS)) };
  }, 120_000);
  afterAll(() => graph?.dispose());
  expectNoTensorLeaks();

  const run = async (sampling: BlockTrainerSettings['sampling']) => {
    const { inputs, fed } = recording(mapInputs(train, { crop: 6, mirror: true }));
    const outcome = await trainBlocks((saved) => graph.trainable(cut, saved), { train: inputs, validation: mapInputs(train), marked }, headConfig, { ...settings, sampling });
    outcome.net.head.dispose();
    outcome.net.blocks.dispose();
    const planned = epochPlanner(sampling ?? 'random', train.classIds, marked, settings, () => 0)(1);
    return { fed, planned };
  };

  it('trains on the head trainer\'s plan, the marked pair among the triplets', async () => {
    const { fed, planned } = await run('random');
    expect(fed).toEqual(planned.map(({ query, positive, negative }) => ({ query, positive, negative })));
    expect(fed.some((t) => t.query === 0 && t.negative === 5)).toBe(true);
  });

  it('semi-hard: swaps negatives for ones mined in the batch, of another class, and keeps the marked one', async () => {
    const { fed, planned } = await run('semi-hard');
    expect(fed.map((t) => [t.query, t.positive])).toEqual(planned.map((t) => [t.query, t.positive]));
    const swapped = fed.filter((t, i) => t.negative !== planned[i].negative);
    expect(swapped.length).toBeGreaterThan(0);
    for (const t of fed) expect(train.classIds[t.negative]).not.toBe(train.classIds[t.query]);
    // A swapped negative comes from the same batch (in-batch mining).
    for (const [i, t] of fed.entries()) {
      const batch = planned.slice(i - (i % settings.batchSize), i - (i % settings.batchSize) + settings.batchSize);
      expect(batch.flatMap((b) => [b.query, b.positive, b.negative])).toContain(t.negative);
    }
    planned.forEach((t, i) => {
      if (t.marked) expect(fed[i]).toEqual({ query: t.query, positive: t.positive, negative: t.negative });
    });
    expect(planned.some((t) => t.marked)).toBe(true);
  });
});
