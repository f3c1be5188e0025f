import { forwardCalls, type ApiName, type EngineEvent, type PhotoSize } from '../../../shared/api';
import { ApiError, fromWireError } from '../../../shared/errors';
import type { AppTransport } from './types';

/**
 * The browser transport: calls are `POST /api/<name>` with a JSON body, events arrive on the
 * `/events` WebSocket (reconnecting with backoff), photos are `/photo/<id>`. The access token
 * travels as the HttpOnly cookie the bridge set when the page was opened, so nothing here sees it.
 */
export function bridgeTransport(origin: string = location.origin): AppTransport {
  const call = async (name: ApiName, arg: unknown): Promise<unknown> => {
    let response: Response;
    try {
      response = await fetch(`${origin}/api/${name}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: arg === undefined ? '' : JSON.stringify(arg),
        credentials: 'same-origin',
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
    const ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/events`);
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
      return `${origin}/photo/${Math.trunc(photoId)}?size=${size === 'full' ? 'full' : 'thumb'}`;
    },
  };
}
