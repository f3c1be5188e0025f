import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { extname } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { API_NAMES, type ApiName, type EngineEvent } from '../shared/api.js';
import { HTTP_STATUS, toWireError, type ErrorKind } from '../shared/errors.js';
import { MAX_LABELLED_PHOTOS } from '../shared/settings.js';
import type { EngineService } from '../engine/jobs/service/service-contract.js';
import { photoToServe } from '../engine/jobs/service/photo-files.js';
import { openCheckedFile, staticFile, STATIC_TYPES } from './files.js';
import { contentSecurityPolicy } from '../shared/csp.js';
import { photoSignaturePayload, photoSigningKey, PHOTO_URL_LIFETIME_S } from '../shared/photo-url.js';

/** The bridge only ever listens on the loopback interface; this address only where no other is possible. */
export const FALLBACK_HOST = '127.0.0.1';
/** Request body limits: a dropped image travels as base64 in findSimilar, a label change names a selection of photos; every other call is small. */
export const MAX_IMAGE_BODY = 32 * 1024 * 1024;
/** How much of a refused body is read and discarded before the connection is cut. */
const DRAIN_LIMIT = 2 * MAX_IMAGE_BODY;
export const MAX_BODY = 64 * 1024;
/** A label change names up to MAX_LABELLED_PHOTOS photos: each id at most 16 digits and a comma in JSON. */
export const MAX_LABEL_CHANGE_BODY = MAX_BODY + MAX_LABELLED_PHOTOS * 17;
const BODY_LIMITS: Partial<Record<ApiName, number>> = { findSimilar: MAX_IMAGE_BODY, changeLabels: MAX_LABEL_CHANGE_BODY };
export const TOKEN_HEADER = 'x-lookalike-token';
/** The WebSocket subprotocol the page asks for; it sends the token as a second one, `lookalike-token.<token>`. */
export const EVENTS_PROTOCOL = 'lookalike';
const TOKEN_PROTOCOL_PREFIX = `${EVENTS_PROTOCOL}-token.`;

export interface BridgeOptions {
  service: EngineService;
  /** 0 or absent: any free port. */
  port?: number;
  /** The loopback address to listen on; absent: a random one in 127.0.0.0/8 (see listenOnLoopback). */
  host?: string;
  /** The built renderer (out/renderer). */
  rendererDir: string;
  /** Access token; absent: 32 random bytes. */
  token?: string;
  /** The engine's cache folder: thumbnails are served from here as well as from the library. */
  cacheDir?: string;
}

export interface Bridge {
  /** The page URL, the token in its fragment (never sent to any server): the only way in. */
  url: string;
  /** The loopback address it listens on. */
  host: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** Set when the error came from an API call: its kind travels to the page with the message. */
    readonly kind?: ErrorKind,
  ) {
    super(message);
  }
}

const API = new Set<string>(API_NAMES);
const SIZES = new Set<string>(['thumb', 'full']);

/**
 * The local bridge: the same API as Electron's IPC over HTTP and a WebSocket, for a browser on this
 * machine. Loopback only. The token is a credential of the bridge's origin alone: the page reads it
 * from the URL fragment and keeps it in sessionStorage (both scoped to scheme, host and port), and
 * sends it as a header on calls and as a subprotocol on the WebSocket; photos go by per-URL signatures
 * (see src/shared/photo-url.ts). No cookie is ever set: browsers send cookies to every port of a host,
 * so another local user's server on the same address would receive it. The renderer's files are
 * public (they hold no data). Foreign origins, foreign Host headers and oversized bodies are refused;
 * photos are served only from the open library (and the thumbnail cache), after resolving symlinks.
 */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const { service, rendererDir } = options;
  const token = options.token ?? randomBytes(32).toString('base64url');
  if (token.length < 16) throw new Error('the bridge token must be at least 16 characters');
  const tokenBytes = Buffer.from(token);
  const photoKey = photoSigningKey(token);
  let port = 0;
  let host = FALLBACK_HOST;
  // Only the address we listen on: `localhost` is a name any local server answers to (DNS rebinding too).
  const allowedHosts = () => new Set([`${host}:${port}`]);
  const allowedOrigins = () => new Set([`http://${host}:${port}`]);

  const tokenMatches = (candidate: string | undefined | null): boolean => {
    if (!candidate) return false;
    const bytes = Buffer.from(candidate);
    return bytes.length === tokenBytes.length && timingSafeEqual(bytes, tokenBytes);
  };

  const presentedToken = (req: IncomingMessage): string | null => {
    const header = req.headers[TOKEN_HEADER];
    if (typeof header === 'string') return header;
    const auth = req.headers.authorization;
    return auth?.startsWith('Bearer ') ? auth.slice(7) : null;
  };

  /** A photo URL's own signature: this photo, this size, not yet expired (and not dated too far ahead). */
  const photoSignatureValid = (idText: string, size: string, params: URLSearchParams): boolean => {
    const expiry = params.get('exp') ?? '';
    const sig = params.get('sig') ?? '';
    if (!/^[0-9]{1,12}$/.test(expiry) || !/^[A-Za-z0-9_-]{43}$/.test(sig)) return false;
    const now = Date.now() / 1000;
    if (Number(expiry) < now || Number(expiry) > now + 2 * PHOTO_URL_LIFETIME_S) return false;
    const expected = createHmac('sha256', photoKey).update(photoSignaturePayload(idText, size, expiry)).digest();
    return timingSafeEqual(Buffer.from(sig, 'base64url'), expected);
  };

  /** Host (DNS rebinding), Origin and Fetch-Metadata checks shared by HTTP and the WebSocket. */
  const refuseForeign = (req: IncomingMessage): HttpError | null => {
    if (!allowedHosts().has(String(req.headers.host ?? '').toLowerCase())) return new HttpError(403, 'foreign Host header');
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins().has(origin)) return new HttpError(403, 'foreign Origin');
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return new HttpError(403, 'cross-site request');
    return null;
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      const message = error instanceof Error ? error.message : String(error);
      const kind = error instanceof HttpError ? error.kind : 'failed';
      sendJson(res, status, kind ? { error: message, kind } : { error: message });
    });
  });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const foreign = refuseForeign(req);
    if (foreign) throw foreign;
    const url = new URL(req.url ?? '/', `http://${host}:${port}`);
    const raw = rawPath(req.url ?? '/');
    const authorised = tokenMatches(presentedToken(req));

    if (raw.startsWith('/api/')) {
      if (!authorised) throw new HttpError(401, 'missing or wrong token');
      return handleCall(req, res, raw.slice('/api/'.length));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'method not allowed');
    if (raw.startsWith('/photo/')) {
      const idText = raw.slice('/photo/'.length);
      const size = url.searchParams.get('size') ?? 'thumb';
      if (!authorised && !photoSignatureValid(idText, size, url.searchParams)) throw new HttpError(401, 'this photo URL is not signed, or its signature expired');
      return handlePhoto(req, res, idText, size);
    }
    return handleStatic(req, res, raw);
  };

  const handleCall = async (req: IncomingMessage, res: ServerResponse, name: string) => {
    if (req.method !== 'POST') throw new HttpError(405, 'calls are POST');
    if (!API.has(name)) throw new HttpError(404, `unknown call "${name.slice(0, 64)}"`);
    const type = String(req.headers['content-type'] ?? '');
    if (!/^application\/json\b/i.test(type)) throw new HttpError(415, 'calls take application/json');
    const body = await readBody(req, res, BODY_LIMITS[name as ApiName] ?? MAX_BODY);
    let arg: unknown;
    try {
      arg = body.length === 0 ? undefined : JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'the body is not valid JSON');
    }
    const handler = service.handlers[name as ApiName] as (arg: unknown) => Promise<unknown>;
    let result: unknown;
    try {
      result = await handler(arg);
    } catch (error) {
      const { kind, message } = toWireError(error);
      throw new HttpError(HTTP_STATUS[kind], message, kind);
    }
    sendJson(res, 200, result ?? null);
  };

  const handlePhoto = async (req: IncomingMessage, res: ServerResponse, idText: string, size: string) => {
    if (/^[0-9]{1,15}$/.test(idText) && !SIZES.has(size)) throw new HttpError(400, 'size is thumb or full');
    const photo = await photoToServe(service, idText, size, options.cacheDir);
    if (!photo.ok) throw new HttpError(photo.status, photo.message);
    await sendFile(req, res, photo.file, photo.contentType, 'private, max-age=3600');
  };

  const handleStatic = async (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const file = await staticFile(rendererDir, raw);
    if (!file) throw new HttpError(404, 'not found');
    const type = STATIC_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    const isPage = type.startsWith('text/html');
    if (isPage) {
      res.setHeader('content-security-policy', bridgeContentSecurityPolicy(host, port));
      res.setHeader('x-frame-options', 'DENY');
    }
    await sendFile(req, res, file, type, isPage ? 'no-store' : 'no-cache');
  };

  const sockets = new WebSocketServer({ noServer: true, maxPayload: 4096, handleProtocols: (protocols) => (protocols.has(EVENTS_PROTOCOL) ? EVENTS_PROTOCOL : false) });
  /** A browser cannot set headers on a WebSocket: the page offers the token as a subprotocol. */
  const socketToken = (req: IncomingMessage): string | null => {
    const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    return offered.find((p) => p.startsWith(TOKEN_PROTOCOL_PREFIX))?.slice(TOKEN_PROTOCOL_PREFIX.length) ?? presentedToken(req);
  };
  const clients = new Set<WebSocket>();
  const unsubscribe = service.subscribe((event: EngineEvent) => {
    const text = JSON.stringify(event);
    for (const ws of clients) if (ws.readyState === ws.OPEN) ws.send(text);
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const foreign = refuseForeign(req);
    if (foreign) return refuse(403, 'Forbidden');
    if (rawPath(req.url ?? '/') !== '/events') return refuse(404, 'Not Found');
    if (!tokenMatches(socketToken(req))) return refuse(401, 'Unauthorized');
    sockets.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => clients.delete(ws));
      // Clients have nothing to say; anything they send is ignored.
      ws.on('message', () => undefined);
    });
  });

  host = await listenOnLoopback(server, options.port ?? 0, options.host);
  port = (server.address() as AddressInfo).port;
  server.requestTimeout = 5 * 60_000;
  server.headersTimeout = 30_000;

  return {
    url: `http://${host}:${port}/#token=${encodeURIComponent(token)}`,
    host,
    port,
    token,
    async close() {
      unsubscribe();
      for (const ws of clients) ws.terminate();
      clients.clear();
      sockets.close();
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
    },
  };
}

/** A random address in 127.0.0.0/8, never 127.0.0.x (where other local servers usually are). */
export function randomLoopbackHost(random: (n: number) => number = randomInt): string {
  return `127.${1 + random(254)}.${random(256)}.${1 + random(254)}`;
}

/**
 * Listens on `host`, or on a random loopback address, out of the way of dev servers and other apps on
 * 127.0.0.1 (the bridge's credential does not depend on it: see startBridge). Linux routes all of
 * 127.0.0.0/8 to loopback; where the OS has only 127.0.0.1 (macOS by default) the listen fails with
 * EADDRNOTAVAIL and we fall back to 127.0.0.1.
 */
export async function listenOnLoopback(server: Server, port: number, host?: string): Promise<string> {
  const listen = (address: string) =>
    new Promise<void>((resolveListen, rejectListen) => {
      server.once('error', rejectListen);
      server.listen(port, address, () => {
        server.off('error', rejectListen);
        resolveListen();
      });
    });
  if (host !== undefined) {
    if (!isLoopbackAddress(host)) throw new Error(`the bridge only listens on a loopback address (127.x.y.z), not ${host}`);
    await listen(host);
    return host;
  }
  const random = randomLoopbackHost();
  try {
    await listen(random);
    return random;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRNOTAVAIL') throw error;
    await listen(FALLBACK_HOST);
    return FALLBACK_HOST;
  }
}

export function isLoopbackAddress(host: string): boolean {
  return /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(host) && host.split('.').every((part) => Number(part) <= 255);
}

/** The page's CSP as the bridge sends it: src/shared/csp.ts, plus the bridge's own WebSocket and no framing. */
export function bridgeContentSecurityPolicy(host: string, port: number): string {
  return contentSecurityPolicy({ connect: [`ws://${host}:${port}`], header: true });
}

/** The path part of a request target, exactly as sent (not normalised, still percent-encoded). */
function rawPath(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** Reads a body up to `limit` bytes; past it, answers 413 and closes the connection. */
function readBody(req: IncomingMessage, res: ServerResponse, limit: number): Promise<Buffer> {
  return new Promise((resolveBody, rejectBody) => {
    const declared = Number(req.headers['content-length'] ?? NaN);
    let refused = false;
    const tooLarge = () => {
      refused = true;
      res.setHeader('connection', 'close');
      req.removeAllListeners('data');
      // Answer once the rest has been read and discarded: a socket closed with unread bytes is reset,
      // and the client can lose the answer with it. A client that keeps sending past DRAIN_LIMIT is cut off.
      const refuse = () => rejectBody(new HttpError(413, `the request body is larger than ${limit} bytes`));
      let drained = 0;
      req.on('data', (chunk: Buffer) => {
        drained += chunk.length;
        if (drained > DRAIN_LIMIT) refuse();
      });
      req.once('end', refuse);
      req.resume();
    };
    if (Number.isFinite(declared) && declared > limit) return tooLarge();
    const chunks: Buffer[] = [];
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) return tooLarge();
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!refused) resolveBody(Buffer.concat(chunks));
    });
    req.on('error', rejectBody);
  });
}

/** Sends a confined file (see openCheckedFile); 404 when what is there now is not what was checked. */
async function sendFile(req: IncomingMessage, res: ServerResponse, file: string, type: string, cacheControl: string): Promise<void> {
  const opened = await openCheckedFile(file);
  if (!opened) throw new HttpError(404, 'not found');
  const { handle, info } = opened;
  const etag = `"${info.size.toString(16)}-${Math.trunc(info.mtimeMs).toString(16)}"`;
  const headers = {
    'content-type': type,
    'cache-control': cacheControl,
    etag,
    'x-content-type-options': 'nosniff',
    'cross-origin-resource-policy': 'same-origin',
    'referrer-policy': 'no-referrer',
  };
  const unchanged = req.headers['if-none-match'] === etag;
  res.writeHead(unchanged ? 304 : 200, unchanged ? headers : { ...headers, 'content-length': info.size });
  if (unchanged || req.method === 'HEAD' || info.size === 0) {
    await handle.close();
    res.end();
    return;
  }
  await new Promise<void>((done, fail) => {
    // At most the size announced: a file that grew meanwhile must not overrun content-length.
    const stream = handle.createReadStream({ start: 0, end: info.size - 1 });
    stream.on('error', fail);
    res.on('close', () => {
      stream.destroy();
      done();
    });
    stream.pipe(res);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendText(res, status, JSON.stringify(body), 'application/json; charset=utf-8');
}

function sendText(res: ServerResponse, status: number, text: string, type: string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}
