/** The engine thread: a real createEngineService, driven by messages from service-thread.ts. */
import { parentPort, workerData } from 'node:worker_threads';
import { createEngineService } from './service.js';
import type { EngineServiceOptions } from './service-contract.js';
import type { ThreadMessage, ThreadRequest } from './service-thread.js';
import { toWireError } from '../../../shared/errors.js';

const port = parentPort!;
const send = (message: ThreadMessage) => port.postMessage(message);

try {
  const service = await createEngineService(workerData as EngineServiceOptions);
  service.subscribe((event) => send({ kind: 'event', event }));
  port.on('message', async (request: ThreadRequest) => {
    try {
      let value: unknown = null;
      if (request.kind === 'call') {
        const handler = service.handlers[request.name] as (arg: unknown) => Promise<unknown>;
        value = await handler(request.arg);
      } else if (request.kind === 'photoFile') {
        value = await service.photoFile(request.photoId, request.size);
      } else {
        await service.close();
      }
      send({ kind: 'reply', id: request.id, ok: true, value, libraryRoot: service.libraryRoot() });
    } catch (error) {
      send({ kind: 'reply', id: request.id, ok: false, error: toWireError(error), libraryRoot: service.libraryRoot() });
    }
  });
  send({ kind: 'ready', libraryRoot: service.libraryRoot() });
} catch (error) {
  send({ kind: 'failed', message: (error as Error).message });
}
