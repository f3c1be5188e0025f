import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiHandlers, EngineEvent, PhotoSize } from '../shared/api.js';
import type { EngineService } from '../engine/jobs/service/service-contract.js';
import { EVENTS_PROTOCOL, listenOnLoopback, MAX_BODY, MAX_IMAGE_BODY, randomLoopbackHost, startBridge, type Bridge } from './server.js';
import { photoSigningKey, PHOTO_URL_LIFETIME_S, signedPhotoPath } from '../shared/photo-url.js';
import { drawPhoto } from '../engine/testing/test-photos.js';
import { conflict, invalidInput, notFound } from '../shared/errors.js';

let dir: string;
let library: string;
let cache: string;
let renderer: string;
let bridge: Bridge;
const listeners = new Set<(event: EngineEvent) => void>();
const calls: Array<{ name: string; arg: unknown }> = [];

/** Photo ids the test service knows, and the file it answers for each. */
let photoFiles: Record<number, string>;

function notHere(): never {
  throw new Error('not used in this test');
}

/** A small real handler table: enough to see calls, arguments, results and errors cross the bridge. */
function testService(): EngineService {
  const handlers: ApiHandlers = {
    status: async () => {
      calls.push({ name: 'status', arg: undefined });
      return { library: null, backend: null, job: null, defaults: {} as never };
    },
    openLibrary: async ({ root }) => {
      calls.push({ name: 'openLibrary', arg: root });
      throw new Error(`cannot open ${root}`);
    },
    listPhotos: async (query) => {
      calls.push({ name: 'listPhotos', arg: query });
      if (!(query.limit > 0)) throw new RangeError('limit must be positive');
      return { total: 0, offset: query.offset, items: [] };
    },
    startTraining: notHere,
    pauseTraining: async () => null,
    resumeTraining: async () => null,
    stopTraining: async () => null,
    listRuns: async () => [],
    trainingCost: notHere,
    runHistory: notHere,
    listModels: async () => [],
    findSimilar: async (query) => {
      calls.push({ name: 'findSimilar', arg: 'imageBase64' in query ? query.imageBase64.length : query });
      return { query: { photoId: null, path: 'dropped', className: null }, modelId: 1, results: [], distances: null };
    },
    evaluateModel: notHere,
    labels: notHere,
    changeLabels: notHere,
    undoLabels: notHere,
    previewLabelWrite: notHere,
    writeLabels: notHere,
    undoLabelWrite: notHere,
    findDuplicates: notHere,
    movePhotos: notHere,
    undoMovePhotos: notHere,
    exportModel: notHere,
    importModel: notHere,
    removeModel: notHere,
    marks: notHere,
    markNotSimilar: notHere,
    startLabelAudit: notHere,
    labelAudit: notHere,
    confirmLabel: notHere,
    suggestClasses: notHere,
    rejectSuggestion: notHere,
    libraryMap: notHere,
    listFolders: async ({ path }) => {
      calls.push({ name: 'listFolders', arg: path });
      if (path === 'relative') throw invalidInput('relative: give the full path');
      if (path === '/busy') throw conflict('open a library folder first');
      throw notFound(`${path}: folder not found`);
    },
  };
  return {
    handlers,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async photoFile(photoId: number, _size: PhotoSize) {
      return photoFiles[photoId] ?? null;
    },
    libraryRoot: () => library,
    close: async () => undefined,
  };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One raw HTTP request: the path is sent exactly as given (no client-side normalisation of `..`). */
function send(path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ agent: false, host: bridge.host, port: bridge.port, path, method: init.method ?? 'GET', headers: { host: `${bridge.host}:${bridge.port}`, ...init.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      res.on('end', done);
      // A refused upload closes the connection: the answer can be complete with its 'end' never emitted.
      res.on('close', () => (res.complete ? done() : reject(new Error('connection closed before the answer was complete'))));
      res.on('error', reject);
    });
    // Writing a refused body may fail once the server has answered; the answer is what we check.
    req.on('error', (error) => (req.writableEnded ? undefined : reject(error)));
    req.on('close', () => setImmediate(() => reject(new Error(`${path}: the connection closed without an answer`))));
    req.end(init.body);
  });
}

const auth = () => ({ 'x-lookalike-token': bridge.token });
const json = (value: unknown) => ({ method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: JSON.stringify(value) });
const parsed = (reply: Reply) => JSON.parse(reply.body.toString('utf8')) as Record<string, unknown>;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lookalike-bridge-'));
  library = join(dir, 'library');
  cache = join(dir, 'cache');
  renderer = join(dir, 'renderer');
  await mkdir(join(library, 'daisy'), { recursive: true });
  await mkdir(cache, { recursive: true });
  await mkdir(join(renderer, 'assets'), { recursive: true });
  await drawPhoto(join(library, 'daisy', 'a.jpg'), 300, 200, 1);
  await drawPhoto(join(cache, 'thumb.webp'), 200, 200, 2);
  await writeFile(join(dir, 'secret.jpg'), 'outside the library');
  await writeFile(join(dir, 'secret.txt'), 'outside the renderer');
  await symlink(join(dir, 'secret.jpg'), join(library, 'daisy', 'link.jpg'));
  await symlink(join(dir, 'secret.txt'), join(renderer, 'assets', 'link.txt'));
  await writeFile(join(library, 'daisy', 'notes.txt'), 'not an image');
  // FIFOs with no writer: opening one the ordinary way would wait forever.
  execFileSync('mkfifo', [join(library, 'daisy', 'pipe.jpg'), join(renderer, 'assets', 'pipe.js')]);
  await writeFile(join(renderer, 'index.html'), '<!doctype html><title>Lookalike</title><script type="module" src="/assets/app.js"></script>');
  await writeFile(join(renderer, 'assets', 'app.js'), 'console.log("hi")');
  photoFiles = {
    1: join(library, 'daisy', 'a.jpg'),
    2: join(library, 'daisy', '..', '..', 'secret.jpg'),
    3: join(library, 'daisy', 'link.jpg'),
    4: 'daisy/a.jpg',
    5: join(cache, 'thumb.webp'),
    6: join(library, 'daisy', 'notes.txt'),
    7: join(library, 'daisy', 'pipe.jpg'),
  };
  bridge = await startBridge({ service: testService(), rendererDir: renderer, cacheDir: cache });
});

afterAll(async () => {
  await bridge?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('listenOnLoopback', () => {
  /** A server whose listen fails like macOS's for any loopback address but 127.0.0.1. */
  function onlyDefaultLoopback() {
    const tried: string[] = [];
    const server = new EventEmitter() as EventEmitter & { listen: (port: number, host: string, done: () => void) => void };
    server.listen = (_port, host, done) => {
      tried.push(host);
      if (host === '127.0.0.1') setImmediate(done);
      else setImmediate(() => server.emit('error', Object.assign(new Error(`listen EADDRNOTAVAIL: address not available ${host}`), { code: 'EADDRNOTAVAIL' })));
    };
    return { server, tried };
  }

  it('falls back to 127.0.0.1 where the OS has no other loopback address', async () => {
    const { server, tried } = onlyDefaultLoopback();
    expect(await listenOnLoopback(server as unknown as Server, 0)).toBe('127.0.0.1');
    expect(tried).toHaveLength(2);
    expect(tried[0]).toMatch(/^127\.(?!0\.0\.)\d+\.\d+\.\d+$/);
  });

  it('refuses a fixed address that is not loopback', async () => {
    const { server } = onlyDefaultLoopback();
    await expect(listenOnLoopback(server as unknown as Server, 0, '0.0.0.0')).rejects.toThrow(/loopback/);
    expect(randomLoopbackHost(() => 0)).toBe('127.1.0.1');
  });
});

describe('startBridge', () => {
  it('listens on a random loopback address only, with a long random token in the page URL', async () => {
    expect(bridge.host).toMatch(/^127\.\d+\.\d+\.\d+$/);
    expect(bridge.host.startsWith('127.0.0.')).toBe(false);
    // In the fragment: a browser never sends it to any server.
    expect(bridge.url).toBe(`http://${bridge.host}:${bridge.port}/#token=${encodeURIComponent(bridge.token)}`);
    expect(bridge.token.length).toBeGreaterThanOrEqual(32);
    const other = await startBridge({ service: testService(), rendererDir: renderer });
    expect(other.token).not.toBe(bridge.token);
    expect(other.host).not.toBe(bridge.host);
    await other.close();
    // Nothing answers on 127.0.0.1, where other local servers live.
    const onDefaultLoopback = await new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port: bridge.port, path: '/' }, () => resolve(true));
      req.on('error', () => resolve(false));
      req.end();
    });
    expect(onDefaultLoopback).toBe(false);
    // Nothing answers on the machine's other addresses: the socket is bound to loopback.
    const { networkInterfaces } = await import('node:os');
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (external) {
      const refused = await new Promise<boolean>((resolve) => {
        const req = request({ host: external.address, port: bridge.port, path: '/' }, () => resolve(false));
        req.on('error', () => resolve(true));
        req.end();
      });
      expect(refused).toBe(true);
    }
  });

  it('serves calls with the token, as JSON, and turns handler errors into JSON errors', async () => {
    const ok = await send('/api/listPhotos', json({ offset: 5, limit: 10 }));
    expect(ok.status).toBe(200);
    expect(parsed(ok)).toEqual({ total: 0, offset: 5, items: [] });

    const voidCall = await send('/api/status', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' } });
    expect(voidCall.status).toBe(200);
    expect(parsed(voidCall).library).toBeNull();

    const bad = await send('/api/listPhotos', json({ offset: 0, limit: 0 }));
    expect(bad.status).toBe(400);
    expect(parsed(bad)).toEqual({ error: 'limit must be positive', kind: 'invalid-input' });

    // Each error kind has its status: the person's mistakes are 4xx, only real failures 5xx.
    for (const [path, status, kind] of [
      ['relative', 400, 'invalid-input'],
      ['/nowhere', 404, 'not-found'],
      ['/busy', 409, 'conflict'],
    ] as const) {
      const reply = await send('/api/listFolders', json({ path }));
      expect(reply.status, path).toBe(status);
      expect(parsed(reply).kind).toBe(kind);
    }
    const failed = await send('/api/openLibrary', json({ root: '/nowhere' }));
    expect(failed.status).toBe(500);
    expect(parsed(failed)).toEqual({ error: 'cannot open /nowhere', kind: 'failed' });

    const notJson = await send('/api/listPhotos', { ...json(null), body: '{oops' });
    expect(notJson.status).toBe(400);
  });

  it('refuses calls without a token or with a wrong one', async () => {
    const before = calls.length;
    const none = await send('/api/status', { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(none.status).toBe(401);
    expect(parsed(none).error).toMatch(/token/);
    const wrong = await send('/api/status', { method: 'POST', headers: { 'x-lookalike-token': `${bridge.token.slice(0, -1)}x`, 'content-type': 'application/json' } });
    expect(wrong.status).toBe(401);
    const short = await send('/api/status', { method: 'POST', headers: { 'x-lookalike-token': 'x', 'content-type': 'application/json' } });
    expect(short.status).toBe(401);
    const queryOnCall = await send(`/api/status?token=${bridge.token}`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(queryOnCall.status).toBe(401);
    expect(calls.length).toBe(before);
    expect((await send('/photo/1?size=thumb')).status).toBe(401);
  });

  it('sets no cookie, and takes none: the token works only where the page sends it itself', async () => {
    const page = await send(`/?token=${encodeURIComponent(bridge.token)}`);
    expect(page.status).toBe(200);
    expect(page.headers['set-cookie']).toBeUndefined();
    for (const cookie of [`lookalike_${bridge.port}=${bridge.token}`, `token=${bridge.token}`]) {
      expect((await send('/api/status', { method: 'POST', headers: { cookie, 'content-type': 'application/json' } })).status).toBe(401);
      expect((await send('/photo/1?size=full', { headers: { cookie } })).status).toBe(401);
    }
  });

  it('serves the renderer’s files (code, no data) without the token, with its CSP', async () => {
    const page = await send('/');
    expect(page.status).toBe(200);
    expect(page.body.toString()).toMatch(/<title>Lookalike<\/title>/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/unsafe/);
    expect(page.headers['x-frame-options']).toBe('DENY');

    const asset = await send('/assets/app.js');
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toMatch(/javascript/);
  });

  it('refuses foreign Origins, cross-site fetches and foreign Host headers (DNS rebinding)', async () => {
    const before = calls.length;
    const origin = await send('/api/status', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', origin: 'https://evil.example' } });
    expect(origin.status).toBe(403);
    const otherPort = await send('/api/status', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', origin: `http://${bridge.host}:${bridge.port + 1}` } });
    expect(otherPort.status).toBe(403);
    const site = await send('/api/status', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' } });
    expect(site.status).toBe(403);
    const host = await send('/api/status', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', host: `evil.example:${bridge.port}` } });
    expect(host.status).toBe(403);
    // Names other local servers share (their cookies with them) are not this bridge's.
    for (const shared of ['localhost', '127.0.0.1']) {
      const reply = await send('/api/status', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', host: `${shared}:${bridge.port}` } });
      expect(reply.status).toBe(403);
    }
    expect(calls.length).toBe(before);

    const sameOrigin = await send('/api/status', { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', origin: `http://${bridge.host}:${bridge.port}` } });
    expect(sameOrigin.status).toBe(200);
  });

  it('only calls names from API_NAMES, as POST with a JSON body', async () => {
    for (const name of ['constructor', '__proto__', 'toString', 'close', 'subscribe', 'photoFile', 'status/../openLibrary']) {
      expect((await send(`/api/${name}`, json({}))).status).toBe(404);
    }
    expect((await send('/api/status', { headers: auth() })).status).toBe(405);
    const form = await send('/api/status', { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: '{}' });
    expect(form.status).toBe(415);
  });

  it('bounds the request body: small for calls, 32 MiB for a dropped image', async () => {
    const before = calls.length;
    const big = await send('/api/listPhotos', json({ offset: 0, limit: 1, pad: 'x'.repeat(MAX_BODY) }));
    expect(big.status).toBe(413);
    expect(parsed(big).error).toMatch(/larger than/);

    const image = Buffer.alloc(1024 * 1024, 7).toString('base64');
    const fine = await send('/api/findSimilar', json({ imageBase64: image, fileName: 'x.jpg', k: 5 }));
    expect(fine.status).toBe(200);
    expect(calls.at(-1)).toEqual({ name: 'findSimilar', arg: image.length });

    const huge = await send('/api/findSimilar', json({ imageBase64: 'A'.repeat(MAX_IMAGE_BODY), fileName: 'x.jpg', k: 5 }));
    expect(huge.status).toBe(413);
    expect(calls.length).toBe(before + 1);
  });

  it('bounds a chunked body that declares no length', async () => {
    const reply = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: bridge.host, port: bridge.port, path: '/api/listPhotos', method: 'POST', headers: { ...auth(), host: `${bridge.host}:${bridge.port}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', (error) => (req.writableEnded ? undefined : reject(error)));
      for (let i = 0; i < 8; i++) req.write('x'.repeat(MAX_BODY / 4));
      req.end();
    });
    expect(reply).toBe(413);
  });

  describe('signed photo URLs', () => {
    const key = () => photoSigningKey(bridge.token);
    const lifetimeMs = PHOTO_URL_LIFETIME_S * 1000;

    it('open the photo and size they were signed for, without the token', async () => {
      const full = await send(signedPhotoPath(key(), 1, 'full', Date.now()));
      expect(full.status).toBe(200);
      expect(full.body.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
      expect((await send(signedPhotoPath(key(), 5, 'thumb', Date.now()))).status).toBe(200);
      // A URL made at the start of its window still works at its end.
      expect((await send(signedPhotoPath(key(), 1, 'full', Date.now() - lifetimeMs + 5_000))).status).toBe(200);
    });

    it('refuse an expired one, and one dated too far ahead', async () => {
      expect((await send(signedPhotoPath(key(), 1, 'full', Date.now() - 2 * lifetimeMs))).status).toBe(401);
      expect((await send(signedPhotoPath(key(), 1, 'full', Date.now() + 2 * lifetimeMs))).status).toBe(401);
    });

    it('refuse a signature moved to another photo or size', async () => {
      const signed = new URL(signedPhotoPath(key(), 1, 'full', Date.now()), 'http://x');
      const query = signed.search;
      expect((await send(`/photo/5${query}`)).status).toBe(401);
      expect((await send(`/photo/1${query.replace('size=full', 'size=thumb')}`)).status).toBe(401);
      expect((await send(`/photo/01${query}`)).status).toBe(401);
    });

    it('refuse a tampered signature or expiry, and a key from another token', async () => {
      const path = signedPhotoPath(key(), 1, 'full', Date.now());
      const sig = new URL(path, 'http://x').searchParams.get('sig') ?? '';
      const flipped = `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
      expect((await send(path.replace(sig, flipped))).status).toBe(401);
      expect((await send(path.replace(sig, sig.slice(0, 20)))).status).toBe(401);
      expect((await send(path.replace(/exp=(\d+)/, (_, exp: string) => `exp=${Number(exp) - 1}`))).status).toBe(401);
      expect((await send(path.replace(/&sig=.*$/, ''))).status).toBe(401);
      expect((await send(signedPhotoPath(photoSigningKey(`${bridge.token}x`), 1, 'full', Date.now()))).status).toBe(401);
    });
  });

  it('serves photos the service names, inside the library or the thumbnail cache only', async () => {
    const photo = await send('/photo/1?size=full', { headers: auth() });
    expect(photo.status).toBe(200);
    expect(photo.headers['content-type']).toBe('image/jpeg');
    expect(photo.body.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    const etag = String(photo.headers.etag);
    expect((await send('/photo/1?size=full', { headers: { ...auth(), 'if-none-match': etag } })).status).toBe(304);

    const thumb = await send('/photo/5?size=thumb', { headers: auth() });
    expect(thumb.status).toBe(200);
    expect(thumb.headers['content-type']).toBe('image/webp');
    // The cache holds thumbnails, not originals.
    expect((await send('/photo/5?size=full', { headers: auth() })).status).toBe(403);

    expect((await send('/photo/2?size=full', { headers: auth() })).status).toBe(403); // `..` out of the library
    expect((await send('/photo/3?size=full', { headers: auth() })).status).toBe(403); // symlink out of the library
    expect((await send('/photo/4?size=full', { headers: auth() })).status).toBe(403); // relative path
    expect((await send('/photo/6?size=full', { headers: auth() })).status).toBe(403); // not an image
    expect((await send('/photo/7?size=full', { headers: auth() })).status).toBe(403); // a FIFO
    expect((await send('/photo/99?size=full', { headers: auth() })).status).toBe(404);
    expect((await send('/photo/1?size=huge', { headers: auth() })).status).toBe(400);
    for (const path of ['/photo/..%2f..%2fsecret.jpg', '/photo/%2e%2e/secret.jpg', '/photo/-1', '/photo/1e3', '/photo/%2Fetc%2Fpasswd']) {
      expect((await send(path, { headers: auth() })).status).toBe(404);
    }
  });

  it('serves the renderer folder and nothing outside it', async () => {
    expect((await send('/assets/app.js')).status).toBe(200);
    for (const path of [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/assets/%2E%2E%2F%2E%2E%2Fsecret.txt',
      '/..%5csecret.txt',
      '/assets/link.txt',
      '/assets/pipe.js',
      `/${encodeURIComponent(join(dir, 'secret.txt'))}`,
      '//etc/passwd',
      '/%00',
      '/%E0%A4%A',
    ]) {
      const reply = await send(path, { headers: auth() });
      expect(reply.status, path).toBe(404);
      expect(reply.body.toString()).not.toMatch(/outside the renderer/);
    }
  });

  it('pushes engine events on /events to a client with the token, and refuses the rest', async () => {
    const wsUrl = `ws://${bridge.host}:${bridge.port}/events`;
    const refused = (headers: Record<string, string>, url = wsUrl) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
        ws.on('error', () => undefined);
      });
    expect(await refused({})).toBe(401);
    expect(await refused({ 'x-lookalike-token': 'nope-nope-nope-nope' })).toBe(401);
    expect(await refused({ ...auth(), origin: 'https://evil.example' })).toBe(403);
    expect(await refused({ ...auth() }, `ws://${bridge.host}:${bridge.port}/other`)).toBe(404);
    expect(await refused({ 'sec-websocket-protocol': `${EVENTS_PROTOCOL}, ${EVENTS_PROTOCOL}-token.${bridge.token.slice(1)}` })).toBe(401);
    expect(await refused({ cookie: `lookalike_${bridge.port}=${bridge.token}` })).toBe(401);

    // As a browser does it: no headers of its own, the token offered as a subprotocol; the bridge picks the plain one.
    const page = new WebSocket(wsUrl, [EVENTS_PROTOCOL, `${EVENTS_PROTOCOL}-token.${bridge.token}`], { origin: `http://${bridge.host}:${bridge.port}` });
    await new Promise((resolve, reject) => {
      page.on('open', resolve);
      page.on('error', reject);
    });
    expect(page.protocol).toBe(EVENTS_PROTOCOL);
    page.close();

    const ws = new WebSocket(wsUrl, { headers: { ...auth(), origin: `http://${bridge.host}:${bridge.port}` } });
    await new Promise((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('error', reject);
    });
    const received = new Promise<EngineEvent>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)) as EngineEvent)));
    const event: EngineEvent = { type: 'loss', runId: 1, step: 3, epoch: 0, loss: 0.25 };
    for (const listener of listeners) listener(event);
    expect(await received).toEqual(event);
    ws.close();
  });
});
