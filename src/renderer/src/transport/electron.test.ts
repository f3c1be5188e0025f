import { describe, expect, it } from 'vitest';
import type { Api, EngineEvent } from '../../../shared/api';
import type { PreloadBridge } from '../../../preload/contract';
import { electronTransport } from './electron';

const revealed: number[] = [];

function fakePreload(api: Partial<Api>): PreloadBridge & { emit(event: EngineEvent): void } {
  const listeners = new Set<(event: EngineEvent) => void>();
  return {
    api: api as Api,
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
  it('passes calls through and strips Electron’s "Error invoking remote method" wrapper from errors', async () => {
    const transport = electronTransport(
      fakePreload({
        listRuns: async () => [],
        openLibrary: async () => {
          throw new Error("Error invoking remote method 'lookalike:openLibrary': Error: /x: folder not found");
        },
        startTraining: async () => {
          throw new Error("Error invoking remote method 'lookalike:startTraining': RangeError: gap must be > 0");
        },
      }),
    );
    expect(transport.kind).toBe('electron');
    expect(await transport.api.listRuns()).toEqual([]);
    await expect(transport.api.openLibrary({ root: '/x' })).rejects.toThrow(/^\/x: folder not found$/);
    await expect(transport.api.startTraining({ gap: 0 })).rejects.toThrow(/^gap must be > 0$/);
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
