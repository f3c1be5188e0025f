import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Bridge } from '../src/bridge/server.js';
import { drawTestLibrary } from '../src/engine/testing/test-photos.js';
import { type BrowserApp, classCounts, describeInChromium, openLibraryByPath, screenshot, startBrowserApp } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = process.env.LOOKALIKE_ACT_SHOTS ?? join(ROOT, 'test-results', 'screenshots');
const POLL = { timeout: 120_000, interval: 250 };

const shot = (page: Page, name: string) => screenshot(page, SHOTS, name);

const files = async (dir: string) => (await readdir(dir, { recursive: true })).sort();

describeInChromium('write labels to folders', () => {
  let dir: string;
  let library: string;
  let app: BrowserApp;
  let bridge: Bridge;
  let browser: Browser;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lookalike-e2e-write-'));
    library = await drawTestLibrary({ classes: ['circles', 'squares', 'stripes'], perClass: 4, unlabelled: 1, seed: 11 });
    app = await startBrowserApp(dir);
    ({ bridge, browser } = app);
  });

  afterAll(async () => {
    await app?.close();
    for (const folder of [dir, library]) if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('previews every move, moves the files into class folders, keeps the classes, and undoes', { timeout: 600_000 }, async () => {
    const page = await (await browser.newContext({ viewport: { width: 1360, height: 860 } })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(bridge.url);
    await page.waitForSelector('[data-testid=app][data-ready=true]');
    await openLibraryByPath(page, library);
    await expect.poll(() => classCounts(page), POLL).toEqual({ circles: 4, squares: 4, stripes: 4 });
    const before = await files(library);

    // Merge "squares" into "circles" in the app, then write that to the folders.
    await page.click('[data-testid=edit-classes-toggle]');
    await page.selectOption('[data-testid=edit-class][data-class-name=squares] [data-testid=merge-class]', 'circles');
    await page.click('[data-testid=merge-confirm-button]');
    await page.waitForSelector('[data-testid=edit-class][data-class-name=squares]', { state: 'detached' });
    await page.click('[data-testid=write-labels-start]');
    await page.waitForSelector('[data-testid=write-labels-preview]');
    const moves = await page.$$eval('[data-testid=write-labels-move]', (rows) => rows.map((r) => r.textContent?.replace(/\s+/g, ' ').trim()));
    expect(moves).toEqual([1, 2, 3, 4].map((i) => `circles/squares-0${i}.jpg from squares/squares-0${i}.jpg`));
    expect(await files(library)).toEqual(before); // the preview moves nothing
    await shot(page, 'write-labels-preview');

    await page.click('[data-testid=write-labels-confirm]');
    await page.waitForSelector('[data-testid=write-labels-done]');
    expect(await readdir(join(library, 'squares'))).toEqual([]);
    expect((await readdir(join(library, 'circles'))).length).toBe(8);
    await shot(page, 'write-labels-done');
    await page.click('[data-testid=edit-classes-toggle]');
    await expect.poll(() => classCounts(page), POLL).toEqual({ circles: 8, stripes: 4 });

    await page.click('[data-testid=edit-classes-toggle]');
    await page.click('[data-testid=write-labels-undo]');
    await page.waitForSelector('[data-testid=write-labels-done]', { state: 'detached' });
    expect(await files(library)).toEqual(before);
    await page.click('[data-testid=edit-classes-toggle]');
    await expect.poll(() => classCounts(page), POLL).toEqual({ circles: 8, stripes: 4 }); // the merge itself stays
    expect(errors).toEqual([]);
  });
});
