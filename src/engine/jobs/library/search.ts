import type { SimilarResult } from '../../../shared/api.js';
import { conflict, invalidInput, notFound } from '../../../shared/errors.js';
import { checkK } from '../../../shared/settings.js';
import { ImageError } from '../../library/photo-gate.js';
import type { Store } from '../../store/store.js';
import type { EmbedQuery } from '../models/embedder.js';
import { distancesOf } from '../training/evaluation.js';
import { importedBackboneProblem } from '../models/model-card.js';
import { defaultModel, requireModel } from '../models/model-lookup.js';
import { withModel } from '../models/open-model.js';

/**
 * k nearest photos (Euclidean, nearest first) to a library photo or to an image from outside. A
 * library photo is not its own neighbour: the k results are k other photos (copies of it included).
 */
export async function findSimilar(
  store: Store,
  libraryId: number,
  query: { photoId: number } | { image: string | Buffer; label: string },
  k: number,
  modelId?: number,
): Promise<SimilarResult> {
  checkK(k);
  const model = modelId === undefined ? defaultModel(store, libraryId) : requireModel(store, modelId, libraryId);
  if (!model) throw conflict('no model yet: index or train the library first');
  const refused = importedBackboneProblem(store, model);
  if (refused) throw conflict(`${model.name} cannot run: ${refused}`);
  let described: SimilarResult['query'];
  let embedQuery: EmbedQuery;
  if ('photoId' in query) {
    const photo = store.photo(query.photoId);
    if (!photo || photo.libraryId !== libraryId) throw notFound(`no photo ${query.photoId} in this library`);
    described = { photoId: photo.id, path: photo.relPath, className: photo.className };
    embedQuery = { photo };
  } else {
    described = { photoId: null, path: query.label, className: null };
    embedQuery = query;
  }
  // A query that cannot be decoded (a text file named .jpg, in the library or from outside) is the
  // person's input, not the engine failing: a 4xx naming the file and why.
  const vector = await withModel(store, model, (embedder) => embedder.embedQuery(embedQuery)).catch((error: unknown) => {
    throw error instanceof ImageError ? invalidInput(error.message) : error;
  });
  const index = store.vectorIndex(model.id, model.dim);
  const hits = described.photoId === null ? index.knn(vector, k) : index.knn(vector, k + 1).filter((hit) => hit.id !== described.photoId).slice(0, k);
  const results = hits.map((hit, i) => {
    const photo = store.photo(hit.id);
    return { rank: i + 1, photoId: hit.id, path: photo?.relPath ?? '(removed)', className: photo?.className ?? null, distance: hit.distance };
  });
  return { modelId: model.id, query: described, results, distances: await distancesOf(store, libraryId, model) };
}

