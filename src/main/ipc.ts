import { BrowserWindow, dialog, ipcMain, net, protocol, shell, type IpcMainInvokeEvent } from 'electron';
import { pathToFileURL } from 'node:url';
import { API_NAMES, EVENT_CHANNEL, ipcChannel, type ApiName } from '../shared/api.js';
import { toWireError, type Reply } from '../shared/errors.js';
import type { EngineService } from '../engine/jobs/service/service-contract.js';
import { photoToServe } from '../engine/jobs/service/photo-files.js';
import { PHOTO_SCHEME, PICK_FOLDER_CHANNEL, REVEAL_PHOTO_CHANNEL } from '../preload/contract.js';
import { revealPhoto } from './reveal.js';

/** Must run before the app is ready: the photo scheme behaves like https (secure, fetchable, streamed). */
export function registerPhotoScheme(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: PHOTO_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } }]);
}

/**
 * Wires every API call to the engine's handler table, forwards engine events to every window, serves
 * photos on lookalike-photo:// and answers the folder picker. Calls from anything but our own page
 * are refused. Returns a function that undoes it all.
 */
export function wireIpc(service: EngineService, options: { cacheDir: string; isTrusted: (frameUrl: string) => boolean }): () => void {
  const guard = (event: IpcMainInvokeEvent) => {
    const url = event.senderFrame?.url ?? '';
    if (!options.isTrusted(url)) throw new Error(`refused a call from ${url || 'an unknown frame'}`);
  };

  for (const name of API_NAMES) {
    ipcMain.handle(ipcChannel(name), async (event, arg): Promise<Reply<unknown>> => {
      guard(event);
      const handler = service.handlers[name as ApiName] as (arg: unknown) => Promise<unknown>;
      // Electron keeps only the message of a thrown error; a reply keeps its kind too.
      try {
        return { ok: true, value: await handler(arg) };
      } catch (error) {
        return { ok: false, error: toWireError(error) };
      }
    });
  }

  ipcMain.handle(PICK_FOLDER_CHANNEL, async (event) => {
    guard(event);
    const window = BrowserWindow.fromWebContents(event.sender);
    const options = { title: 'Open a photo library', buttonLabel: 'Open library', properties: ['openDirectory' as const] };
    const picked = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options);
    return picked.canceled ? null : (picked.filePaths[0] ?? null);
  });

  // Only photos of the open library, resolved by the engine (never a path from the page).
  ipcMain.handle(REVEAL_PHOTO_CHANNEL, async (event, photoId: unknown) => {
    guard(event);
    await revealPhoto(service, photoId, (file) => shell.showItemInFolder(file));
  });

  const unsubscribe = service.subscribe((event) => {
    for (const window of BrowserWindow.getAllWindows()) {
      if (!window.isDestroyed() && !window.webContents.isDestroyed()) window.webContents.send(EVENT_CHANNEL, event);
    }
  });

  protocol.handle(PHOTO_SCHEME, async (request) => {
    const url = new URL(request.url);
    if (url.hostname !== 'photo') return new Response('not found', { status: 404 });
    const photo = await photoToServe(service, url.pathname.replace(/^\/+/, ''), url.searchParams.get('size') ?? 'thumb', options.cacheDir);
    if (!photo.ok) return new Response(photo.message, { status: photo.status });
    const response = await net.fetch(pathToFileURL(photo.file).href, { bypassCustomProtocolHandlers: true });
    return new Response(response.body, { status: 200, headers: { 'content-type': photo.contentType, 'cache-control': 'private, max-age=3600', 'x-content-type-options': 'nosniff' } });
  });

  return () => {
    unsubscribe();
    for (const name of API_NAMES) ipcMain.removeHandler(ipcChannel(name));
    ipcMain.removeHandler(PICK_FOLDER_CHANNEL);
    ipcMain.removeHandler(REVEAL_PHOTO_CHANNEL);
  };
}
