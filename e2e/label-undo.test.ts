import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { appForSuite, classCounts, describeInChromium, openAppTab, openLibraryByPath, screenshot, settled } from './harness.js';

const SHOTS = process.env.LOOKALIKE_ACT_SHOTS ?? join(import.meta.dirname, '..', 'test-results', 'screenshots');
/** Opening and indexing share two cores with other work: state changes can take a while to show. */
const POLL = { timeout: 120_000, interval: 250 };
const ORIGINAL = { circles: 4, squares: 4, stripes: 4 };

describeInChromium('class names and several steps of label undo in the app', () => {
  const suite = appForSuite('e2e-undo', async (dir) => ({
    library: await makeSampleLibrary(join(dir, 'shapes'), { classes: ['circles', 'squares', 'stripes'], perClass: 4, unlabelled: 2, seed: 4 }),
  }));

  /** The classes and their counts as the Edit panel lists them. */
  const editedClasses = (page: Page) =>
    page.$$eval('[data-testid=edit-class]', (rows) => Object.fromEntries(rows.map((r) => [r.getAttribute('data-class-name'), Number(r.querySelector('.count')?.textContent)])));
  const undoBar = (page: Page) => page.locator('section.view:not([hidden]) [data-testid=label-undo-bar]');

  it('says what is wrong with a class name as it is typed and sends none; undoes a merge, then the rename before it', { timeout: 600_000 }, async () => {
    const { page, errors } = await openAppTab(suite.app, { viewport: { width: 1280, height: 800 } });
    const { library } = suite;
    await openLibraryByPath(page, library);
    await expect.poll(() => classCounts(page), POLL).toEqual(ORIGINAL);
    await page.click('[data-testid=edit-classes-toggle]');

    // A name the scan would skip: said under the field as it is typed; Enter sends nothing.
    const circles = page.locator('[data-testid=edit-class][data-class-name=circles]');
    await circles.locator('[data-testid=rename-class]').fill('.circles');
    await expect.poll(() => circles.locator('[data-testid=class-name-problem]').textContent(), POLL).toBe(
      '".circles" cannot be a class name: it starts with a dot: its folder would be hidden, and the library scan skips hidden folders',
    );
    await circles.locator('[data-testid=rename-class]').press('Enter');
    expect(await editedClasses(page)).toEqual(ORIGINAL);
    expect(await undoBar(page).count()).toBe(0);

    // Mended, it goes; then a merge: two steps to undo, newest first.
    await circles.locator('[data-testid=rename-class]').fill('rounds');
    expect(await circles.locator('[data-testid=class-name-problem]').count()).toBe(0);
    await circles.locator('[data-testid=rename-class]').press('Enter');
    await expect.poll(() => undoBar(page).getAttribute('data-steps'), POLL).toBe('1');
    await page.selectOption('[data-testid=edit-class][data-class-name=squares] [data-testid=merge-class]', 'rounds');
    await page.click('[data-testid=merge-confirm-button]'); // a merge asks first
    await expect.poll(() => undoBar(page).getAttribute('data-steps'), POLL).toBe('2');
    expect(await undoBar(page).locator('.what').textContent()).toBe('Merged "squares" into "rounds"');
    expect(await undoBar(page).locator('[data-testid=label-undo-earlier]').textContent()).toBe('+1 earlier');
    await expect.poll(() => editedClasses(page), POLL).toEqual({ rounds: 8, stripes: 4 });
    await settled(page, '[data-testid=photo-grid]');
    await screenshot(page, SHOTS, 'label-undo-two-steps');

    await undoBar(page).locator('[data-testid=label-undo]').click();
    await expect.poll(() => editedClasses(page), POLL).toEqual({ rounds: 4, squares: 4, stripes: 4 });
    expect(await undoBar(page).locator('.what').textContent()).toBe('Renamed "circles" to "rounds"');
    expect(await undoBar(page).locator('[data-testid=label-undo-earlier]').count()).toBe(0);
    await undoBar(page).locator('[data-testid=label-undo]').click();
    await expect.poll(() => editedClasses(page), POLL).toEqual(ORIGINAL);
    expect(await undoBar(page).count()).toBe(0);

    // Putting photos in a new class: a reserved name is said as it is typed, and the button waits for a good one.
    await page.click('[data-testid=edit-classes-toggle]');
    await settled(page, '[data-testid=photo-grid]');
    await page.locator('[data-testid=photo-tile][data-index="0"]').click();
    await page.fill('[data-testid=label-selection-grid] [data-testid=assign-class]', 'con.jpg');
    await expect
      .poll(() => page.textContent('[data-testid=label-selection-grid] [data-testid=class-name-problem]'), POLL)
      .toBe('"con.jpg" cannot be a class name: CON is a device name Windows reserves, even with an extension');
    expect(await page.isDisabled('[data-testid=label-selection-grid] [data-testid=assign-button]')).toBe(true);
    await screenshot(page, SHOTS, 'label-class-name-problem');
    await page.fill('[data-testid=label-selection-grid] [data-testid=assign-class]', 'console');
    expect(await page.isDisabled('[data-testid=label-selection-grid] [data-testid=assign-button]')).toBe(false);
    expect(errors).toEqual([]);
  });
});
