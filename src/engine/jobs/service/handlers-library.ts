import type { ApiHandlers } from '../../../shared/api.js';
import { invalidInput } from '../../../shared/errors.js';
import { DEFAULT_SETTINGS } from '../../../shared/settings.js';
import { typedFolderPath } from '../../common/paths.js';
import { formatBytes } from '../../common/error-words.js';
import { listFolders } from '../../library/folders.js';
import { MAX_PHOTO_BYTES } from '../../library/photo-gate.js';
import { findSimilar } from '../library/search.js';
import { librarySummary } from '../library/library-sync.js';
import type { ServiceParts } from './service-parts.js';

type LibraryHandlers = Pick<ApiHandlers, 'status' | 'openLibrary' | 'listPhotos' | 'findSimilar' | 'listFolders'>;

/** Opening a library, its photos, similar photos, and the folder browser. */
export function libraryHandlers({ store, library, runner, files, watcher, index, backend }: Pick<ServiceParts, 'store' | 'library' | 'runner' | 'files' | 'watcher' | 'index' | 'backend'>): LibraryHandlers {
  return {
    async status() {
      return {
        library: library.id === null ? null : librarySummary(store, library.id),
        backend: await backend(),
        job: runner.state,
        defaults: DEFAULT_SETTINGS,
      };
    },

    async openLibrary({ root }) {
      if (typeof root !== 'string') throw invalidInput('choose a folder to open');
      const opened = await files.scanToOpen(typedFolderPath(root));
      library.id = opened.libraryId;
      library.root = opened.summary.root;
      watcher.watch(library.root);
      if (opened.summary.photoCount > 0) index(opened.libraryId);
      return opened.summary;
    },

    async listPhotos({ classId, offset, limit }) {
      const id = library.require();
      const safeLimit = Math.max(0, Math.min(Number(limit) || 0, 1000));
      const safeOffset = Math.max(0, Number(offset) || 0);
      const rows = store.photos(id, { classId, offset: safeOffset, limit: safeLimit });
      return {
        total: store.countPhotos(id, classId),
        offset: safeOffset,
        items: rows.map((p) => ({ id: p.id, path: p.relPath, className: p.className, split: p.split })),
      };
    },

    async findSimilar(query) {
      const id = library.require();
      const k = Number(query.k);
      if ('imageBase64' in query && (typeof query.imageBase64 !== 'string' || query.imageBase64.length > Math.ceil(MAX_PHOTO_BYTES / 3) * 4)) {
        throw invalidInput(`${String(query.fileName || 'the image')}: larger than any photo Lookalike takes (limit ${formatBytes(MAX_PHOTO_BYTES)})`);
      }
      return 'photoId' in query
        ? findSimilar(store, id, { photoId: Number(query.photoId) }, k, query.modelId)
        : findSimilar(store, id, { image: Buffer.from(query.imageBase64, 'base64'), label: String(query.fileName || 'dropped image') }, k, query.modelId);
    },

    async listFolders(query) {
      const path = typeof query?.path === 'string' ? query.path : undefined;
      return listFolders(path, { recent: store.recentLibraryRoots(8) });
    },
  };
}
