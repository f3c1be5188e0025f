import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { appForSuite, classCounts, describeInChromium, openAppTab, openLibraryByPath, screenshot, settled } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = process.env.LOOKALIKE_ACT_SHOTS ?? join(ROOT, 'test-results', 'screenshots');
/** Opening, indexing and the audit share two cores with other work: state changes can take a while to show. */
const POLL = { timeout: 120_000, interval: 250 };
/** Drawn stripes put in the circles folder, drawn stars in the stripes folder. */
const PLANTED = { relabel: 'circles/stripes-03.jpg', confirm: 'stripes/stars-04.jpg' };

const suspectPaths = (page: Page) => page.$$eval('[data-testid=suspect]', (rows) => rows.map((r) => r.getAttribute('data-path')));

describeInChromium('review labels', () => {
  const suite = appForSuite('e2e-review', async (dir) => {
    const library = await makeSampleLibrary(join(dir, 'shapes'), { classes: ['circles', 'stripes', 'stars'], perClass: 8, unlabelled: 0, seed: 3 });
    await rename(join(library, 'stripes', 'stripes-03.jpg'), join(library, PLANTED.relabel));
    await rename(join(library, 'stars', 'stars-04.jpg'), join(library, PLANTED.confirm));
    return { library };
  });

  it('finds the two planted photos, relabels one and keeps the other as right, moving no file', { timeout: 900_000 }, async () => {
    const { app, library } = suite;
    const { page, errors } = await openAppTab(app);
    await openLibraryByPath(page, library);
    await expect.poll(() => classCounts(page), POLL).toEqual({ circles: 9, stripes: 8, stars: 7 });

    await page.click('[data-testid=tab-review]');
    await page.waitForSelector('[data-testid=review-never]');
    // Enabled once the indexing that opening starts is over.
    await expect.poll(() => page.isEnabled('[data-testid=review-check]'), POLL).toBe(true);
    await page.click('[data-testid=review-check]');
    await page.waitForSelector('[data-testid=suspect]', { timeout: 600_000 });
    const found = await suspectPaths(page);
    expect(found.slice(0, 2).sort()).toEqual([PLANTED.relabel, PLANTED.confirm].sort());
    const first = page.locator(`[data-testid=suspect][data-path="${PLANTED.relabel}"]`);
    expect(await first.getAttribute('data-class-name')).toBe('circles');
    expect(await first.getAttribute('data-suggested')).toBe('stripes');
    expect(await first.locator('[data-testid=suspect-neighbour]').count()).toBeGreaterThan(0);
    await settled(page, '[data-testid=suspects]');
    await screenshot(page, SHOTS, 'review-labels');
    // A neighbour opens full size, to compare before deciding.
    await first.locator('[data-testid=suspect-neighbour]').first().click();
    await page.waitForSelector('[data-testid=photo-viewer]');
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=photo-viewer]', { state: 'detached' });

    // One click relabels (the app's label change, with its Undo); the file stays where it is.
    await first.locator('[data-testid=suspect-relabel]').click();
    await page.waitForSelector(`[data-testid=suspect][data-path="${PLANTED.relabel}"]`, { state: 'detached' });
    await expect.poll(() => page.textContent('[data-testid=label-undo-bar]'), POLL).toContain('Put 1 photo in "stripes"');
    expect(existsSync(join(library, PLANTED.relabel))).toBe(true);
    await expect.poll(() => page.textContent('[data-testid=review-stale]'), POLL).toContain('1 photo of this list changed class since the check');

    // "This one is right": off the list, and still off after a reload (kept in the database).
    await page.click(`[data-testid=suspect][data-path="${PLANTED.confirm}"] [data-testid=suspect-confirm]`);
    await page.waitForSelector(`[data-testid=suspect][data-path="${PLANTED.confirm}"]`, { state: 'detached' });
    await expect.poll(() => page.textContent('[data-testid=review-facts]'), POLL).toContain('1 marked right');
    await page.reload();
    await page.waitForSelector('[data-testid=app][data-ready=true]');
    await page.click('[data-testid=tab-review]');
    await page.waitForSelector('[data-testid=review-facts]');
    const after = await suspectPaths(page);
    expect(after).not.toContain(PLANTED.relabel);
    expect(after).not.toContain(PLANTED.confirm);
    if (after.length > 0) await settled(page, '[data-testid=suspects]');
    await screenshot(page, SHOTS, 'review-labels-after');
    expect(existsSync(join(library, PLANTED.confirm))).toBe(true);
    expect(errors).toEqual([]);
  });
});
