import { bridgeTransport } from './bridge';
import { electronTransport } from './electron';
import type { AppTransport } from './types';

/** Electron when the preload script is there, otherwise the local bridge that served this page. */
export function chooseTransport(): AppTransport {
  return window.lookalike ? electronTransport(window.lookalike) : bridgeTransport();
}

export type { AppTransport } from './types';
