import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { API_NAMES, EVENT_CHANNEL, ipcChannel, type EngineEvent } from '../shared/api.js';
import { PICK_FOLDER_CHANNEL, photoUrl, type IpcApi, type PreloadBridge } from './contract.js';

// Only these functions cross into the page: one per API call, the event subscription, photo URLs and
// the folder picker. No ipcRenderer, no Node, no arbitrary channels.
const api = Object.fromEntries(API_NAMES.map((name) => [name, (arg: unknown) => ipcRenderer.invoke(ipcChannel(name), arg)])) as unknown as IpcApi;

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
};

contextBridge.exposeInMainWorld('lookalike', bridge);
