/**
 * The models that embed cached backbone features: the untrained backbone (its features,
 * L2-normalised) and a trained head on them.
 */
import { evaluateDetailed, evaluateRetrieval, type LabelledVectors } from '../../ml/training/retrieval-metrics.js';
import type { BackboneSpec } from '../../ml/backbone/backbone.js';
import { EmbeddingHead, normalizeVector, type HeadConfig } from '../../ml/training/head.js';
import type { ModelRow, PhotoRow, Store } from '../../store/store.js';
import { indexInBatches, querySource, type Embedder } from './embedder.js';
import { backboneFeature } from './query-backbones.js';

const INDEX_BATCH = 512;

/** The model's embedder; a trained one's head is read from its stored weights. */
export function openHeadModel(store: Store, model: ModelRow): Embedder {
  const head = model.kind === 'baseline' ? null : loadHead(store, model);
  /** Feature sets are normalised already: only the head applies. */
  const embedNormalized = async (vectors: Float32Array[]) => (head ? head.embed(vectors) : vectors);
  const embedFeatures = (features: Float32Array[]) => embedNormalized(features.map(normalizeVector));
  const embedSet = async (set: LabelledVectors) => ({ vectors: await embedNormalized(set.vectors), classIds: set.classIds });
  const embedPhotos = async (photos: PhotoRow[]) => {
    const features = store.features(model.backbone, photos.map((p) => p.hash));
    const ready = photos.filter((p) => features.has(p.hash));
    const vectors = await embedFeatures(ready.map((p) => features.get(p.hash)!));
    const byHash = new Map(ready.map((p, i) => [p.hash, vectors[i]]));
    return photos.map((p) => byHash.get(p.hash) ?? null);
  };
  return {
    model,
    async index(ctx) {
      const todo = store.photosToEmbed(model.libraryId, model.id);
      // Features are read a batch at a time: all of a 100,000-photo library's would be 1.25 GB.
      const embedded = await indexInBatches(ctx, model, todo, INDEX_BATCH, (batch) => embedPhotos(batch));
      return { embedded, missingFeatures: todo.length - embedded };
    },
    embedPhotos,
    async embedQuery(query) {
      const cached = 'photo' in query ? store.features(model.backbone, [query.photo.hash]).get(query.photo.hash) : undefined;
      const feature = cached ?? (await backboneFeature(model.config.backboneSpec as BackboneSpec, querySource(store, model.libraryId, query)));
      return (await embedFeatures([feature]))[0];
    },
    async evaluate(sets, k) {
      return evaluateRetrieval(await embedSet(sets.validation), await embedSet(sets.train), k);
    },
    async evaluateInDetail(sets, k) {
      return evaluateDetailed(await embedSet(sets.validation), await embedSet(sets.train), k);
    },
    dispose: () => head?.dispose(),
  };
}

function loadHead(store: Store, model: ModelRow): EmbeddingHead {
  const weights = store.modelWeights(model.id);
  if (!weights) throw new Error(`model ${model.id} has no stored weights`);
  try {
    return EmbeddingHead.fromPacked(model.config.head as HeadConfig, weights);
  } catch {
    // What the parser says about damaged bytes quotes them; the person needs what it means.
    throw new Error('its stored weights are damaged and cannot be read; remove it, then train it again or import it again');
  }
}
