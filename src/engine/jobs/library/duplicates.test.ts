import { copyFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DUPLICATE_THRESHOLD, DEFAULT_SETTINGS } from '../../../shared/settings.js';
import { parseBackboneSpec } from '../../ml/backbone/backbone.js';
import { Store } from '../../store/store.js';
import { drawPhoto, drawTestLibrary } from '../../testing/test-photos.js';
import { cacheFeatures } from './feature-cache.js';
import { ensureBaselineModel } from './indexing.js';
import { openLibrary } from './library-sync.js';
import { duplicateEdges, groupDuplicates, MAX_DUPLICATE_DISTANCE } from './duplicates.js';

let root: string;
let store: Store;
let libraryId: number;
let modelId: number;
const CIRCLE = 'scene.jpg';
const SQUARE = 'squares-01.jpg';

describe('near-duplicates through the search index', () => {
  beforeAll(async () => {
    root = await drawTestLibrary({ classes: ['circles', 'squares', 'stripes'], perClass: 5, seed: 5 });
    // Planted: an exact copy (same bytes, another folder) and a near copy of a photo-like drawing (resized to 70%, re-encoded at quality 70).
    copyFileSync(join(root, 'squares', SQUARE), join(root, 'stripes', 'copy-of-square.jpg'));
    const original = await drawPhoto(join(root, 'circles', CIRCLE), 800, 600, 7);
    const { width } = await sharp(original).metadata();
    writeFileSync(join(root, 'circles', 'near-copy.jpg'), await sharp(original).resize(Math.round(width! * 0.7)).jpeg({ quality: 70 }).toBuffer());
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
    expect(paths).toContainEqual(['circles/near-copy.jpg', `circles/${CIRCLE}`]);
    expect(paths).toContainEqual([`squares/${SQUARE}`, 'stripes/copy-of-square.jpg']);
    expect(tight.groups).toHaveLength(2);
    const exact = tight.groups.find((g) => g.photos.some((p) => p.path === 'stripes/copy-of-square.jpg'))!;
    expect(exact.exact).toBe(true);
    expect(exact.photos.every((p) => p.exactCopy && p.distance === 0)).toBe(true);
    // The photo proposed to keep: the original, not the smaller copy; the shorter path among equal copies.
    expect(exact.photos[0].path).toBe(`squares/${SQUARE}`);
    const near = tight.groups.find((g) => g.photos.some((p) => p.path === 'circles/near-copy.jpg'))!;
    expect(near.photos[0].path).toBe(`circles/${CIRCLE}`);
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

  it('at the default threshold groups the planted copies and no different drawings, closest group first', async () => {
    const found = groupDuplicates(store, libraryId, await duplicateEdges(store, modelId), DEFAULT_DUPLICATE_THRESHOLD);
    expect(found.groups.map((g) => g.photos.map((p) => p.path).sort())).toEqual([
      [`squares/${SQUARE}`, 'stripes/copy-of-square.jpg'],
      ['circles/near-copy.jpg', `circles/${CIRCLE}`],
    ]);
  });
});
