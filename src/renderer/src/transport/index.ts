import { bridgeTransport } from './bridge';
import { takeBridgeToken } from './bridge-token';
import { electronTransport } from './electron';
import type { AppTransport } from './types';

/**
 * Electron when the preload script is there, otherwise the local bridge that served this page; null
 * when this page came from the bridge without its access token.
 */
export function chooseTransport(): AppTransport | null {
  if (window.lookalike) return electronTransport(window.lookalike);
  const token = takeBridgeToken();
  return token ? bridgeTransport(token) : null;
}

export type { AppTransport } from './types';
