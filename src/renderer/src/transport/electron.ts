import { forwardCalls } from '../../../shared/api';
import { fromWireError, type Reply } from '../../../shared/errors';
import type { PreloadBridge } from '../../../preload/contract';
import type { AppTransport } from './types';

declare global {
  interface Window {
    lookalike?: PreloadBridge;
  }
}

/** Electron's ipcRenderer.invoke wraps errors as "Error invoking remote method 'x': Error: message". */
function plainMessage(error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  return new Error(message.replace(/^Error invoking remote method '[^']*': (?:[A-Za-z]*Error: )?/, ''));
}

/** The Electron transport: what the preload script exposed on window.lookalike. */
export function electronTransport(bridge: PreloadBridge): AppTransport {
  const api = forwardCalls(async (name, arg) => {
    let reply: Reply<unknown>;
    try {
      reply = await (bridge.api[name] as (arg: unknown) => Promise<Reply<unknown>>)(arg);
    } catch (error) {
      throw plainMessage(error);
    }
    if (!reply.ok) throw fromWireError(reply.error);
    return reply.value;
  });
  return {
    kind: 'electron',
    api,
    onEvent: (listener) => bridge.onEvent(listener),
    photoUrl: (photoId, size) => bridge.photoUrl(photoId, size),
    pickFolder: () => bridge.pickFolder(),
    revealPhoto: async (photoId) => {
      try {
        await bridge.revealPhoto(photoId);
      } catch (error) {
        throw plainMessage(error);
      }
    },
  };
}
