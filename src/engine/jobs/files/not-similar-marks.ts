/**
 * "Not similar to this query" marks: a person's correction of Find similar, stored per library and
 * trained on as hard negatives (query, a photo of its class, the marked photo) by the next training.
 *
 * A mark is used when both photos are labelled, of different classes, and at least one trains:
 * - marked photo of the query's own class: the labels say they are alike and training learns the
 *   labels, so the mark waits (it is used if either photo later changes class);
 * - one photo in the validation split (a worst query from the Per-class table is one): the
 *   validation photo itself is never trained on, or the validation score, which says whether
 *   training helped, would flatter itself. Its training partner is trained instead, against the
 *   training photo of the validation photo's class nearest to it (what it was taken for); the
 *   validation score then also reflects the person's corrections, as with any mark;
 * - both photos in the validation split: nothing of the mark can be trained; it waits;
 * - either photo unlabelled: the query needs a class to draw a positive from, and training reads
 *   only labelled photos' features; the mark waits until both have a class.
 * Photos not split yet (a library never trained) count as usable: the first training splits them,
 * and its record says how many marks it really used.
 */
import type { MarksState } from '../../../shared/api.js';
import { invalidInput, notFound } from '../../../shared/errors.js';
import type { MarkRow } from '../../store/marks.js';
import type { PhotoRow, Store } from '../../store/store.js';
import type { MarkedPair } from '../../ml/training/triplets.js';
import { squaredDistance } from '../../ml/training/retrieval-metrics.js';

/** Why a mark is not used by the next training; null when it is. */
export function markUnusedReason(mark: MarkRow): string | null {
  const { query, marked } = mark;
  if (!query || !marked) return 'a photo is no longer in the library';
  if (query.classId === null || marked.classId === null) return 'a photo has no class';
  if (query.classId === marked.classId) return 'same class as the query';
  if (query.split === 'validation' && marked.split === 'validation') return 'both are validation photos';
  return null;
}

export function marksState(store: Store, libraryId: number, queryPhotoId?: number): MarksState {
  const marks = store.marks;
  const all = marks.all(libraryId);
  const unused = new Map<string, number>();
  let standIn = 0;
  for (const mark of all) {
    const reason = markUnusedReason(mark);
    if (reason) unused.set(reason, (unused.get(reason) ?? 0) + 1);
    else if (mark.query!.split === 'validation' || mark.marked!.split === 'validation') standIn++;
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
    standIn,
    unused: [...unused].map(([reason, count]) => ({ reason, count })),
  };
}

/** Marks (or unmarks) `photoId` as not similar to `queryPhotoId`; both must be photos of the library. */
export function markNotSimilar(store: Store, libraryId: number, change: { queryPhotoId: unknown; photoId: unknown; marked: unknown }): MarksState {
  if (typeof change?.marked !== 'boolean') throw invalidInput('say whether to mark or unmark (marked: true or false)');
  const query = requirePhoto(store, libraryId, change.queryPhotoId);
  const photo = requirePhoto(store, libraryId, change.photoId);
  if (query.id === photo.id) throw invalidInput(`${query.relPath}: a photo cannot be marked as not similar to itself`);
  const marks = store.marks;
  if (change.marked) marks.add(libraryId, query.relPath, photo.relPath);
  else marks.remove(libraryId, query.relPath, photo.relPath);
  return marksState(store, libraryId, query.id);
}

/**
 * The marks the training uses, as pairs of positions in its training photos (those with features,
 * in the order training reads them; `trainVectors` are their features, in that order). A mark with
 * a validation photo becomes its training photo against the stand-in for the validation one. A
 * usable mark whose photo has no features, or whose query would have no other photo of its class
 * to be the positive, is left out.
 */
export function markedPairsForTraining(store: Store, libraryId: number, trainPhotos: PhotoRow[], trainVectors: Float32Array[]): MarkedPair[] {
  const position = new Map(trainPhotos.map((p, i) => [p.id, i]));
  const perClass = new Map<number, number>();
  for (const p of trainPhotos) if (p.classId !== null) perClass.set(p.classId, (perClass.get(p.classId) ?? 0) + 1);
  const pairs: MarkedPair[] = [];
  for (const mark of store.marks.all(libraryId)) {
    if (markUnusedReason(mark) !== null) continue;
    const [q, n] = [mark.query!, mark.marked!];
    const pair =
      q.split === 'validation'
        ? standInPair(position.get(n.id), q.classId!, trainPhotos, trainVectors)
        : n.split === 'validation'
          ? standInPair(position.get(q.id), n.classId!, trainPhotos, trainVectors)
          : { query: position.get(q.id), negative: position.get(n.id) };
    if (pair?.query === undefined || pair.negative === undefined) continue;
    if ((perClass.get(trainPhotos[pair.query].classId!) ?? 0) < 2) continue;
    pairs.push({ query: pair.query, negative: pair.negative });
  }
  return pairs;
}

/** The training photo at `training` against the training photo of `classId` nearest to it in features. */
function standInPair(training: number | undefined, classId: number, trainPhotos: PhotoRow[], vectors: Float32Array[]): { query: number; negative: number | undefined } | null {
  if (training === undefined) return null;
  let negative: number | undefined;
  let nearest = Infinity;
  trainPhotos.forEach((photo, i) => {
    if (photo.classId !== classId) return;
    const distance = squaredDistance(vectors[training], vectors[i]);
    if (distance < nearest) [negative, nearest] = [i, distance];
  });
  return { query: training, negative };
}

export function recordRunMarks(store: Store, runId: number, used: number): void {
  store.marks.setRunMarks(runId, used);
}

export function runMarks(store: Store, runId: number): number | null {
  return store.marks.runMarks(runId);
}

function requirePhoto(store: Store, libraryId: number, id: unknown): PhotoRow {
  const photo = Number.isInteger(id) ? store.photo(id as number) : null;
  if (!photo || photo.libraryId !== libraryId) throw notFound(`no photo ${String(id)} in this library`);
  return photo;
}
