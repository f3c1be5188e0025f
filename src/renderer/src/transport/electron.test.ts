import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../shared/api';
import { ApiError } from '../../../shared/errors';
import type { IpcApi, PreloadBridge } from '../../../preload/contract';
import { electronTransport } from './electron';

const revealed: number[] = [];

function fakePreload(api: Partial<IpcApi>): PreloadBridge & { emit(event: EngineEvent): void } {
  const listeners = new Set<(event: EngineEvent) => void>();
  return {
    api: api as IpcApi,
    onEvent(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    photoUrl: (id, size) => `lookalike-photo://photo/${id}?size=${size}`,
    pickFolder: async () => '/photos',
    revealPhoto: async (id) => void revealed.push(id),
    emit: (event) => listeners.forEach((l) => l(event)),
  };
}

describe('electronTransport', () => {
  it('unwraps replies: values pass through, errors keep their kind and message', async () => {
    const transport = electronTransport(
      fakePreload({
        listRuns: async () => ({ ok: true, value: [] }),
        openLibrary: async () => ({ ok: false, error: { kind: 'not-found', message: '/x: folder not found' } }),
        startTraining: async () => ({ ok: false, error: { kind: 'invalid-input', message: 'gap g must be a positive number (got 0)' } }),
      }),
    );
    expect(transport.kind).toBe('electron');
    expect(await transport.api.listRuns()).toEqual([]);
    const missing = await transport.api.openLibrary({ root: '/x' }).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(ApiError);
    expect(missing).toMatchObject({ kind: 'not-found', message: '/x: folder not found' });
    await expect(transport.api.startTraining({ gap: 0 })).rejects.toMatchObject({ kind: 'invalid-input', message: 'gap g must be a positive number (got 0)' });
  });

  it('strips Electron’s "Error invoking remote method" wrapper from an error thrown in the main process', async () => {
    const transport = electronTransport(
      fakePreload({
        listRuns: async () => {
          throw new Error("Error invoking remote method 'lookalike:listRuns': Error: refused a call from https://elsewhere");
        },
      }),
    );
    await expect(transport.api.listRuns()).rejects.toThrow(/^refused a call from https:\/\/elsewhere$/);
  });

  it('delivers events until unsubscribed, and exposes photo URLs and the folder picker', async () => {
    const preload = fakePreload({});
    const transport = electronTransport(preload);
    const seen: EngineEvent[] = [];
    const off = transport.onEvent((e) => seen.push(e));
    const event: EngineEvent = { type: 'loss', runId: 1, step: 1, epoch: 1, loss: 0.5 };
    preload.emit(event);
    off();
    preload.emit(event);
    expect(seen).toEqual([event]);
    expect(transport.photoUrl(7, 'thumb')).toBe('lookalike-photo://photo/7?size=thumb');
    expect(await transport.pickFolder?.()).toBe('/photos');
    await transport.revealPhoto?.(12);
    expect(revealed).toEqual([12]);
  });
});
