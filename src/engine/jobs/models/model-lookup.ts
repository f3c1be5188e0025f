import { invalidInput, notFound } from '../../../shared/errors.js';
import type { ModelRow, Store } from '../../store/store.js';

/** The model, which must belong to the library: another library's model would answer with its photos. */
export function requireModel(store: Store, modelId: number, libraryId: number): ModelRow {
  const model = store.model(modelId);
  if (!model) throw notFound(`no model ${modelId}`);
  if (model.libraryId !== libraryId) throw invalidInput(`model ${modelId} belongs to another library (${store.libraryRoot(model.libraryId)}), not to ${store.libraryRoot(libraryId)}`);
  return model;
}

/**
 * The model a search uses when none is named: the newest trained here that runs, else the baseline.
 * An imported model is used only when the person picks it (its classes may not be this library's).
 */
export function defaultModel(store: Store, libraryId: number): ModelRow | null {
  const models = store.models(libraryId);
  return [...models].reverse().find((m) => m.kind === 'trained' && m.config.importedCard === undefined && m.problem === null) ?? models.find((m) => m.kind === 'baseline') ?? null;
}
