/**
 * The engine service on a thread of its own: what the main process (Electron) or the bridge's
 * process runs is a proxy, so training steps, indexing and SQLite writes never hold up its event
 * loop (window events, IPC, HTTP). Same EngineService shape as createEngineService.
 */
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../../common/worker.js';
import type { ApiHandlers, ApiName, EngineEvent, PhotoSize } from '../../../shared/api.js';
import { forwardCalls } from '../../../shared/api.js';
import type { EngineService, EngineServiceOptions } from './service-contract.js';
import { fromWireError, type WireError } from '../../../shared/errors.js';

export type ThreadRequest =
  | { id: number; kind: 'call'; name: ApiName; arg: unknown }
  | { id: number; kind: 'photoFile'; photoId: number; size: PhotoSize }
  | { id: number; kind: 'close' };

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export type ThreadMessage =
  | { kind: 'ready'; libraryRoot: string | null }
  | { kind: 'failed'; message: string }
  | { kind: 'event'; event: EngineEvent }
  | { kind: 'reply'; id: number; ok: true; value: unknown; libraryRoot: string | null }
  | { kind: 'reply'; id: number; ok: false; error: WireError; libraryRoot: string | null };

export async function createThreadedEngineService(options: EngineServiceOptions = {}): Promise<EngineService> {
  const worker = startThread(options);
  const listeners = new Set<(event: EngineEvent) => void>();
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let root: string | null = null;
  let exited: Error | null = null;

  const ready = new Promise<void>((resolve, reject) => {
    worker.on('message', (message: ThreadMessage) => {
      switch (message.kind) {
        case 'ready':
          root = message.libraryRoot;
          resolve();
          break;
        case 'failed':
          reject(new Error(message.message));
          break;
        case 'event':
          if (message.event.type === 'library') root = message.event.library.root;
          for (const listener of listeners) listener(message.event);
          break;
        case 'reply': {
          root = message.libraryRoot;
          const waiting = pending.get(message.id);
          pending.delete(message.id);
          if (message.ok) waiting?.resolve(message.value);
          // The error keeps its kind across the thread (the bridge's status and the UI depend on it).
          else waiting?.reject(fromWireError(message.error));
          break;
        }
      }
    });
    worker.on('error', (error) => {
      exited = error;
      reject(error);
      for (const waiting of pending.values()) waiting.reject(error);
      pending.clear();
    });
    worker.on('exit', (code) => {
      exited ??= new Error(`the engine thread stopped (code ${code})`);
      for (const waiting of pending.values()) waiting.reject(exited);
      pending.clear();
    });
  });
  await ready;

  const request = (body: WithoutId<ThreadRequest>): Promise<unknown> => {
    if (exited) return Promise.reject(exited);
    const id = nextId++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...body, id });
    });
  };

  const handlers = forwardCalls<ApiHandlers>((name, arg) => request({ kind: 'call', name, arg }));
  return {
    handlers,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    photoFile: (photoId, size) => request({ kind: 'photoFile', photoId, size }) as Promise<string | null>,
    libraryRoot: () => root,
    async close() {
      if (!exited) await request({ kind: 'close' }).catch(() => undefined);
      await worker.terminate();
      listeners.clear();
    },
  };
}

function startThread(options: EngineServiceOptions): Worker {
  return startModuleWorker(import.meta.url, 'service-thread-main', { workerData: options });
}
