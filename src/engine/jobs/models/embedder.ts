/**
 * A stored model that embeds, whatever it is: the untrained backbone, a head on cached backbone
 * features (head-embedder.ts) or a fine-tuned network (fine-tuned-embedder.ts). openModel
 * (open-model.ts) picks the implementation; callers never ask which kind a model is.
 */
import { resolve } from 'node:path';
import type { RetrievalMetrics } from '../../../shared/api.js';
import type { DetailedEvaluation } from '../../ml/training/retrieval-metrics.js';
import type { PhotoSource } from '../../ml/training/decoded-photos.js';
import type { ModelRow, PhotoRow, Store } from '../../store/store.js';
import type { JobContext } from '../job-context.js';
import type { LabelledFeatures } from '../training/labelled-features.js';

/** A photo of the library, or an image from outside (a file or bytes) named by its label. */
export type EmbedQuery = { photo: PhotoRow } | PhotoSource;

export interface IndexCount {
  embedded: number;
  /** Photos to embed that have no input yet (unreadable, or nothing cached for them). */
  missingFeatures: number;
}

export interface Embedder {
  readonly model: ModelRow;
  /** Embeds every photo of the model's library whose embedding is missing or stale; backbone features are cached by the caller. */
  index(ctx: JobContext): Promise<IndexCount>;
  /** Embeddings of these library photos, in order; null where a photo has no input (unreadable, or nothing cached). */
  embedPhotos(photos: PhotoRow[]): Promise<Array<Float32Array | null>>;
  /** The embedding of a query: what is cached for a library photo when there is, else its file read now. */
  embedQuery(query: EmbedQuery): Promise<Float32Array>;
  /** Validation photos query the training photos, as training measured it. */
  evaluate(sets: LabelledFeatures, k: number): Promise<RetrievalMetrics>;
  /** The same, per class and per query, in the order of the feature sets' photos. */
  evaluateInDetail(sets: LabelledFeatures, k: number): Promise<DetailedEvaluation>;
  /** Frees the model's tensors; the embedder is not used after. */
  dispose(): void;
}

/** Where a query's pixels come from: a library photo's file, or the image given. */
export function querySource(store: Store, libraryId: number, query: EmbedQuery): PhotoSource {
  return 'photo' in query ? { image: resolve(store.libraryRoot(libraryId), query.photo.relPath), label: query.photo.relPath } : query;
}

/** Embeds photos a batch at a time into the model's index (null embeddings are left out), pausing and stopping between batches. */
export async function indexInBatches(
  ctx: JobContext,
  model: ModelRow,
  photos: PhotoRow[],
  batchSize: number,
  embed: (batch: PhotoRow[]) => Promise<Array<Float32Array | null>>,
): Promise<number> {
  let embedded = 0;
  for (let start = 0; start < photos.length; start += batchSize) {
    await ctx.control?.checkpoint();
    const batch = photos.slice(start, start + batchSize);
    const vectors = await embed(batch);
    const ready = batch.flatMap((photo, i) => (vectors[i] ? [{ photoId: photo.id, hash: photo.hash, vector: vectors[i] }] : []));
    ctx.store.putEmbeddings(model.id, model.dim, ready);
    embedded += ready.length;
    ctx.emit?.({ type: 'progress', kind: 'index', phase: `Indexing with ${model.name}`, done: Math.min(start + batchSize, photos.length), total: photos.length, etaSeconds: null });
  }
  return embedded;
}
