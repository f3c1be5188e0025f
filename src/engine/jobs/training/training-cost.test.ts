import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModeCost, TrainSettings } from '../../../shared/api.js';
import { resolveSettings } from '../../../shared/settings.js';
import { makeSampleLibrary } from '../../library/sample-library.js';
import { Store } from '../../store/store.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';
import { openLibrary } from '../library/library-sync.js';
import { releaseQueryBackbones } from '../models/query-backbones.js';
import { planTraining } from '../door.js';
import { trainModel } from './training.js';
import { trainingCost } from './training-cost.js';

const CPU = { name: 'wasm', gpu: false };
const SETTINGS: Partial<TrainSettings> = { epochs: 2, batchSize: 16, tripletsPerEpoch: 40, dim: 16, seed: 2 };
let dir: string;
let store: Store;
let libraryId: number;
const photos = 3 * 4 + 2;

const costOf = async (settings: Partial<TrainSettings> = SETTINGS) => {
  const cost = await trainingCost(store, libraryId, resolveSettings(settings), CPU);
  return Object.fromEntries(cost.modes.map((m) => [m.mode, m])) as Record<ModeCost['mode'], ModeCost>;
};
const partOf = (mode: ModeCost, phase: string) => mode.parts.find((p) => p.phase === phase)!;

expectNoTensorLeaks(releaseQueryBackbones);

describe('what each fine-tune mode would cost, from this machine’s runs or the reference figures', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lookalike-cost-'));
    store = Store.open(join(dir, 'lookalike.db'));
    const library = await makeSampleLibrary(join(dir, 'library'), { perClass: 4, unlabelled: 2, classes: ['circles', 'stripes', 'stars'] });
    libraryId = (await openLibrary({ store }, library)).libraryId;
  });
  afterAll(() => {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  // No cut is cached in this library: the estimate does not load the built-in graph to name one (the leak check would count its weights).
  it('before any run: every phase from the reference machine, nothing cached, the whole network refused without a GPU', async () => {
    const { head, 'last-blocks': lastBlocks, full } = await costOf();
    expect(head).toMatchObject({ unavailable: null, source: 'reference' });
    expect(partOf(head, 'features')).toMatchObject({ items: photos, cached: 0, source: 'reference' });
    // 2 epochs of 40 triplets in batches of 16: 3 full batches an epoch, as the trainer runs them.
    expect(partOf(head, 'head')).toMatchObject({ items: 2 * 48, unit: 'triplets', source: 'reference' });
    expect(head.seconds).toBeCloseTo(head.parts.reduce((sum, p) => sum + p.seconds!, 0), 9);

    expect(lastBlocks.parts.map((p) => p.phase)).toEqual(['features', 'cut-maps', 'head', 'blocks', 'embed']);
    expect(lastBlocks).toMatchObject({ unavailable: null, source: 'reference' });
    expect(partOf(lastBlocks, 'cut-maps')).toMatchObject({ items: photos, cached: 0 });
    expect(lastBlocks.seconds!).toBeGreaterThan(head.seconds!);

    expect(full).toMatchObject({ unavailable: expect.stringMatching(/^full fine-tuning needs a GPU backend; this machine runs wasm/), seconds: null, parts: [] });
  });

  it('says it does not know what nobody has measured (2 blocks) instead of guessing', async () => {
    const { 'last-blocks': lastBlocks } = await costOf({ ...SETTINGS, fineTuneBlocks: 2 });
    expect(partOf(lastBlocks, 'blocks')).toMatchObject({ source: 'unknown', perSecond: null, seconds: null });
    expect(lastBlocks.seconds).toBeNull();
  });

  it('after a head run: its phases are stored with their speeds, the features count as cached, and the head’s estimate rests on this run', async () => {
    const result = await trainModel({ store }, libraryId, planTraining(store, libraryId, resolveSettings(SETTINGS), { k: 2 }));
    expect(result.headAlone).toBeNull(); // a head run has no head-first phase to compare with
    const rates = Object.fromEntries(store.runRates.ofRun(result.runId).map((r) => [r.phase, r]));
    expect(Object.keys(rates).sort()).toEqual(['embed', 'features', 'head']);
    expect(rates.features.items).toBe(photos);
    expect(rates.head.items).toBe(2 * 48);
    // The evaluation (validation queries against training photos) and the index of every photo.
    expect(rates.embed.items).toBe(result.trained.queries + result.trained.database + photos);
    for (const r of Object.values(rates)) expect(r.seconds).toBeGreaterThan(0);

    const { head, 'last-blocks': lastBlocks } = await costOf();
    expect(head.source).toBe('this-machine');
    expect(partOf(head, 'features')).toMatchObject({ items: 0, cached: photos, seconds: 0, source: 'cached' });
    expect(partOf(head, 'head').perSecond).toBeCloseTo(rates.head.items / rates.head.seconds, 6);
    expect(partOf(head, 'embed').perSecond).toBeCloseTo(rates.embed.items / rates.embed.seconds, 6);
    // A second run with twice the epochs is estimated at twice the head's time.
    const { head: longer } = await costOf({ ...SETTINGS, epochs: 4 });
    expect(partOf(longer, 'head').seconds).toBeCloseTo(2 * partOf(head, 'head').seconds!, 6);
    // Last-blocks trains beside the same multi-scale features: its head first is the head's run.
    expect(partOf(lastBlocks, 'features')).toMatchObject({ items: 0, source: 'cached' });
    expect(partOf(lastBlocks, 'head').source).toBe('this-machine');
    expect(partOf(lastBlocks, 'head').perSecond).toBeCloseTo(rates.head.items / rates.head.seconds, 6);
  });
});
