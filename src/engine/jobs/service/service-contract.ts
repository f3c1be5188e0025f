import type { ApiHandlers, EngineEvent, PhotoSize } from '../../../shared/api.js';

/**
 * What a transport (Electron IPC in src/main, the local bridge in src/bridge) needs from the engine:
 * the handler table for every API call, the event stream, and files for photo URLs.
 */
export interface EngineService {
  handlers: ApiHandlers;
  subscribe(listener: (event: EngineEvent) => void): () => void;
  /**
   * The file to serve for a photo of the open library: the original ('full') or a cached
   * thumbnail ('thumb'), or null when the id is not a photo of the open library.
   */
  photoFile(photoId: number, size: PhotoSize): Promise<string | null>;
  /** Root of the open library, or null. Transports must never serve files outside it (or the thumbnail cache). */
  libraryRoot(): string | null;
  close(): Promise<void>;
}

export interface EngineServiceOptions {
  /** SQLite file; default: the user's data directory. */
  dbPath?: string;
  /** Where thumbnails and other caches go; default: the user's cache directory. */
  cacheDir?: string;
  /** A library to open at start; by default the one used last (when its folder still exists). */
  libraryRoot?: string;
  /** Set false to start with no library open even if one was used before. */
  reopenLast?: boolean;
}
