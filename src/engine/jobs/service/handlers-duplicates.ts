import type { ApiHandlers } from '../../../shared/api.js';
import { conflict } from '../../../shared/errors.js';
import type { Store } from '../../store/store.js';
import { duplicateEdges, groupDuplicates, type DuplicateEdges } from '../library/duplicates.js';
import { librarySummary } from '../library/library-sync.js';
import { PHOTOS_MOVE, PHOTOS_MOVE_UNDO } from './library-files.js';
import { movePhotosOut, undoMoveOut } from '../files/move-out.js';
import type { ServiceParts } from './service-parts.js';

type DuplicateHandlers = Pick<ApiHandlers, 'findDuplicates' | 'movePhotos' | 'undoMovePhotos'>;

/** Duplicates, and moving photos out of the library (and back). */
export function duplicateHandlers({ store, emit, library, files }: Pick<ServiceParts, 'store' | 'emit' | 'library' | 'files'>): DuplicateHandlers {
  const pairs = duplicatePairsCache(store, emit);
  return {
    async findDuplicates({ threshold }) {
      const id = library.require();
      return groupDuplicates(store, id, await pairs(id), Number(threshold));
    },

    async movePhotos({ photoIds, folder }) {
      return files.move(
        library.require(),
        PHOTOS_MOVE,
        (id) => movePhotosOut(store, id, photoIds, folder, files.moveOptions),
        (id, { moved }) => ({ moved, library: librarySummary(store, id) }),
      );
    },

    async undoMovePhotos() {
      return files.move(
        library.require(),
        PHOTOS_MOVE_UNDO,
        (id) => undoMoveOut(store, id, files.moveOptions),
        (id, back) => ({ back, library: librarySummary(store, id) }),
      );
    },
  };
}

/** Close pairs under the untrained model, kept until the photos or their embeddings change. */
function duplicatePairsCache(store: Store, emit: ServiceParts['emit']): (libraryId: number) => Promise<DuplicateEdges> {
  let cache: { key: string; edges: Promise<DuplicateEdges> } | null = null;
  return (id) => {
    const baseline = store.models(id).find((m) => m.kind === 'baseline');
    if (!baseline || store.embeddingCount(baseline.id) === 0) throw conflict('the library is still being analysed; look for duplicates when indexing is done');
    const key = `${baseline.id}:${store.embeddingCount(baseline.id)}:${store.countPhotos(id)}`;
    if (cache?.key !== key) {
      const edges = duplicateEdges(store, baseline.id, (done, total) => emit({ type: 'progress', kind: 'index', phase: 'Looking for duplicates', done, total, etaSeconds: null }));
      cache = { key, edges };
      edges.catch(() => (cache = null));
    }
    return cache.edges;
  };
}
