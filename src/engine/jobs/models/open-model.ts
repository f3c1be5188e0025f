import { selectBackend } from '../../ml/runtime/compute-backend.js';
import type { ModelRow, Store } from '../../store/store.js';
import type { Embedder } from './embedder.js';
import { openFineTunedModel } from './fine-tuned-embedder.js';
import { fineTuneConfig } from './fine-tuned-net.js';
import { openHeadModel } from './head-embedder.js';

/** A stored model, ready to embed: the one place that asks which kind it is. The caller disposes it. */
export async function openModel(store: Store, model: ModelRow): Promise<Embedder> {
  if (model.kind === 'baseline') return openHeadModel(store, model);
  await selectBackend();
  const fineTune = fineTuneConfig(model);
  return fineTune ? openFineTunedModel(store, model, fineTune) : openHeadModel(store, model);
}

/** Runs `use` with the model opened, and frees it after, whatever happens. */
export async function withModel<T>(store: Store, model: ModelRow, use: (embedder: Embedder) => Promise<T>): Promise<T> {
  const embedder = await openModel(store, model);
  try {
    return await use(embedder);
  } finally {
    embedder.dispose();
  }
}
