import type { ApiHandlers } from '../../../shared/api.js';
import { conflict } from '../../../shared/errors.js';
import { auditLabels, confirmLabel, labelAuditState } from '../curation/label-audit.js';
import { libraryMap } from '../curation/map.js';
import type { ServiceParts } from './service-parts.js';
import { rejectSuggestion, suggestClasses } from '../curation/suggest.js';

type CurationHandlers = Pick<ApiHandlers, 'startLabelAudit' | 'labelAudit' | 'confirmLabel' | 'suggestClasses' | 'rejectSuggestion' | 'libraryMap'>;

/** Tidying a library: the mislabelled-photo audit, class suggestions for unlabelled photos, the map. */
export function curationHandlers({ store, emit, library, runner, startJob }: Pick<ServiceParts, 'store' | 'emit' | 'library' | 'runner' | 'startJob'>): CurationHandlers {
  return {
    async startLabelAudit() {
      const id = library.require();
      if (runner.training) throw conflict('a training run is going; look for mislabelled photos when it is done');
      runner.refuseIfOtherProcessRuns();
      await runner.stop();
      return startJob('audit', null, async (ctx) => {
        const { ranked, seconds } = await auditLabels(ctx, id);
        const suspects = labelAuditState(store, id).suspects.length;
        return `${ranked.length} photos checked in ${Math.round(seconds)} s: ${suspects} may be in the wrong class`;
      });
    },

    async labelAudit() {
      return labelAuditState(store, library.require());
    },

    async confirmLabel({ photoId }) {
      return confirmLabel(store, library.require(), Number(photoId));
    },

    async suggestClasses(query) {
      const id = library.require();
      return suggestClasses(store, id, { modelId: query?.modelId });
    },

    async rejectSuggestion(change) {
      const id = library.require();
      rejectSuggestion(store, id, change);
      return suggestClasses(store, id, { modelId: change.modelId });
    },

    async libraryMap(query) {
      const id = library.require();
      const modelId = query?.modelId === undefined ? undefined : Number(query.modelId);
      return libraryMap(store, id, modelId, (phase, done, total) => emit({ type: 'progress', kind: 'index', phase, done, total, etaSeconds: null }));
    },
  };
}
