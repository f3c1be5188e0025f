import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { drawTestLibrary } from '../src/engine/testing/test-photos.js';
import { type BrowserApp, classCounts, describeInChromium, openAppTab, openLibraryByPath, screenshot, startBrowserApp, trainTwoShortEpochs } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = process.env.LOOKALIKE_ACT_SHOTS ?? join(ROOT, 'test-results', 'screenshots');
/** Indexing and training share two cores with other work: state changes can take a while to show. */
const POLL = { timeout: 120_000, interval: 250 };

/** Opens a library from the Library view and waits until its classes are listed. */
async function openLibrary(page: Page, root: string, classes: string[]): Promise<void> {
  await page.click('[data-testid=tab-library]');
  await openLibraryByPath(page, root);
  await expect.poll(async () => Object.keys(await classCounts(page)).sort(), POLL).toEqual(classes);
}

/** The classes the Train view's Per-class table lists, sorted. */
const perClassRows = (page: Page) => page.$$eval('[data-testid=class-quality-row]', (rows) => rows.map((r) => r.getAttribute('data-class')).sort());
/** "Run N" of the main card, and its state. */
const mainCard = async (page: Page) => ({ title: await page.textContent('[data-testid=train-progress] .title'), state: await page.getAttribute('[data-testid=train-progress]', 'data-state') });

describeInChromium('the views follow the open library and the started run', () => {
  let dir: string;
  let libraryA: string;
  let libraryB: string;
  let app: BrowserApp;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lookalike-e2e-follow-'));
    libraryA = await drawTestLibrary({ classes: ['circles', 'squares'], perClass: 6 });
    libraryB = await drawTestLibrary({ classes: ['stars', 'stripes'], perClass: 6, seed: 7 });
    app = await startBrowserApp(dir, { reopenLast: false });
  });

  afterAll(async () => {
    await app?.close();
    for (const path of [dir, libraryA, libraryB]) if (path) await rm(path, { recursive: true, force: true });
  });

  it("after opening library B, Train shows B's per-class table and B's run, live from Start, never A's", { timeout: 900_000 }, async () => {
    const { page, errors } = await openAppTab(app);

    await openLibrary(page, libraryA, ['circles', 'squares']);
    await trainTwoShortEpochs(page, POLL);
    await expect.poll(() => perClassRows(page), POLL).toEqual(['circles', 'squares']);
    const runA = Number(await page.getAttribute('[data-testid=run-row] >> nth=0', 'data-run-number'));
    await page.mouse.move(0, 0);
    await screenshot(page, SHOTS, 'follow-library-a');

    // Library B, trained at once (while it is still being indexed): nothing of A's stays on the Train view, before or while B trains.
    await openLibrary(page, libraryB, ['stars', 'stripes']);
    await page.click('[data-testid=tab-train]');
    expect(await perClassRows(page)).not.toContain('circles');
    expect(await page.$$eval('[data-testid=run-row]', (rows) => rows.length)).toBe(0);
    expect(await page.textContent('[data-testid=train-progress]')).not.toContain(`Run ${runA}`); // no run of B yet: nothing of A's shown
    expect(await page.getAttribute('[data-testid=loss-chart]', 'data-points')).toBe('0');
    // No axes of A's run over B's empty chart.
    expect(await page.$eval('[data-testid=loss-chart] .uplot', (u) => getComputedStyle(u).visibility)).toBe('hidden');
    await page.mouse.move(0, 0);
    await screenshot(page, SHOTS, 'follow-library-b-opened');
    await page.click('[data-testid=train-start]');
    await expect.poll(() => page.getAttribute('[data-testid=run-row] >> nth=0', 'data-run-id'), POLL).not.toBeNull();
    const runBId = Number(await page.getAttribute('[data-testid=run-row] >> nth=0', 'data-run-id'));
    // Runs are numbered per library: B's first run is Run 1, as A's was.
    const runB = Number(await page.getAttribute('[data-testid=run-row] >> nth=0', 'data-run-number'));
    expect(runB).toBe(1);
    await expect.poll(() => mainCard(page), POLL).toEqual({ title: `Run ${runB}`, state: 'running' });
    expect(await perClassRows(page)).not.toContain('circles');
    await page.waitForSelector('[data-testid=train-progress][data-state=done]', { timeout: 600_000 });
    expect(await mainCard(page)).toEqual({ title: `Run ${runB}`, state: 'done' });
    await expect.poll(() => perClassRows(page), POLL).toEqual(['stars', 'stripes']);
    await expect.poll(() => page.textContent('[data-testid=class-quality] .head'), POLL).toContain(`Trained run ${runB}`);

    // Another run of B, started while the finished one is being loaded (its history held back 3 s): the card follows the started run, and stays on it.
    await page.route('**/api/runHistory', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await route.continue();
    });
    await page.click(`[data-testid=run-row][data-run-id="${runBId}"]`);
    await page.fill('[data-testid=setting-epochs]', '3');
    await page.fill('[data-testid=setting-tripletsPerEpoch]', '960');
    await page.click('[data-testid=train-start]');
    await expect.poll(() => mainCard(page), POLL).toEqual({ title: `Run ${runB + 1}`, state: 'running' });
    await page.waitForTimeout(3500);
    await page.unroute('**/api/runHistory');
    expect((await mainCard(page)).title).toBe(`Run ${runB + 1}`);

    // A second window joining mid-run draws every step so far (no gap up to where it joined) and marks each epoch where it began.
    const joined = await app.browser.newPage({ viewport: { width: 1360, height: 860 } });
    await joined.goto(app.bridge.url);
    await joined.waitForSelector('[data-testid=app][data-ready=true]');
    await joined.click('[data-testid=tab-train]');
    const chart = () =>
      joined.$eval('[data-testid=loss-chart]', (c) => {
        const [points, lastStep, lastEpoch, marks] = ['points', 'last-step', 'last-epoch', 'epoch-marks'].map((name) => Number(c.getAttribute(`data-${name}`)));
        return { points, lastStep, lastEpoch, marks };
      });
    await expect.poll(async () => (await chart()).points, POLL).toBeGreaterThan(0);
    // The marks are drawn a frame after the points come: read them together once they agree, or fail after POLL.
    await expect.poll(async () => {
      const seen = await chart();
      return seen.points === seen.lastStep && seen.marks === seen.lastEpoch - 1;
    }, POLL).toBe(true);
    await joined.close();
    await expect.poll(() => page.getAttribute('[data-testid=run-row].selected', 'data-run-number'), POLL).toBe(String(runB + 1));
    await page.mouse.move(0, 0);
    await screenshot(page, SHOTS, 'follow-library-b-live');
    await page.waitForSelector('[data-testid=train-progress][data-state=done]', { timeout: 600_000 });
    expect(await mainCard(page)).toEqual({ title: `Run ${runB + 1}`, state: 'done' });
    expect(errors).toEqual([]);
    await page.close();
  });
});
