import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { _electron, type Browser, type ConsoleMessage } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bridge } from '../src/bridge/server.js';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { FLOWERS17 } from '../src/engine/testing/test-photos.js';
import { journey, SCREENSHOTS } from './journey.js';
import { startBrowserApp, type BrowserApp } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
// Real photos where ../shared is there (CI, the README's screenshots); else photos drawn here.
const FLOWERS = existsSync(FLOWERS17) ? FLOWERS17 : null;
const CLASSES = FLOWERS ? ['daisy', 'pansy', 'sunflower'] : ['circles', 'stars', 'stripes'];
const PER_CLASS = 12;

/** The Electron binary when the optional electron package is installed with its binary, else null. */
function electronBinary(): string | null {
  try {
    const path = createRequire(import.meta.url)('electron') as unknown;
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

/** A small labelled library: 3 classes x 12 photos, from flowers17 or drawn. */
async function makeLibrary(dir: string): Promise<string> {
  const library = join(dir, 'flowers');
  if (!FLOWERS) return await makeSampleLibrary(library, { classes: CLASSES, perClass: PER_CLASS, unlabelled: 0 });
  for (const name of CLASSES) {
    await mkdir(join(library, name), { recursive: true });
    const files = (await readdir(join(FLOWERS, name))).filter((f) => f.endsWith('.jpg')).sort().slice(0, PER_CLASS);
    for (const file of files) await cp(join(FLOWERS, name, file), join(library, name, file));
  }
  return library;
}

const expectedClasses = Object.fromEntries(CLASSES.map((c) => [c, PER_CLASS]));

/** A screenshot beside the journey's (under test-results/, or docs/ with LOOKALIKE_UPDATE_SCREENSHOTS=1). */
async function shot(page: import('playwright-core').Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

/** Console errors that mean the page is broken: CSP refusals and uncaught errors. */
function watchConsole(messages: string[]) {
  return (message: ConsoleMessage) => {
    const text = message.text();
    if (message.type() === 'error' && !/Failed to load resource/.test(text)) messages.push(text);
  };
}

describe('the app in a browser, through the bridge', () => {
  let dir: string;
  let app: BrowserApp;
  let bridge: Bridge;
  let browser: Browser;
  let library: string;

  const realHome = process.env.HOME;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lookalike-e2e-'));
    // The engine's home folder, so the page can open `~/flowers` and browse from home.
    process.env.HOME = dir;
    library = await makeLibrary(dir);
    app = await startBrowserApp(dir);
    ({ bridge, browser } = app);
  });

  afterAll(async () => {
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    process.env.HOME = realHome;
  });

  it('opens a library, trains two epochs, and finds similar photos', { timeout: 900_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    const errors: string[] = [];
    page.on('console', watchConsole(errors));
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(bridge.url);
    // The token left the address bar for this tab's sessionStorage.
    expect(page.url()).toBe(`http://${bridge.host}:${bridge.port}/`);
    expect(await page.getAttribute('[data-testid=app]', 'data-transport')).toBe('bridge');
    await journey(page, { openPath: { home: dir, library }, classes: expectedClasses, screenshots: true, resizable: true });
    expect(errors).toEqual([]);
  });

  it('shows per-class quality with worst queries that open Find similar, and "No close match" for a noise image', { timeout: 300_000 }, async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    const errors: string[] = [];
    page.on('console', watchConsole(errors));
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(bridge.url);
    await page.waitForSelector('[data-testid=app][data-ready=true]');
    await page.click('[data-testid=tab-train]');
    // The journey above trained a model: every class has a row with real numbers, untrained → trained.
    await page.waitForSelector('[data-testid=class-quality-row]', { timeout: 120_000 });
    expect(await page.$$eval('[data-testid=class-quality-row]', (rows) => rows.map((r) => r.getAttribute('data-class')).sort())).toEqual([...CLASSES].sort());
    const maps = await page.$$eval('[data-testid=class-map]', (cells) => cells.map((c) => c.textContent?.trim() ?? ''));
    for (const text of maps) expect(text).toMatch(/^\d\.\d{3}\s*→\s*\d\.\d{3}$/);
    const trainedMaps = maps.map((text) => Number(text.split('→')[1]));
    expect([...trainedMaps].sort((a, b) => a - b)).toEqual(trainedMaps); // worst first
    // The worst class's worst validation photos; one click opens Find similar on it.
    await page.click('[data-testid=class-quality-row] button');
    await page.waitForSelector('[data-testid=worst-queries], [data-testid=class-quality] .worst-row');
    await shot(page, 'train-per-class');
    if (await page.locator('[data-testid=worst-query]').count()) {
      await page.click('[data-testid=worst-query]');
      await page.waitForSelector('[data-testid=similar-result]');
      expect(await page.getAttribute('[data-testid=tab-similar]', 'aria-current')).toBe('page');
    }
    // An image of noise from outside: nothing lies under the model's close-match distance, and the page says so.
    const width = 224;
    const noise = Buffer.alloc(width * width * 3);
    let state = 7;
    for (let i = 0; i < noise.length; i++) noise[i] = (state = (state * 1103515245 + 12345) % 2147483648) >> 23;
    const file = join(dir, 'noise.png');
    await (await import('sharp')).default(noise, { raw: { width, height: width, channels: 3 } }).png().toFile(file);
    await page.click('[data-testid=tab-similar]');
    await page.setInputFiles('[data-testid=open-image-input]', file);
    await page.waitForSelector('[data-testid=no-close-match]', { timeout: 120_000 });
    expect(await page.textContent('[data-testid=distance-scale]')).toMatch(/two photos of one class are typically \d\.\d\d–\d\.\d\d apart/);
    expect(await page.locator('[data-testid=similar-far] [data-testid=similar-result]').count()).toBeGreaterThan(0);
    await shot(page, 'similar-no-close-match');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('browses folders from home in the page (no system dialog in a browser) and opens one', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
    const errors: string[] = [];
    page.on('console', watchConsole(errors));
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(bridge.url);
    await page.waitForSelector('[data-testid=app][data-ready=true]');
    expect(await page.locator('[data-testid=choose-folder]').count()).toBe(0);
    // With the path field cleared, the browser starts at home; the library's folder is listed there.
    await page.fill('[data-testid=library-path]', '');
    await page.click('[data-testid=browse-folders]');
    await page.waitForSelector('[data-testid=folder-browser] [data-testid=folder-entry]');
    const crumbs = await page.$$eval('[data-testid=folder-crumb]', (items) => items.map((c) => c.textContent?.trim()));
    expect(crumbs).toEqual(['/', ...dir.split('/').filter(Boolean)]);
    expect(await page.$$eval('[data-testid=folder-recent]', (items) => items.map((r) => r.getAttribute('title')))).toContain(library);
    await shot(page, 'folder-browser');
    await page.click('[data-testid=folder-entry][data-name=flowers]');
    await expect.poll(() => page.$$eval('[data-testid=folder-entry]', (items) => items.map((e) => e.getAttribute('data-name')))).toEqual(CLASSES);
    await page.click('[data-testid=folder-open]');
    await page.waitForSelector('[data-testid=folder-browser]', { state: 'detached' });
    expect(await page.inputValue('[data-testid=library-path]')).toBe(library);
    await page.waitForSelector('[data-testid=class-row]');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('says what to open when the page comes without the token, and calls nothing', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const calls: string[] = [];
    page.on('request', (request) => void (request.url().includes('/api/') && calls.push(request.url())));
    await page.goto(`http://${bridge.host}:${bridge.port}/`);
    await page.waitForSelector('[data-testid=needs-token]');
    expect(await page.textContent('body')).toMatch(/needs its access token/);
    expect(await page.locator('[data-testid=app]').count()).toBe(0);
    await shot(page, 'needs-token');
    expect(calls).toEqual([]);
    await context.close();
  });

  it('gives another local server visited by the same browser nothing the bridge accepts', async () => {
    // Another web server on this machine (a dev server, another app's page), on the usual loopback address.
    const received: Array<{ url: string; headers: Record<string, string | string[] | undefined> }> = [];
    const other = createServer((req, res) => {
      received.push({ url: req.url ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>another app</title><img src="/pixel.png">');
    });
    await new Promise<void>((done) => other.listen(0, '127.0.0.1', done));
    const otherPort = (other.address() as AddressInfo).port;
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(bridge.url);
      await page.waitForSelector('[data-testid=app][data-ready=true]');
      expect(await context.cookies()).toEqual([]); // the bridge sets no cookie: browsers send those to every port of a host
      for (const address of [`http://127.0.0.1:${otherPort}/`, `http://localhost:${otherPort}/`]) {
        await page.goto(address);
        await page.waitForLoadState('networkidle');
      }
      expect(received.length).toBeGreaterThanOrEqual(2);
      for (const { url, headers } of received) {
        const everything = JSON.stringify({ url, headers });
        expect(everything).not.toContain(bridge.token);
        // Replayed as is (curl sends no Origin), nothing it got opens the bridge's API.
        const replay = await fetch(`http://${bridge.host}:${bridge.port}/api/status`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(headers.cookie ? { cookie: String(headers.cookie) } : {}), ...(headers.authorization ? { authorization: String(headers.authorization) } : {}) },
        });
        expect(replay.status).toBe(401);
      }
    } finally {
      await context.close();
      await new Promise((done) => other.close(done));
    }
  });
});

const electron = electronBinary();
describe.skipIf(!electron)(electron ? 'the app in Electron' : 'the app in Electron (skipped: the electron package or its binary is not installed here)', () => {
  it('opens a library, trains two epochs, and finds similar photos', { timeout: 900_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lookalike-e2e-electron-'));
    const { build } = await import('electron-vite');
    await build({ root: ROOT, logLevel: 'warn' });
    const library = await makeLibrary(dir);
    const app = await _electron.launch({
      executablePath: electron!,
      args: [ROOT, ...(process.platform === 'linux' ? ['--no-sandbox'] : [])],
      env: { ...process.env, LOOKALIKE_HOME: dir, LOOKALIKE_DB: join(dir, 'lookalike.db'), LOOKALIKE_LIBRARY: library },
    });
    try {
      const page = await app.firstWindow();
      const errors: string[] = [];
      page.on('console', watchConsole(errors));
      expect(await page.getAttribute('[data-testid=app]', 'data-transport')).toBe('electron');
      await journey(page, { classes: expectedClasses, screenshots: false });
      expect(errors).toEqual([]);
    } finally {
      await app.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
