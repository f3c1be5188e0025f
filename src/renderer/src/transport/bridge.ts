import { forwardCalls, type ApiName, type EngineEvent, type PhotoSize } from '../../../shared/api';
import { ApiError, fromWireError } from '../../../shared/errors';
import { photoSigningKey, signedPhotoPath } from '../../../shared/photo-url';
import type { AppTransport } from './types';

/** Must match the bridge's TOKEN_HEADER and EVENTS_PROTOCOL (src/bridge/server.ts). */
const TOKEN_HEADER = 'x-lookalike-token';
const EVENTS_PROTOCOL = 'lookalike';

/**
 * The browser transport: calls are `POST /api/<name>` with a JSON body and the token in a header,
 * events arrive on the `/events` WebSocket (the token offered as a subprotocol; reconnecting with
 * backoff), photos are `/photo/<id>` URLs signed with a key derived from the token. Nothing here puts
 * the token where another origin could get it (no cookie, no URL).
 */
export function bridgeTransport(token: string, origin: string = location.origin): AppTransport {
  const photoKey = photoSigningKey(token);
  const call = async (name: ApiName, arg: unknown): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetch(`${origin}/api/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [TOKEN_HEADER]: token },
        body: arg === undefined ? '' : JSON.stringify(arg),
        credentials: 'omit',
      });
    } catch {
      throw new ApiError('failed', 'Lookalike is not reachable. Is `lookalike serve` (or `npm start`) still running?');
    }
    const body = (await response.json().catch(() => null)) as { error?: string; kind?: string } | null;
    if (!response.ok) {
      if (response.status === 401) {
        throw new ApiError('failed', 'This page’s access token is no longer valid: open the address `lookalike serve` or `npm start` printed in its terminal.');
      }
      const kind = body?.kind ?? (response.status < 500 ? 'invalid-input' : 'failed');
      throw fromWireError({ kind, message: body?.error ?? `${response.status} ${response.statusText}` });
    }
    return body;
  };
  const api = forwardCalls(call);

  const listeners = new Set<(event: EngineEvent) => void>();
  const connectionListeners = new Set<(connected: boolean) => void>();
  let socket: WebSocket | null = null;
  let connected = false;
  let retry = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const setConnected = (value: boolean) => {
    if (value === connected) return;
    connected = value;
    for (const listener of connectionListeners) listener(value);
  };

  const connect = () => {
    timer = null;
    const ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/events`, [EVENTS_PROTOCOL, `${EVENTS_PROTOCOL}-token.${token}`]);
    socket = ws;
    ws.onopen = () => {
      retry = 0;
      setConnected(true);
    };
    ws.onmessage = (message) => {
      let event: EngineEvent;
      try {
        event = JSON.parse(String(message.data)) as EngineEvent;
      } catch {
        return;
      }
      for (const listener of listeners) listener(event);
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      setConnected(false);
      if (listeners.size === 0 && connectionListeners.size === 0) return;
      // 0.5 s, 1 s, 2 s … up to 10 s between attempts.
      timer = setTimeout(connect, Math.min(10_000, 500 * 2 ** retry++));
    };
  };

  const ensureSocket = () => {
    if (!socket && !timer) connect();
  };

  return {
    kind: 'bridge',
    api,
    onEvent(listener) {
      listeners.add(listener);
      ensureSocket();
      return () => listeners.delete(listener);
    },
    onConnection(listener) {
      connectionListeners.add(listener);
      ensureSocket();
      return () => connectionListeners.delete(listener);
    },
    photoUrl(photoId: number, size: PhotoSize) {
      return `${origin}${signedPhotoPath(photoKey, photoId, size, Date.now())}`;
    },
  };
}
