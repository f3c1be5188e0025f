/**
 * "Not similar to this query" marks: a person's correction of Find similar, stored per library and
 * trained on as hard negatives (query, a photo of its class, the marked photo) by the next training.
 *
 * A mark is used only when both photos are labelled training photos of different classes:
 * - marked photo of the query's own class: the labels say they are alike and training learns the
 *   labels, so the mark waits (it is used if either photo later changes class);
 * - either photo in the validation split: training on it would make the validation score, which
 *   says whether training helped, flatter itself; the mark waits;
 * - either photo unlabelled: the query needs a class to draw a positive from, and training reads
 *   only labelled photos' features; the mark waits until both have a class.
 * Photos not split yet (a library never trained) count as usable: the first training splits them,
 * and its record says how many marks it really used.
 */
import type { MarksState } from '../../shared/api.js';
import { invalidInput, notFound } from '../../shared/errors.js';
import { MarkStore, type MarkRow } from '../store/marks.js';
import type { PhotoRow, Store } from '../store/store.js';
import type { MarkedPair } from '../ml/triplets.js';

/** Why a mark is not used by the next training; null when it is. */
export function markUnusedReason(mark: MarkRow): string | null {
  const { query, marked } = mark;
  if (!query || !marked) return 'a photo is no longer in the library';
  if (query.classId === null || marked.classId === null) return 'a photo has no class';
  if (query.classId === marked.classId) return 'same class as the query';
  if (query.split === 'validation' || marked.split === 'validation') return 'a validation photo';
  return null;
}

export function marksState(store: Store, libraryId: number, queryPhotoId?: number): MarksState {
  const marks = new MarkStore(store.db);
  const all = marks.all(libraryId);
  const unused = new Map<string, number>();
  for (const mark of all) {
    const reason = markUnusedReason(mark);
    if (reason) unused.set(reason, (unused.get(reason) ?? 0) + 1);
  }
  let marked: number[] = [];
  if (queryPhotoId !== undefined) {
    const query = requirePhoto(store, libraryId, queryPhotoId);
    marked = marks
      .markedFor(libraryId, query.relPath)
      .map((path) => store.photoByPath(libraryId, path)?.id)
      .filter((id): id is number => id !== undefined);
  }
  return {
    marked,
    total: all.length,
    usable: all.length - [...unused.values()].reduce((a, b) => a + b, 0),
    unused: [...unused].map(([reason, count]) => ({ reason, count })),
  };
}

/** Marks (or unmarks) `photoId` as not similar to `queryPhotoId`; both must be photos of the library. */
export function markNotSimilar(store: Store, libraryId: number, change: { queryPhotoId: unknown; photoId: unknown; marked: unknown }): MarksState {
  if (typeof change?.marked !== 'boolean') throw invalidInput('say whether to mark or unmark (marked: true or false)');
  const query = requirePhoto(store, libraryId, change.queryPhotoId);
  const photo = requirePhoto(store, libraryId, change.photoId);
  if (query.id === photo.id) throw invalidInput(`${query.relPath}: a photo cannot be marked as not similar to itself`);
  const marks = new MarkStore(store.db);
  if (change.marked) marks.add(libraryId, query.relPath, photo.relPath);
  else marks.remove(libraryId, query.relPath, photo.relPath);
  return marksState(store, libraryId, query.id);
}

/**
 * The marks the training uses, as pairs of positions in its training photos (those with features,
 * in the order training reads them). A usable mark whose photo has no features is left out.
 */
export function markedPairsForTraining(store: Store, libraryId: number, trainPhotos: PhotoRow[]): MarkedPair[] {
  const position = new Map(trainPhotos.map((p, i) => [p.id, i]));
  const pairs: MarkedPair[] = [];
  for (const mark of new MarkStore(store.db).all(libraryId)) {
    if (markUnusedReason(mark) !== null) continue;
    const query = position.get(mark.query!.id);
    const negative = position.get(mark.marked!.id);
    if (query !== undefined && negative !== undefined) pairs.push({ query, negative });
  }
  return pairs;
}

export function recordRunMarks(store: Store, runId: number, used: number): void {
  new MarkStore(store.db).setRunMarks(runId, used);
}

export function runMarks(store: Store, runId: number): number | null {
  return new MarkStore(store.db).runMarks(runId);
}

function requirePhoto(store: Store, libraryId: number, id: unknown): PhotoRow {
  const photo = Number.isInteger(id) ? store.photo(id as number) : null;
  if (!photo || photo.libraryId !== libraryId) throw notFound(`no photo ${String(id)} in this library`);
  return photo;
}
