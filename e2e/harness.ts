import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { createThreadedEngineService } from '../src/engine/jobs/service/service-thread.js';
import type { EngineService, EngineServiceOptions } from '../src/engine/jobs/service/service-contract.js';
import { startBridge, TOKEN_HEADER, type Bridge } from '../src/bridge/server.js';
import { TOKEN_KEY } from '../src/renderer/src/transport/bridge-token.js';
import { afterAll, beforeAll, describe, expect } from 'vitest';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** A suite that drives the app in Chromium; without Chromium it is skipped, its title saying why in one line. */
export function describeInChromium(title: string, body: () => void): void {
  const have = existsSync(CHROMIUM);
  describe.skipIf(!have)(have ? `${title} (Chromium, through the bridge)` : `${title} (skipped: needs Chromium at ${CHROMIUM})`, body);
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Builds the renderer from the current sources with the app's own Vite config, into `outDir`. */
export async function buildRenderer(outDir: string): Promise<void> {
  const [{ build, mergeConfig }, config] = await Promise.all([import('vite'), import('../electron.vite.config.js')]);
  const renderer = (config.default as { renderer: Record<string, unknown> }).renderer;
  await build(mergeConfig(renderer, { configFile: false, logLevel: 'warn', build: { outDir, emptyOutDir: true } }));
}

/** Every image under `selector` loaded (or failed; at least one there unless `someImage` is false) and no transition running: a screenshot shows the settled page. */
export async function settled(page: Page, selector: string, options: { someImage?: boolean } = {}): Promise<void> {
  await page
    .waitForFunction(
      ([sel, someImage]) => {
        const images = [...document.querySelectorAll<HTMLImageElement>(`${sel} img`)];
        return (images.length > 0 || !someImage) && images.every((img) => img.complete);
      },
      [selector, options.someImage ?? true] as const,
      { timeout: 120_000 },
    )
    .catch(async (error: Error) => {
      const waiting = await page.$$eval(`${selector} img`, (images) => (images as HTMLImageElement[]).filter((img) => !img.complete).map((img) => img.src.replace(/\?.*/, '')));
      throw new Error(`${error.message}\nimages under ${selector} still loading: ${waiting.length === 0 ? 'none (no image at all)' : waiting.join(', ')}`);
    });
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity));
}

/** From the Train tab: two short epochs (96 triplets, batch 16), waited for until done. */
export async function trainTwoShortEpochs(page: Page, poll: { timeout: number; interval: number }): Promise<void> {
  await page.click('[data-testid=tab-train]');
  await page.fill('[data-testid=setting-epochs]', '2');
  await page.fill('[data-testid=setting-tripletsPerEpoch]', '96');
  await page.fill('[data-testid=setting-batchSize]', '16');
  await expect.poll(() => page.isEnabled('[data-testid=train-start]'), poll).toBe(true);
  await page.click('[data-testid=train-start]');
  await page.waitForSelector('[data-testid=train-progress][data-state=done]', { timeout: 600_000 });
}

export interface BrowserApp {
  service: EngineService;
  bridge: Bridge;
  browser: Browser;
  /** Closes the browser, the bridge and the engine (what was started); removes nothing. */
  close(): Promise<void>;
}

/**
 * The app as a person meets it in a browser: the renderer built into `dir`, the engine on its own
 * thread with its database and thumbnail cache in `dir`, the bridge in front, and Debian's Chromium.
 */
export async function startBrowserApp(dir: string, options: Omit<EngineServiceOptions, 'dbPath' | 'cacheDir'> = {}): Promise<BrowserApp> {
  const rendererDir = join(dir, 'renderer');
  await buildRenderer(rendererDir);
  const cacheDir = join(dir, 'cache');
  const service = await createThreadedEngineService({ ...options, dbPath: join(dir, 'lookalike.db'), cacheDir });
  const bridge = await startBridge({ service, rendererDir, cacheDir }).catch(async (error: unknown) => {
    await service.close();
    throw error;
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }).catch(async (error: unknown) => {
    await bridge.close();
    await service.close();
    throw error;
  });
  return {
    service,
    bridge,
    browser,
    async close() {
      await browser.close();
      await bridge.close();
      await service.close();
    },
  };
}

/** The class list's counts, by class name, as the Library view shows them. */
export async function classCounts(page: Page): Promise<Record<string, number>> {
  return page.$$eval('[data-testid=class-row]', (rows) => Object.fromEntries(rows.map((r) => [r.getAttribute('data-class-name'), Number(r.getAttribute('data-count'))])));
}

/** A PNG of the page as it is now, `<folder>/<name>.png`, for a person to look at. */
export async function screenshot(page: Page, folder: string, name: string): Promise<void> {
  await mkdir(folder, { recursive: true });
  await page.screenshot({ path: join(folder, `${name}.png`) });
}

/**
 * One API call through the bridge as the page makes it: with the token the tab holds (sessionStorage,
 * see src/renderer/src/transport/bridge-token.ts). The status and the body.
 */
export function callApi(page: Page, name: string, arg: unknown): Promise<{ status: number; body: unknown }> {
  return page.evaluate(
    async ([name, arg, header, key]) => {
      const token = sessionStorage.getItem(key) ?? '';
      const response = await fetch(`/api/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', [header]: token }, body: JSON.stringify(arg) });
      return { status: response.status, body: (await response.json()) as unknown };
    },
    [name, arg, TOKEN_HEADER, TOKEN_KEY] as const,
  );
}

/** A tab on the app, loaded and ready, with the page's uncaught errors collected (a test ends expecting none). */
export interface AppTab {
  page: Page;
  errors: string[];
}

/** Opens the app in a new tab (in a context of its own, with `context` options, when given). */
export async function openAppTab(app: BrowserApp, context?: BrowserContextOptions): Promise<AppTab> {
  const page = context ? await (await app.browser.newContext(context)).newPage() : await app.browser.newPage({ viewport: { width: 1360, height: 860 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(app.bridge.url);
  await page.waitForSelector('[data-testid=app][data-ready=true]');
  return { page, errors };
}

/** Opens `folder` as the person does: typed into the Library view's path field, then Open. */
export async function openLibraryByPath(page: Page, folder: string): Promise<void> {
  await page.fill('[data-testid=library-path]', folder);
  await page.click('[data-testid=open-button]');
}

/** What a suite's app stands on, filled in by its beforeAll. */
export interface SuiteApp {
  dir: string;
  library: string;
  app: BrowserApp;
}

/**
 * A suite's app in a temporary folder `lookalike-<name>-…`: `prepare` makes the library in it (and
 * may give the engine options); the app starts after it, and is closed and the folder removed after
 * the suite. Read the fields inside tests, not at collection time.
 */
export function appForSuite(name: string, prepare: (dir: string) => Promise<{ library: string; options?: Omit<EngineServiceOptions, 'dbPath' | 'cacheDir'> }>): SuiteApp {
  const suite = {} as SuiteApp;
  beforeAll(async () => {
    suite.dir = await mkdtemp(join(tmpdir(), `lookalike-${name}-`));
    const { library, options } = await prepare(suite.dir);
    suite.library = library;
    suite.app = await startBrowserApp(suite.dir, options);
  }, 300_000);
  afterAll(async () => {
    await suite.app?.close();
    if (suite.dir) await rm(suite.dir, { recursive: true, force: true });
  });
  return suite;
}
