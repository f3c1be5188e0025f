import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiHandlers, LibrarySummary, PhotoQuery } from '../src/shared/api.js';
import type { EngineService } from '../src/engine/jobs/service/service-contract.js';
import { DEFAULT_SETTINGS } from '../src/shared/settings.js';
import { startBridge, type Bridge } from '../src/bridge/server.js';

const TOTAL = 100_000;
const CLASSES = ['alpha', 'beta', 'gamma', 'delta'];
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const MISSING = 3;

/** A library of 100,000 photos, served by a handler table (no engine): what the grid does at scale. */
function bigLibrary(root: string, thumb: string, calls: PhotoQuery[]): EngineService {
  const summary: LibrarySummary = {
    libraryId: 1,
    root,
    photoCount: TOTAL,
    unlabelledCount: 0,
    classes: CLASSES.map((name, i) => ({ id: i + 1, name, photoCount: TOTAL / CLASSES.length })),
    problems: [],
    moveNotices: [],
  };
  const none = async () => {
    throw new Error('not used here');
  };
  const handlers: ApiHandlers = {
    status: async () => ({ library: summary, backend: null, job: null, defaults: DEFAULT_SETTINGS }),
    openLibrary: none,
    listPhotos: async (query) => {
      calls.push(query);
      const total = query.classId ? TOTAL / CLASSES.length : TOTAL;
      const count = Math.max(0, Math.min(query.limit, total - query.offset));
      const items = Array.from({ length: count }, (_, i) => {
        const id = query.offset + i + 1;
        const className = CLASSES[(id - 1) % CLASSES.length];
        return { id, path: `${className}/photo-${id}.jpg`, className, split: null };
      });
      return { total, offset: query.offset, items };
    },
    startTraining: none,
    pauseTraining: async () => null,
    resumeTraining: async () => null,
    stopTraining: async () => null,
    listRuns: async () => [],
    trainingCost: none,
    runHistory: none,
    listModels: async () => [],
    findSimilar: none,
    evaluateModel: none,
    labels: none,
    changeLabels: none,
    undoLabels: none,
    previewLabelWrite: none,
    writeLabels: none,
    undoLabelWrite: none,
    findDuplicates: none,
    movePhotos: none,
    undoMovePhotos: none,
    exportModel: none,
    importModel: none,
    removeModel: none,
    listFolders: none,
    marks: none,
    markNotSimilar: none,
    startLabelAudit: none,
    labelAudit: none,
    confirmLabel: none,
    suggestClasses: none,
    rejectSuggestion: none,
    libraryMap: none,
  };
  // Photo 3's file has gone missing since the library was listed.
  const photoFile = async (id: number) => (id === MISSING ? null : thumb);
  return { handlers, subscribe: () => () => undefined, photoFile, libraryRoot: () => root, close: async () => undefined };
}

const tileIds = (page: Page) => page.$$eval('[data-testid=photo-tile]', (tiles) => tiles.map((t) => Number(t.getAttribute('data-photo-id'))));

describe('the library grid at 100,000 photos', () => {
  let dir: string;
  let bridge: Bridge;
  let browser: Browser;
  const calls: PhotoQuery[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lookalike-grid-'));
    const thumb = join(dir, 'thumb.webp');
    await sharp({ create: { width: 64, height: 64, channels: 3, background: '#5a7' } }).webp().toFile(thumb);
    const rendererDir = join(dir, 'renderer');
    const [{ build, mergeConfig }, config] = await Promise.all([import('vite'), import('../electron.vite.config.js')]);
    await build(mergeConfig((config.default as { renderer: Record<string, unknown> }).renderer, { configFile: false, logLevel: 'warn', build: { outDir: rendererDir, emptyOutDir: true } }));
    bridge = await startBridge({ service: bigLibrary(dir, thumb, calls), rendererDir });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  });

  afterAll(async () => {
    await browser?.close();
    await bridge?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('draws only the photos on screen and fetches only the pages it shows', { timeout: 300_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    await page.goto(bridge.url);
    await page.waitForSelector('[data-testid=photo-tile]');
    expect(await page.getAttribute('[data-testid=photo-grid]', 'data-total')).toBe(String(TOTAL));
    const first = await tileIds(page);
    expect(Math.min(...first)).toBe(1);
    expect(first.length).toBeLessThan(120);
    // A thumbnail that cannot be served says so instead of staying an empty square.
    await page.waitForSelector(`[data-testid=photo-tile][data-photo-id="${MISSING}"] >> text=no preview`);
    expect(await page.locator(`[data-testid=photo-tile][data-photo-id="${MISSING - 1}"] img`).count()).toBe(1);

    // Jump to the middle: the tiles there appear, still a screenful, from one or two more pages.
    const before = calls.length;
    await page.$eval('[data-testid=photo-grid]', (grid) => grid.scrollTo({ top: grid.scrollHeight / 2 }));
    await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=photo-tile]')].some((t) => Number(t.getAttribute('data-photo-id')) > 45_000));
    const middle = await tileIds(page);
    expect(Math.min(...middle)).toBeGreaterThan(45_000);
    expect(Math.max(...middle)).toBeLessThan(55_000);
    expect(middle.length).toBeLessThan(120);
    expect(calls.length - before).toBeLessThanOrEqual(2);
    expect(await page.locator('[data-testid=photo-grid] *').count()).toBeLessThan(600);

    // The very end: the last photo is there.
    await page.$eval('[data-testid=photo-grid]', (grid) => grid.scrollTo({ top: grid.scrollHeight }));
    await page.waitForSelector(`[data-testid=photo-tile][data-photo-id="${TOTAL}"]`);
    expect((await tileIds(page)).length).toBeLessThan(120);

    // A photo far down opens the same context menu.
    await page.locator(`[data-testid=photo-tile][data-photo-id="${TOTAL}"]`).click({ button: 'right' });
    expect(await page.textContent('[data-testid=photo-menu]')).toContain(`photo-${TOTAL}.jpg`);
    await page.keyboard.press('Escape');
    await page.waitForSelector('[data-testid=photo-menu]', { state: 'detached' });

    // Filtering by class starts over at the top with that class's count.
    await page.click('[data-testid=class-row][data-class-name=beta]');
    await page.waitForSelector(`[data-testid=photo-grid][data-total="${TOTAL / CLASSES.length}"]`);
    expect(await page.$eval('[data-testid=photo-grid]', (grid) => grid.scrollTop)).toBe(0);
    expect(calls.at(-1)).toMatchObject({ classId: 2, offset: 0 });
    await page.close();
  });
});
