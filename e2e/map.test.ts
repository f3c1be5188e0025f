import { join } from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { expect, it } from 'vitest';
import type { LibraryMap } from '../src/shared/api.js';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { appForSuite, callApi, classCounts, describeInChromium, openAppTab, openLibraryByPath, screenshot, trainTwoShortEpochs } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = process.env.LOOKALIKE_ACT_SHOTS ?? join(ROOT, 'test-results', 'screenshots');
const POLL = { timeout: 180_000, interval: 250 };
/** The map's margin: the whole map takes this share of the panel's shorter side (map-geometry.ts). */
const FIT = 0.92;
/** Half the side of the square drawn as a lasso, in CSS pixels. */
const LASSO = 30;

/** Where a map point is on the page, with the panel's fitted view (as the map first shows). */
async function onPage(page: Page, side: string, x: number, y: number): Promise<[number, number]> {
  const box = (await page.locator(`[data-testid=map-${side}]`).boundingBox())!;
  const scale = Math.min(box.width, box.height) * FIT;
  return [box.x + box.width / 2 + (x - 0.5) * scale, box.y + box.height / 2 + (y - 0.5) * scale];
}

async function mapOf(page: Page, modelId?: number): Promise<LibraryMap> {
  const { status, body } = await callApi(page, 'libraryMap', modelId === undefined ? {} : { modelId });
  expect(status).toBe(200);
  return body as LibraryMap;
}

describeInChromium('the map of the library', () => {
  const suite = appForSuite('e2e-map', async (dir) => ({
    library: await makeSampleLibrary(join(dir, 'shapes'), { classes: ['circles', 'squares', 'stripes', 'stars'], perClass: 6, unlabelled: 2, seed: 3 }),
  }));

  it('shows every photo coloured by class, a thumbnail on hover, puts a lasso selection in a class, and maps the trained model beside', { timeout: 900_000 }, async () => {
    const { app, dir, library } = suite;
    const { page, errors } = await openAppTab(app);
    await openLibraryByPath(page, library);
    await expect.poll(() => classCounts(page), POLL).toEqual({ circles: 6, squares: 6, stripes: 6, stars: 6 });
    await page.waitForSelector('[data-testid=job-status]', { state: 'detached', timeout: 300_000 });

    await page.click('[data-testid=tab-map]');
    await page.waitForSelector('[data-testid=map-baseline][data-points="26"]', { timeout: 300_000 });
    await page.waitForSelector('[data-testid=map-no-trained]');
    const legend = await page.textContent('[data-testid=map-legend]');
    for (const name of ['circles', 'squares', 'stripes', 'stars', 'no class']) expect(legend).toContain(name);
    const map = await mapOf(page);
    expect(map.photoIds).toHaveLength(26);
    await screenshot(page, SHOTS, 'map-untrained');

    // Export PNG: the map as drawn, an image of the panel's size.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=map-export-baseline]')]);
    const exported = join(dir, 'exported-map.png');
    await download.saveAs(exported);
    const panel = (await page.locator('[data-testid=map-baseline]').boundingBox())!;
    const image = await sharp(exported).stats();
    expect((await sharp(exported).metadata()).format).toBe('png');
    expect(Math.abs((await sharp(exported).metadata()).width! - Math.round(panel.width - 2))).toBeLessThanOrEqual(2);
    // Points in class colours on the dark ground: some pixels are bright.
    expect(Math.max(...image.channels.slice(0, 3).map((c) => c.max))).toBeGreaterThan(150);

    // Hover: the photo under the pointer shows as a thumbnail with its name and class.
    const target = map.classOf.findIndex((c) => c === -1);
    const [tx, ty] = await onPage(page, 'baseline', map.x[target], map.y[target]);
    await page.mouse.move(tx, ty);
    const hover = page.locator('[data-testid=map-hover]');
    await hover.waitFor();
    const hovered = Number(await hover.getAttribute('data-photo-id'));
    // The nearest photo to the pointer: the target, or one drawn on top of it.
    const hoveredAt = map.photoIds.indexOf(hovered);
    expect(Math.hypot(map.x[hoveredAt] - map.x[target], map.y[hoveredAt] - map.y[target])).toBeLessThan(0.02);
    await page.waitForFunction(() => {
      const img = document.querySelector<HTMLImageElement>('[data-testid=map-hover] img');
      return img !== null && img.complete && img.naturalWidth > 0;
    });
    expect(await hover.textContent()).toContain(map.paths[hoveredAt].split('/').pop());
    await screenshot(page, SHOTS, 'map-hover');

    // Lasso (Shift+drag) a square around the unlabelled photo: the photos inside it are selected.
    const inside = await Promise.all(map.photoIds.map((_, i) => onPage(page, 'baseline', map.x[i], map.y[i])));
    const expected = map.photoIds.filter((_, i) => Math.abs(inside[i][0] - tx) < LASSO - 1 && Math.abs(inside[i][1] - ty) < LASSO - 1);
    await page.keyboard.down('Shift');
    await page.mouse.move(tx - LASSO, ty - LASSO);
    await page.mouse.down();
    for (const [x, y] of [
      [tx + LASSO, ty - LASSO],
      [tx + LASSO, ty + LASSO],
      [tx - LASSO, ty + LASSO],
      [tx - LASSO, ty - LASSO + 1],
    ]) {
      await page.mouse.move(x, y, { steps: 4 });
    }
    await page.screenshot({ path: join(SHOTS, 'map-lasso.png') });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    await expect.poll(() => page.textContent('[data-testid=label-selection-map] [data-testid=selected-count]')).toBe(String(expected.length));
    await page.fill('[data-testid=label-selection-map] [data-testid=assign-class]', 'odd ones');
    await page.click('[data-testid=label-selection-map] [data-testid=assign-button]');
    await page.waitForSelector('[data-testid=label-selection-map]', { state: 'detached' });
    await expect.poll(async () => (await page.textContent('[data-testid=map-legend]')) ?? '').toContain('odd ones');
    const relabelled = await mapOf(page);
    const odd = relabelled.classes.indexOf('odd ones');
    expect(relabelled.photoIds.filter((_, i) => relabelled.classOf[i] === odd).sort()).toEqual([...expected].sort());
    expect(relabelled.x).toEqual(map.x); // labels change colours, not the layout
    expect(relabelled.classes).toEqual([...map.classes, 'odd ones']); // a new class comes last: the others keep their colours
    await screenshot(page, SHOTS, 'map-labelled');
    await page.click('[data-testid=map-view] [data-testid=label-undo]');
    await expect.poll(async () => (await page.textContent('[data-testid=map-legend]')) ?? '').not.toContain('odd ones');

    // A click on a photo asks Find similar about it.
    await page.mouse.move(tx, ty);
    await page.mouse.down();
    await page.mouse.up();
    await page.waitForSelector('[data-testid=tab-similar][aria-current=page]');
    await page.waitForSelector('[data-testid=similar-result]');

    // Trained: the same photos under the new model, beside the untrained map; pointing at one rings it in both.
    await trainTwoShortEpochs(page, POLL);
    await page.click('[data-testid=tab-map]');
    await page.waitForSelector('[data-testid=map-trained][data-points="26"]', { timeout: 300_000 });
    const models = (await callApi(page, 'listModels', null)).body as Array<{ id: number; kind: string }>;
    const trained = await mapOf(page, models.find((m) => m.kind === 'trained')!.id);
    expect(trained.photoIds).toHaveLength(26);
    const [bx, by] = await onPage(page, 'baseline', map.x[target], map.y[target]);
    await page.mouse.move(bx, by);
    await hover.waitFor();
    await screenshot(page, SHOTS, 'map-side-by-side');
    expect(errors).toEqual([]);
  });
});
