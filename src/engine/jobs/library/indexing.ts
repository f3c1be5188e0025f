import type { RetrievalMetrics } from '../../../shared/api.js';
import { describeSpec, type BackboneSpec } from '../../ml/backbone/backbone.js';
import type { IndexCount } from '../models/embedder.js';
import { cacheFeatures } from './feature-cache.js';
import type { JobContext } from '../job-context.js';
import { requireModel } from '../models/model-lookup.js';
import { withModel } from '../models/open-model.js';

/** The untrained model: the backbone's own (L2-normalised) features, for comparison and search before training. */
export async function ensureBaselineModel(ctx: JobContext, libraryId: number, spec: BackboneSpec, metrics?: RetrievalMetrics): Promise<number> {
  const { store } = ctx;
  const key = describeSpec(spec);
  let model = store.models(libraryId).find((m) => m.kind === 'baseline' && m.backbone === key);
  if (!model) {
    const dim = store.featureDim(key);
    if (dim === null) throw new Error('no photo of this library could be read by the backbone yet; nothing to index');
    const id = store.createModel({ libraryId, name: `Untrained ${key}`, kind: 'baseline', backbone: key, backboneDim: dim, dim, config: { backboneSpec: spec }, runId: null });
    model = store.model(id)!;
  }
  if (metrics) store.setModelMetrics(model.id, metrics);
  await indexLibrary(ctx, libraryId, model.id);
  return model.id;
}

/** Embeds every photo (labelled or not) whose embedding under the model is missing or stale. */
export async function indexLibrary(ctx: JobContext, libraryId: number, modelId: number): Promise<IndexCount> {
  const model = requireModel(ctx.store, modelId, libraryId);
  await cacheFeatures(ctx, libraryId, model.config.backboneSpec as BackboneSpec);
  return withModel(ctx.store, model, (embedder) => embedder.index(ctx));
}
