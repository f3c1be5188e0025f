import type { ApiArg, ApiName, ApiResult, EngineEvent, PhotoSize } from '../shared/api.js';
import type { Reply } from '../shared/errors.js';

/** The API as the preload script exposes it: each call answers a Reply (the renderer's transport unwraps it). */
export type IpcApi = { [N in ApiName]: (arg: ApiArg<N>) => Promise<Reply<ApiResult<N>>> };

/** What the preload script puts on `window.lookalike`: the API channels, events, photo URLs and the folder picker. */
export interface PreloadBridge {
  api: IpcApi;
  onEvent(listener: (event: EngineEvent) => void): () => void;
  photoUrl(photoId: number, size: PhotoSize): string;
  /** The native folder picker; null when the person cancels. */
  pickFolder(): Promise<string | null>;
  /** Shows a photo of the open library in the system file manager. */
  revealPhoto(photoId: number): Promise<void>;
}

/** Electron-only, outside the API: the native folder picker. */
export const PICK_FOLDER_CHANNEL = 'lookalike:pick-folder';

/** Electron-only, outside the API: show a photo in the file manager. */
export const REVEAL_PHOTO_CHANNEL = 'lookalike:reveal-photo';

/** Photos reach the Electron renderer through this scheme, served by src/main from the engine's files. */
export const PHOTO_SCHEME = 'lookalike-photo';

export function photoUrl(photoId: number, size: PhotoSize): string {
  return `${PHOTO_SCHEME}://photo/${Math.trunc(Number(photoId))}?size=${size === 'full' ? 'full' : 'thumb'}`;
}
