import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { appForSuite, callApi, classCounts, describeInChromium, openLibraryByPath, screenshot, settled, trainTwoShortEpochs } from './harness.js';

const SHOTS = process.env.LOOKALIKE_ACT_SHOTS ?? join(import.meta.dirname, '..', 'test-results', 'screenshots');
/** Opening, indexing and training share two cores with other work: state changes can take a while to show. */
const POLL = { timeout: 120_000, interval: 250 };

const cards = (page: Page) =>
  page.$$eval('[data-testid=suggestion]', (items) => items.map((li) => ({ path: li.getAttribute('data-path')!, className: li.getAttribute('data-class') || null })));

describeInChromium('Sort the unsorted', () => {
  // circles, squares, stripes × 6 labelled; 8 drawn photos in the root (two of each, and two stars: a class never labelled).
  const suite = appForSuite('e2e-sort', async (dir) => ({
    library: await makeSampleLibrary(join(dir, 'shapes'), { classes: ['circles', 'squares', 'stripes'], perClass: 6, unlabelled: 8, seed: 3 }),
  }));

  it('suggests classes for the unsorted photos; one accept, one reject (remembered), "all above", another class by hand; no file moves', { timeout: 900_000 }, async () => {
    const { app, library } = suite;
    const page = await (await app.browser.newContext({ viewport: { width: 1360, height: 900 } })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(app.bridge.url);
    await page.waitForSelector('[data-testid=app][data-ready=true]');
    await openLibraryByPath(page, library);
    await expect.poll(() => classCounts(page), POLL).toEqual({ circles: 6, squares: 6, stripes: 6 });
    const files = (await readdir(library, { recursive: true })).sort();
    await trainTwoShortEpochs(page, POLL);

    await page.click('[data-testid=tab-sort]');
    await expect.poll(async () => (await cards(page)).length, POLL).toBe(8);
    await settled(page, '[data-testid=sort-view]');
    await screenshot(page, SHOTS, 'sort-suggestions');
    // Each suggestion shows the labelled photos it rests on, of the class it names.
    for (const card of await page.$$('[data-testid=suggestion]')) {
      const support = await card.$$eval('[data-testid=suggestion-support]', (items) => items.map((i) => i.getAttribute('data-path')!));
      expect(support.length).toBeGreaterThan(0);
      const className = await card.getAttribute('data-class');
      if (className) expect(support.every((path) => path.startsWith(`${className}/`))).toBe(true);
    }

    // Accept one: it is labelled, and leaves the view.
    const [accepted] = (await cards(page)).filter((c) => c.className !== null);
    await page.click(`[data-testid=suggestion][data-path="${accepted.path}"] [data-testid=suggestion-accept]`);
    await expect.poll(() => page.textContent('[data-testid=sort-view] [data-testid=label-undo-bar]'), POLL).toContain(`Put 1 photo in "${accepted.className}"`);
    await expect.poll(async () => (await cards(page)).map((c) => c.path), POLL).not.toContain(accepted.path);
    const photos = await app.service.handlers.listPhotos({ offset: 0, limit: 100 });
    expect(photos.items.find((p) => p.path === accepted.path)?.className).toBe(accepted.className);

    // Reject one: another class (or none) is suggested, and a reload still knows.
    const [rejected] = (await cards(page)).filter((c) => c.className !== null);
    await page.click(`[data-testid=suggestion][data-path="${rejected.path}"] [data-testid=suggestion-reject]`);
    const rejectedCard = `[data-testid=suggestion][data-path="${rejected.path}"]`;
    await expect.poll(() => page.getAttribute(rejectedCard, 'data-class'), POLL).not.toBe(rejected.className);
    await page.reload();
    await page.waitForSelector('[data-testid=app][data-ready=true]');
    await page.click('[data-testid=tab-sort]');
    await page.waitForSelector(rejectedCard);
    expect(await page.getAttribute(rejectedCard, 'data-class')).not.toBe(rejected.className);
    expect(await page.textContent(rejectedCard)).toContain(`not: ${rejected.className}`);

    // All above a confidence: the count under the slider is what gets accepted.
    await page.fill('[data-testid=sort-confidence]', '0.5');
    const before = await cards(page);
    const expected = before.filter((c) => c.className !== null).length;
    const confident = await page.$$eval('[data-testid=suggestion]', (items) =>
      items.filter((li) => li.getAttribute('data-class') && Number(li.getAttribute('data-confidence')) >= 0.5).map((li) => li.getAttribute('data-path')!),
    );
    expect(Number(await page.getAttribute('[data-testid=sort-above-count]', 'data-count'))).toBe(confident.length);
    expect(confident.length).toBeGreaterThan(0);
    expect(confident.length).toBeLessThanOrEqual(expected);
    await page.click('[data-testid=sort-accept-above]');
    await expect.poll(async () => (await cards(page)).map((c) => c.path).sort(), POLL).toEqual(before.map((c) => c.path).filter((p) => !confident.includes(p)).sort());
    await settled(page, '[data-testid=sort-view]').catch(() => undefined); // nothing left to show is fine
    await screenshot(page, SHOTS, 'sort-after-accepting');
    const labelled = await app.service.handlers.listPhotos({ offset: 0, limit: 100 });
    for (const path of confident) expect(labelled.items.find((p) => p.path === path)?.className).toBe(before.find((c) => c.path === path)?.className);

    // Another class, chosen by hand: the photo goes there.
    const [changed] = await cards(page);
    const other = ['circles', 'squares', 'stripes'].find((c) => c !== changed.className)!;
    await page.selectOption(`[data-testid=suggestion][data-path="${changed.path}"] [data-testid=suggestion-change]`, other);
    await expect.poll(async () => (await cards(page)).map((c) => c.path), POLL).not.toContain(changed.path);
    const relabelled = await app.service.handlers.listPhotos({ offset: 0, limit: 100 });
    expect(relabelled.items.find((p) => p.path === changed.path)?.className).toBe(other);

    // Mistakes through the bridge are the person's (4xx), said in words.
    expect(await callApi(page, 'rejectSuggestion', { photoId: 987654, className: 'circles', rejected: true })).toMatchObject({ status: 404, body: { kind: 'not-found', error: 'no photo 987654 in this library' } });
    expect(await callApi(page, 'suggestClasses', { modelId: 'newest' })).toMatchObject({ status: 400, body: { kind: 'invalid-input' } });

    // Labels only: not one file moved.
    expect((await readdir(library, { recursive: true })).sort()).toEqual(files);
    expect(errors).toEqual([]);
  });
});
