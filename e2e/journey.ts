import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/** Every run saves the three views under test-results/; LOOKALIKE_UPDATE_SCREENSHOTS=1 refreshes the README's copies. */
export const SCREENSHOTS = process.env.LOOKALIKE_UPDATE_SCREENSHOTS
  ? join(import.meta.dirname, '..', 'docs', 'screenshots')
  : join(import.meta.dirname, '..', 'test-results', 'screenshots');

export interface JourneyOptions {
  /**
   * Open the library by typing its path (the bridge), as `~/…` (the engine's home folder is `home`);
   * absent: it is open already (Electron, LOOKALIKE_LIBRARY).
   */
  openPath?: { home: string; library: string };
  classes: Record<string, number>;
  /** The test may resize the viewport (a browser page; not an Electron window). */
  resizable?: boolean;
  /** Save the three views (see SCREENSHOTS). */
  screenshots: boolean;
}

/** Waits until every thumbnail on screen has loaded (or failed), so a screenshot shows photos. */
async function thumbnailsSettled(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const images = [...document.querySelectorAll<HTMLImageElement>('[data-testid=photo-tile] img, [data-testid=similar-result] img')];
    return images.length > 0 && images.every((img) => img.complete);
  });
  await animationsDone(page);
}

/** Fades and bar transitions finished: a screenshot shows the settled page. */
async function animationsDone(page: Page): Promise<void> {
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity));
}

async function shot(page: Page, options: JourneyOptions, name: string): Promise<void> {
  if (!options.screenshots) return;
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/**
 * What a person does on first use: open the library, see the classes and photos, train two short
 * epochs while the loss falls, then right-click a photo and find similar ones.
 */
export async function journey(page: Page, options: JourneyOptions): Promise<void> {
  await page.waitForSelector('[data-testid=app][data-ready=true]');
  const expectedTotal = Object.values(options.classes).reduce((a, b) => a + b, 0);

  // Library: open the folder, see each class with its count, and thumbnails.
  if (options.openPath) {
    const { home, library } = options.openPath;
    await expect.poll(() => page.locator('[data-testid=library-empty]').count()).toBe(1);
    // A mistake is the person's: a 4xx with the engine's message on screen (and no console error).
    for (const [typed, status, message] of [
      ['~/no-such-folder', 404, `${home}/no-such-folder: folder not found`],
      ['photos/flowers', 400, 'photos/flowers: give the full path of the folder'],
    ] as const) {
      await page.fill('[data-testid=library-path]', typed);
      const [reply] = await Promise.all([page.waitForResponse('**/api/openLibrary'), page.click('[data-testid=open-button]')]);
      expect(reply.status(), typed).toBe(status);
      await expect.poll(() => page.locator('[data-testid=error]').allTextContents(), { timeout: 30_000 }).toContainEqual(expect.stringContaining(message));
      await page.click('[data-testid=error] button');
    }
    // ~ is the home folder of the engine, not a folder named "~".
    expect(library.startsWith(`${home}/`)).toBe(true);
    await page.fill('[data-testid=library-path]', `~/${library.slice(home.length + 1)}`);
    await page.click('[data-testid=open-button]');
    await page.waitForSelector('[data-testid=class-row]', { timeout: 120_000 });
    await expect.poll(() => page.inputValue('[data-testid=library-path]'), { timeout: 30_000 }).toBe(library);
  }
  await page.waitForSelector('[data-testid=class-row]');
  const counts = await page.$$eval('[data-testid=class-row]', (rows) => Object.fromEntries(rows.map((r) => [r.getAttribute('data-class-name'), Number(r.getAttribute('data-count'))])));
  expect(counts).toEqual(options.classes);
  await expect.poll(() => page.getAttribute('[data-testid=photo-grid]', 'data-total')).toBe(String(expectedTotal));
  await page.waitForSelector('[data-testid=photo-tile] img');
  await thumbnailsSettled(page);
  const shown = await page.$$eval('[data-testid=photo-tile] img', (imgs) => (imgs as HTMLImageElement[]).filter((img) => img.naturalWidth > 0).length);
  expect(shown).toBeGreaterThan(0);
  // A narrower window re-flows the grid: photos already loaded stay visible.
  if (options.resizable) {
    const size = page.viewportSize()!;
    await page.setViewportSize({ width: size.width - 300, height: size.height });
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=photo-tile]').length > 0);
    await thumbnailsSettled(page);
    await page.setViewportSize(size);
    await thumbnailsSettled(page);
  }
  // Loaded photos end fully shown. A fade can start just after the load seen above (under load, a
  // frame later), so this waits for it rather than reading once.
  const hidden = () => page.$$eval('[data-testid=photo-tile] img', (imgs) => (imgs as HTMLImageElement[]).filter((img) => img.naturalWidth > 0 && getComputedStyle(img).opacity !== '1').length);
  await expect.poll(hidden, { timeout: 30_000 }).toBe(0);
  // Filtering by class shows only that class.
  const firstClass = Object.keys(options.classes)[0];
  await page.click(`[data-testid=class-row][data-class-name=${firstClass}]`);
  await expect.poll(() => page.getAttribute('[data-testid=photo-grid]', 'data-total')).toBe(String(options.classes[firstClass]));
  const filtered = await page.$$eval('[data-testid=photo-tile]', (tiles) => [...new Set(tiles.map((t) => t.getAttribute('data-class-name')))]);
  expect(filtered).toEqual([firstClass]);
  await page.click('[data-testid=class-all]');
  await expect.poll(() => page.getAttribute('[data-testid=photo-grid]', 'data-total')).toBe(String(expectedTotal));
  await thumbnailsSettled(page);
  await page.mouse.move(0, 0);
  await shot(page, options, 'library');

  // Train: a bad gap is refused before anything starts; two short epochs draw the loss and the metrics.
  await page.click('[data-testid=tab-train]');
  await page.fill('[data-testid=setting-gap]', '0');
  await page.waitForSelector('[data-testid=setting-error-gap]');
  expect(await page.isDisabled('[data-testid=train-start]')).toBe(true);
  await page.fill('[data-testid=setting-gap]', '1');
  await page.fill('[data-testid=setting-epochs]', '2');
  await page.fill('[data-testid=setting-tripletsPerEpoch]', '96');
  await page.fill('[data-testid=setting-batchSize]', '16');
  await expect.poll(() => page.isEnabled('[data-testid=train-start]')).toBe(true);
  await page.click('[data-testid=train-start]');
  // Start gives way to Pause, and the focus goes with it (not to the page); Enter pauses, and the ETA says so.
  const focused = () => page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName);
  await expect.poll(focused, { timeout: 120_000 }).toBe('train-pause');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=train-progress][data-state=paused], [data-testid=train-progress][data-state=done]', { timeout: 300_000 });
  // (A quiet machine may finish the 12 steps before Enter lands; then there is nothing to pause.)
  if ((await page.getAttribute('[data-testid=train-progress]', 'data-state')) === 'paused') {
    if (await page.locator('[data-testid=train-step]').count()) expect(await page.textContent('[data-testid=train-eta]')).toBe('paused');
    await page.click('[data-testid=train-resume]');
  }
  await page.waitForSelector('[data-testid=loss-chart]:not([data-points="0"])', { timeout: 300_000 });
  await page.waitForSelector('[data-testid=epoch-row][data-epoch="2"]', { timeout: 300_000 });
  await page.waitForSelector('[data-testid=train-progress][data-state=done]', { timeout: 120_000 });
  const points = Number(await page.getAttribute('[data-testid=loss-chart]', 'data-points'));
  expect(points).toBeGreaterThanOrEqual(2);
  // uPlot drew the curve on its canvas.
  expect(await page.locator('[data-testid=loss-chart] canvas').count()).toBe(1);
  expect(await page.locator('[data-testid=epoch-row]').count()).toBe(2);
  // The chart marks where epoch 2 begins.
  expect(await page.getAttribute('[data-testid=loss-chart]', 'data-epoch-marks')).toBe('1');
  await page.waitForSelector('[data-testid=baseline-row]');
  const metrics = await page.$$eval('[data-testid=epoch-row] td', (cells) => cells.map((c) => c.textContent?.trim() ?? ''));
  expect(metrics.some((text) => /^\d\.\d{3}/.test(text))).toBe(true);
  await page.waitForSelector('[data-testid=run-row]');
  await animationsDone(page);
  await shot(page, options, 'train');

  // Find similar: right-click a photo, choose "Find similar", see ranked neighbours nearest first.
  await page.click('[data-testid=tab-library]');
  const tile = page.locator('[data-testid=photo-tile]').nth(3);
  const queryClass = await tile.getAttribute('data-class-name');
  const queryId = await tile.getAttribute('data-photo-id');
  await tile.click({ button: 'right' });
  await page.waitForSelector('[data-testid=photo-menu]');
  await page.click('[data-testid=menu-find-similar]');
  await page.waitForSelector('[data-testid=similar-result]');
  // The first result takes the focus.
  await expect.poll(focused, { timeout: 30_000 }).toBe('similar-result');
  expect(await page.evaluate(() => document.activeElement?.getAttribute('data-rank'))).toBe('1');
  expect(await page.getAttribute('[data-testid=tab-similar]', 'aria-current')).toBe('page');
  expect(await page.textContent('[data-testid=similar-query]')).toContain(queryClass);
  const results = await page.$$eval('[data-testid=similar-result]', (tiles) =>
    tiles.map((t) => ({ rank: Number(t.getAttribute('data-rank')), distance: Number(t.getAttribute('data-distance')), id: t.getAttribute('data-photo-id'), same: t.getAttribute('data-same-class') })),
  );
  // k other photos: the query is shown apart, never among its results.
  expect(results.length).toBe(Math.min(30, expectedTotal - 1));
  expect(results.map((r) => r.id)).not.toContain(queryId);
  expect(results.map((r) => r.rank)).toEqual(results.map((_, i) => i + 1));
  for (let i = 1; i < results.length; i++) expect(results[i].distance).toBeGreaterThanOrEqual(results[i - 1].distance);
  expect(results.every((r) => Number.isFinite(r.distance) && r.distance >= 0)).toBe(true);
  // The distances are shown, and photos of the query's class are marked.
  const shownDistance = await page.textContent('[data-testid=similar-result] [data-testid=similar-distance]');
  expect(shownDistance?.trim()).toMatch(/^\d+\.\d+$/);
  const marked = results.filter((r) => r.same === 'true').length;
  expect(marked).toBeGreaterThan(0);
  // After training on so few photos, most of the nearest neighbours share the query's class.
  const nearest = results.slice(0, 5);
  expect(nearest.filter((r) => r.same === 'true').length).toBeGreaterThanOrEqual(3);

  // k changes the number of results: k = 10 gives 10 other photos.
  await page.fill('[data-testid=similar-k]', '10');
  await page.press('[data-testid=similar-k]', 'Enter');
  await expect.poll(() => page.locator('[data-testid=similar-result]').count()).toBe(10);
  expect(await page.$$eval('[data-testid=similar-result]', (tiles) => tiles.map((t) => t.getAttribute('data-photo-id')))).not.toContain(queryId);
  expect(await page.textContent('[data-testid=similar-summary] h2')).toBe('10 nearest photos');
  await page.fill('[data-testid=similar-k]', '8');
  await page.press('[data-testid=similar-k]', 'Enter');
  await expect.poll(() => page.locator('[data-testid=similar-result]').count()).toBe(8);
  await page.fill('[data-testid=similar-k]', '18');
  await page.press('[data-testid=similar-k]', 'Enter');
  await expect.poll(() => page.locator('[data-testid=similar-result]').count()).toBe(18);
  await page.locator('[data-testid=similar-k]').blur();
  await thumbnailsSettled(page);
  await page.mouse.move(0, 0);
  await shot(page, options, 'similar');
}
