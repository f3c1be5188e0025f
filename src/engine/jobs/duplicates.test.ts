import { copyFileSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../shared/settings.js';
import { parseBackboneSpec } from '../ml/backbone.js';
import { Store } from '../store/store.js';
import { FLOWERS17, copyFlowersLibrary, photosOf } from '../testing/test-photos.js';
import { cacheFeatures, ensureBaselineModel, openLibrary } from './pipeline.js';
import { duplicateEdges, groupDuplicates, MAX_DUPLICATE_DISTANCE } from './duplicates.js';

const haveFlowers = existsSync(FLOWERS17);
let root: string;
let store: Store;
let libraryId: number;
let modelId: number;

describe.skipIf(!haveFlowers)(haveFlowers ? 'near-duplicates through the search index' : 'near-duplicates (skipped: ../shared/datasets/flowers17 is missing)', () => {
  beforeAll(async () => {
    root = copyFlowersLibrary({ classes: ['bluebell', 'daisy', 'tulip'], perClass: 5 });
    // Planted: an exact copy (same bytes, another folder) and a near copy (resized to 60%, re-encoded at quality 55).
    copyFileSync(join(root, 'daisy', photosOf('daisy')[0]), join(root, 'tulip', 'copy-of-daisy.jpg'));
    const original = join(FLOWERS17, 'bluebell', photosOf('bluebell')[1]);
    const { width } = await sharp(original).metadata();
    writeFileSync(join(root, 'bluebell', 'near-copy.jpg'), await sharp(original).resize(Math.round(width! * 0.6)).jpeg({ quality: 55 }).toBuffer());
    store = Store.open(join(root, '..', `${root.split('/').pop()}.db`));
    libraryId = (await openLibrary({ store }, root)).libraryId;
    const spec = parseBackboneSpec(DEFAULT_SETTINGS.backbone);
    await cacheFeatures({ store }, libraryId, spec);
    modelId = await ensureBaselineModel({ store }, libraryId, spec);
  }, 300_000);
  afterAll(() => {
    store?.close();
    if (root) rmSync(root, { recursive: true, force: true });
    rmSync(`${root}.db`, { force: true });
  });

  it('finds the planted exact copy and near copy, and the slider count follows the threshold', async () => {
    const edges = await duplicateEdges(store, modelId);
    const at = (threshold: number) => groupDuplicates(store, libraryId, edges, threshold);
    const tight = at(0.25);
    const paths = tight.groups.map((g) => g.photos.map((p) => p.path).sort());
    expect(paths).toContainEqual([`bluebell/${photosOf('bluebell')[1]}`, 'bluebell/near-copy.jpg']);
    expect(paths).toContainEqual([`daisy/${photosOf('daisy')[0]}`, 'tulip/copy-of-daisy.jpg']);
    expect(tight.groups).toHaveLength(2);
    const exact = tight.groups.find((g) => g.photos.some((p) => p.path === 'tulip/copy-of-daisy.jpg'))!;
    expect(exact.exact).toBe(true);
    expect(exact.photos.every((p) => p.exactCopy && p.distance === 0)).toBe(true);
    // The photo proposed to keep: the original, not the smaller copy; the shorter path among equal copies.
    expect(exact.photos[0].path).toBe(`daisy/${photosOf('daisy')[0]}`);
    const near = tight.groups.find((g) => g.photos.some((p) => p.path === 'bluebell/near-copy.jpg'))!;
    expect(near.photos[0].path).toBe(`bluebell/${photosOf('bluebell')[1]}`);
    expect(near.exact).toBe(false);
    expect(near.photos[1].distance).toBeGreaterThan(0);
    expect(near.photos[1].distance).toBeLessThan(0.25);
    // Exact copies stay grouped at threshold 0; the counts never fall as the threshold grows.
    expect(at(0).groups).toHaveLength(1);
    const counts = tight.groupCounts;
    expect(counts[0]).toEqual({ threshold: 0, groups: 1 });
    expect(counts.at(-1)!.threshold).toBe(MAX_DUPLICATE_DISTANCE);
    expect(counts.find((c) => Math.abs(c.threshold - 0.25) < 1e-9)!.groups).toBe(2);
    expect(() => at(2)).toThrow(/between 0 and 0.6/);
  });
});
