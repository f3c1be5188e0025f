import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { EVENT_CHANNEL, forwardCalls, ipcChannel, type EngineEvent } from '../shared/api.js';
import { PICK_FOLDER_CHANNEL, REVEAL_PHOTO_CHANNEL, photoUrl, type IpcApi, type PreloadBridge } from './contract.js';

// Only these functions cross into the page: one per API call, the event subscription, photo URLs and
// the folder picker. No ipcRenderer, no Node, no arbitrary channels.
const api = forwardCalls<IpcApi>((name, arg) => ipcRenderer.invoke(ipcChannel(name), arg));

const bridge: PreloadBridge = {
  api,
  onEvent(listener) {
    const forward = (_event: IpcRendererEvent, payload: unknown) => listener(payload as EngineEvent);
    ipcRenderer.on(EVENT_CHANNEL, forward);
    return () => {
      ipcRenderer.removeListener(EVENT_CHANNEL, forward);
    };
  },
  photoUrl,
  pickFolder: () => ipcRenderer.invoke(PICK_FOLDER_CHANNEL) as Promise<string | null>,
  revealPhoto: (photoId: number) => ipcRenderer.invoke(REVEAL_PHOTO_CHANNEL, Math.trunc(Number(photoId))) as Promise<void>,
};

contextBridge.exposeInMainWorld('lookalike', bridge);
