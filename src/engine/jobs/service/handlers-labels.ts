import type { ApiHandlers } from '../../../shared/api.js';
import { librarySummary } from '../library/library-sync.js';
import { checkFingerprint } from '../files/label-change-input.js';
import { changeLabels, labelsState, undoLabels } from '../files/label-changes.js';
import { LABEL_WRITE, LABEL_WRITE_UNDO } from './library-files.js';
import { markNotSimilar, marksState } from '../files/not-similar-marks.js';
import type { ServiceParts } from './service-parts.js';
import { previewLabelWrite, undoLabelWrite, writeLabels } from '../files/write-labels.js';

type LabelHandlers = Pick<ApiHandlers, 'labels' | 'changeLabels' | 'undoLabels' | 'previewLabelWrite' | 'writeLabels' | 'undoLabelWrite' | 'marks' | 'markNotSimilar'>;

/** Labels chosen in the app, writing them to folders (file moves), and "not similar" marks. */
export function labelHandlers({ store, emit, library, files }: Pick<ServiceParts, 'store' | 'emit' | 'library' | 'files'>): LabelHandlers {
  /** After a label change: the new counts go out as a library event, and back to the caller. */
  const labelsResult = (id: number) => {
    const summary = librarySummary(store, id);
    emit({ type: 'library', library: summary });
    return { library: summary, labels: labelsState(store, id) };
  };
  const moveOptions = files.moveOptions;

  return {
    async labels() {
      return labelsState(store, library.require());
    },

    async changeLabels(change) {
      const id = library.require();
      files.refuseWhileAnyMove();
      changeLabels(store, id, change);
      return labelsResult(id);
    },

    async undoLabels() {
      const id = library.require();
      files.refuseWhileAnyMove();
      undoLabels(store, id);
      return labelsResult(id);
    },

    async previewLabelWrite() {
      return previewLabelWrite(store, library.require());
    },

    async writeLabels(arg) {
      const fingerprint = checkFingerprint(arg);
      return files.move(library.require(), LABEL_WRITE, (id) => writeLabels(store, id, fingerprint, moveOptions), (id) => labelsResult(id));
    },

    async undoLabelWrite() {
      return files.move(library.require(), LABEL_WRITE_UNDO, (id) => undoLabelWrite(store, id, moveOptions), (id) => labelsResult(id));
    },

    async marks(query) {
      const id = library.require();
      return marksState(store, id, query?.queryPhotoId === undefined ? undefined : Number(query.queryPhotoId));
    },

    async markNotSimilar(change) {
      return markNotSimilar(store, library.require(), change);
    },
  };
}
