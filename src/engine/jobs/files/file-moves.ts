/**
 * Batches of file moves through the journal (store/move-journal.ts): planned in full before the first
 * move, each step recorded as it completes, stoppable between two moves, undoable whole or what was
 * done of it, and after a crash settled at the next open so that every file is in exactly one place.
 */
import { rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiError, conflict } from '../../../shared/errors.js';
import { errorInWords } from '../../common/error-words.js';
import { makeFoldersInside, moveFileTo, settleMove, tempNameFor } from '../../library/move-files.js';
import { processAlive } from '../../store/job-lock.js';
import { thisMachine, type MoveJournal, type MoveBatch, type MoveKind, type MoveStep } from '../../store/move-journal.js';
import type { Store } from '../../store/store.js';

export interface MoveOptions {
  /** Asked before each move: true stops the batch there, with the journal consistent (shutdown). */
  shouldStop?: () => boolean;
  onProgress?: (done: number, total: number) => void;
}

/** Batches this process is moving now: any other unfinished one was left by a process that ended. */
const inFlight = new Set<number>();

const WHAT: Record<MoveKind, string> = { 'write-labels': 'writing labels to folders', 'move-out': 'moving photos out of the library' };
const UNDO_NAME: Record<MoveKind, string> = { 'write-labels': 'write of labels to folders', 'move-out': 'move of photos out of the library' };

/** Where each file's row follows it: a photo moved inside the library keeps its id, label, marks; one moved out is dropped by the next scan. */
function rowsFollow(store: Store, batch: MoveBatch, step: MoveStep, back: boolean): void {
  if (batch.kind !== 'write-labels' || step.photoId === null) return;
  const writes = store.labelWrites;
  if (back) writes.movePhoto(batch.libraryId, step.photoId, step.to, step.from, step.labelBefore);
  else writes.movePhoto(batch.libraryId, step.photoId, step.from, step.to, step.labelAfter);
}

/** A move out of the library may never land back in it, whatever its folder leads to by then. */
const forwardBounds = (batch: MoveBatch) => ({ fromRoot: batch.fromRoot, toRoot: batch.toRoot, toNotIn: batch.kind === 'move-out' ? batch.fromRoot : undefined });

const fromPath = (batch: MoveBatch, step: MoveStep) => join(batch.fromRoot, ...step.from.split('/'));
const toPath = (batch: MoveBatch, step: MoveStep) => join(batch.toRoot, ...step.to.split('/'));

/** Plans a batch in the journal (nothing moved yet) and makes its moves; returns how many moved. */
export async function runMoveBatch(
  store: Store,
  plan: { libraryId: number; kind: MoveKind; fromRoot: string; toRoot: string; createdFolders?: string[] },
  steps: Array<Omit<MoveStep, 'seq' | 'state'>>,
  options: MoveOptions = {},
): Promise<number> {
  const journal = store.moveJournal;
  refuseWhileMoving(journal, plan.libraryId);
  const id = journal.begin(plan, steps);
  inFlight.add(id);
  try {
    const batch = journal.batch(id)!;
    const planned = journal.steps(id);
    let done = 0;
    let current: MoveStep | null = null;
    try {
      for (const step of planned) {
        if (options.shouldStop?.()) break;
        current = step;
        for (const folder of await makeFoldersInside(batch.toRoot, parentOf(step.to))) journal.addCreatedFolder(id, folder);
        await moveFileTo(fromPath(batch, step), toPath(batch, step), forwardBounds(batch), tempNameFor(id, step.seq, false));
        journal.setStep(id, step.seq, 'done', () => rowsFollow(store, batch, step, false));
        done++;
        options.onProgress?.(done, planned.length);
      }
    } catch (error) {
      // Our own refusals leave the file where it was; anything else (the database, say) may have come after it moved.
      if (current && !(error instanceof ApiError)) await settleStep(store, journal, batch, current, false).catch(() => undefined);
      const notice = partly(batch, error, journal.steps(id, 'done'), planned.length, 'moved', 'Undo puts them back');
      // A folder made for a move that did not happen would stay behind empty (and read as a class).
      await removeEmptyFolders(journal.batch(id)!);
      journal.setState(id, 'interrupted', notice);
      throw withKind(error, notice);
    }
    if (done < planned.length) journal.setState(id, 'interrupted', `${capital(WHAT[batch.kind])} was stopped (the app was closing): ${done} of ${planned.length} photos were moved; Undo puts them back.`);
    else journal.setState(id, 'moved');
    return done;
  } finally {
    inFlight.delete(id);
  }
}

/** Undoes the library's last batch of a kind, finished or not (what of it was done); returns how many went back. */
export async function undoLastBatch(store: Store, libraryId: number, kind: MoveKind, options: MoveOptions = {}): Promise<number> {
  const journal = store.moveJournal;
  refuseWhileMoving(journal, libraryId);
  await recoverMoves(store, libraryId);
  const last = journal.last(libraryId, kind);
  if (!last || last.state === 'undone') throw conflict(`there is no ${UNDO_NAME[kind]} to undo`);
  journal.setState(last.id, 'undoing');
  inFlight.add(last.id);
  try {
    const toUndo = journal.steps(last.id, 'done').reverse();
    const bounds = { fromRoot: last.toRoot, toRoot: last.fromRoot };
    let undone = 0;
    let current: MoveStep | null = null;
    try {
      for (const step of toUndo) {
        if (options.shouldStop?.()) break;
        current = step;
        await makeFoldersInside(last.fromRoot, parentOf(step.from));
        await moveFileTo(toPath(last, step), fromPath(last, step), bounds, tempNameFor(last.id, step.seq, true));
        journal.setStep(last.id, step.seq, 'undone', () => rowsFollow(store, last, step, true));
        undone++;
        options.onProgress?.(undone, toUndo.length);
      }
    } catch (error) {
      if (current && !(error instanceof ApiError)) await settleStep(store, journal, last, current, true).catch(() => undefined);
      const notice = partly(last, error, journal.steps(last.id, 'undone'), toUndo.length, 'put back', 'Undo again puts back the rest');
      journal.setState(last.id, 'undo-interrupted', notice);
      throw withKind(error, notice);
    }
    if (undone < toUndo.length) {
      journal.setState(last.id, 'undo-interrupted', `Undo was stopped (the app was closing): ${undone} of ${toUndo.length} photos are back; Undo again puts back the rest.`);
    } else {
      await removeEmptyFolders(last);
      journal.setState(last.id, 'undone');
    }
    return undone;
  } finally {
    inFlight.delete(last.id);
  }
}

/**
 * Settles the batches a process was moving or undoing when it ended (crash, kill, power cut): each
 * planned step's file is found where it is (a half-made copy removed, a finished copy's original
 * removed), the journal made to match, and the batch left undoable. Returns what was done, in words.
 */
export async function recoverMoves(store: Store, libraryId: number): Promise<string[]> {
  const journal = store.moveJournal;
  const notices: string[] = [];
  for (const batch of journal.unfinished(libraryId)) {
    if (ownerIsMoving(batch)) continue;
    const undoing = batch.state === 'undoing';
    const open = undoing ? journal.steps(batch.id, 'done') : journal.steps(batch.id, 'planned');
    let finished = 0;
    let putBack = 0;
    const lost: string[] = [];
    for (const step of open) {
      const found = await settleStep(store, journal, batch, step, undoing);
      if (found.where === 'lost') lost.push(undoing ? step.to : step.from);
      if (found.finished) finished++;
      if (found.tempRemoved) putBack++;
    }
    const total = journal.steps(batch.id).length;
    const inFlightWords = [finished ? `${finished} being moved then ${finished === 1 ? 'was' : 'were'} finished` : '', putBack ? `${putBack} half-copied ${putBack === 1 ? 'copy was' : 'copies were'} removed` : '']
      .filter(Boolean)
      .join(', ');
    const lostWords = lost.length ? ` ${lost.length} could not be found at either end: ${names(lost)}.` : '';
    const stopped = `Lookalike ended while ${undoing ? `undoing the ${UNDO_NAME[batch.kind]}` : WHAT[batch.kind]} (started ${batch.startedAt} UTC)`;
    if (undoing) {
      const left = journal.steps(batch.id, 'done').length;
      if (left === 0) {
        await removeEmptyFolders(batch);
        journal.setState(batch.id, 'undone', `${stopped}; it was finished: every photo is back${inFlightWords ? ` (${inFlightWords})` : ''}.${lostWords}`);
      } else {
        journal.setState(batch.id, 'undo-interrupted', `${stopped}: ${journal.steps(batch.id, 'undone').length} photos are back, ${left} not yet${inFlightWords ? ` (${inFlightWords})` : ''}; Undo again puts back the rest.${lostWords}`);
      }
    } else {
      const moved = journal.steps(batch.id, 'done').length;
      const rest = total - moved - lost.length > 0 ? `, the other ${total - moved - lost.length} were left where they were` : '';
      journal.setState(batch.id, 'interrupted', `${stopped}: ${moved} of ${total} photos had been moved${inFlightWords ? ` (${inFlightWords})` : ''}${rest}; Undo puts the moved ones back.${lostWords}`);
    }
    notices.push(journal.batch(batch.id)!.notice!);
  }
  return notices;
}

/** Finds where a step's file is (see settleMove) and makes the journal, and the rows, say so. */
async function settleStep(store: Store, journal: MoveJournal, batch: MoveBatch, step: MoveStep, undoing: boolean) {
  const [from, to] = undoing ? [toPath(batch, step), fromPath(batch, step)] : [fromPath(batch, step), toPath(batch, step)];
  const found = await settleMove(from, to, join(to, '..', tempNameFor(batch.id, step.seq, undoing)), step.size);
  if (found.where === 'at-to') journal.setStep(batch.id, step.seq, undoing ? 'undone' : 'done', () => rowsFollow(store, batch, step, undoing));
  return found;
}

/** The notice of each kind's last batch, when a stop or a recovery left one (it stays until the next batch of that kind), for the library view. */
export function moveNotices(store: Store, libraryId: number): string[] {
  const journal = store.moveJournal;
  return (['write-labels', 'move-out'] as const)
    .map((kind) => journal.last(libraryId, kind))
    .filter((b): b is MoveBatch => b !== null && b.state !== 'moving' && b.state !== 'undoing' && b.notice !== null)
    .map((b) => b.notice!);
}

/** Two batches at once on one library would each think the other's half-done files are theirs. */
function refuseWhileMoving(journal: MoveJournal, libraryId: number): void {
  const busy = journal.unfinished(libraryId).find(ownerIsMoving);
  if (busy) throw conflict(`photos of this library are being moved now (${WHAT[busy.kind]}, process ${busy.ownerPid}); wait for it to finish`);
}

/** Is the batch's process still at it (this process: only while it runs it)? */
function ownerIsMoving(batch: MoveBatch): boolean {
  const here = thisMachine();
  if (batch.ownerPid === process.pid && batch.ownerHost === here) return inFlight.has(batch.id);
  return batch.ownerHost === here && processAlive(batch.ownerPid);
}

/** Folders a batch made, removed (deepest first) when its undo left them empty; rmdir refuses any with something in it. */
async function removeEmptyFolders(batch: MoveBatch): Promise<void> {
  for (const folder of [...batch.createdFolders].reverse()) await rmdir(join(batch.toRoot, ...folder.split('/'))).catch(() => undefined);
}

/** The notice of a batch that stopped at an error: what was done (counts and names) and how to go back. */
function partly(batch: MoveBatch, error: unknown, done: MoveStep[], total: number, verb: string, remedy: string): string {
  const reason = errorInWords(error);
  if (done.length === 0) return `${reason} (nothing was ${verb})`;
  return `${reason} (${done.length} of ${total} photos were ${verb} before this: ${names(done.map((s) => s.from))}; ${remedy})`;
}

const names = (paths: string[]) => (paths.length <= 5 ? paths.join(', ') : `${paths.slice(0, 5).join(', ')} and ${paths.length - 5} more`);

const withKind = (error: unknown, message: string) => new ApiError(error instanceof ApiError ? error.kind : 'failed', message);

const parentOf = (relPath: string) => relPath.split('/').slice(0, -1).join('/');

const capital = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);
