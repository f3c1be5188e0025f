import type { ApiHandlers, TrainSettings } from '../../../shared/api.js';
import { invalidInput, notFound } from '../../../shared/errors.js';
import { resolveSettings, validationK } from '../../../shared/settings.js';
import { typedFolderPath } from '../../common/paths.js';
import { defaultModel } from '../models/model-lookup.js';
import { evaluateModelInDetail } from '../training/evaluation.js';
import { exportModel, importModel, removeModel, toModelInfo } from '../models/model-transfer.js';
import type { ServiceParts } from './service-parts.js';

type ModelHandlers = Pick<ApiHandlers, 'listModels' | 'exportModel' | 'importModel' | 'removeModel' | 'evaluateModel'>;

/** The library's models: list, export, import, remove, evaluate. */
export function modelHandlers({ store, library, runner, files, watcher, index }: Pick<ServiceParts, 'store' | 'library' | 'runner' | 'files' | 'watcher' | 'index'>): ModelHandlers {
  const handlers: ModelHandlers = {
    async listModels() {
      if (library.id === null) return [];
      return store.models(library.id).map((m) => toModelInfo(store, m.id));
    },

    async exportModel({ modelId, folder }) {
      const id = library.require();
      const model = store.model(Number(modelId));
      if (!model || model.libraryId !== id) throw notFound(`no model ${String(modelId)} in this library`);
      return exportModel(store, model.id, folder);
    },

    async importModel({ source }) {
      const id = library.require();
      if (typeof source !== 'string' || source.trim() === '') throw invalidInput('choose an exported model folder (or its card.json)');
      // As typed in the app: ~ is the home folder; a relative path would mean the server's working folder.
      const { modelId } = await importModel(store, id, typedFolderPath(source));
      if (files.busy) files.indexWhenDone();
      else if (!runner.state) index(id);
      else watcher.notePending();
      return toModelInfo(store, modelId);
    },

    async removeModel({ modelId }) {
      const id = library.require();
      // An index job may be embedding with it: stopped first, and brought up to date again after.
      const indexing = runner.state?.kind === 'index';
      if (indexing) await runner.stop();
      removeModel(store, id, Number(modelId));
      if (indexing) index(id);
      return handlers.listModels();
    },

    async evaluateModel({ modelId } = {}) {
      const id = library.require();
      const model = modelId === undefined ? defaultModel(store, id) : store.model(Number(modelId));
      if (!model || model.libraryId !== id) throw notFound(modelId === undefined ? 'no model yet: open a library with photos first' : `no model ${modelId} in this library`);
      const settings = resolveSettings((model.config.settings ?? {}) as Partial<TrainSettings>);
      return evaluateModelInDetail(store, id, model.id, validationK(store.classes(id), settings.validationFraction));
    },
  };
  return handlers;
}
