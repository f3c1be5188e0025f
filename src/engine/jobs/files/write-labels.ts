/**
 * "Write labels to folders": the photos whose class is not their first-level folder are moved (never
 * copied, never overwriting) into a folder named after their class inside the library, exactly as a
 * preview listed; each write goes through the move journal (file-moves.ts) and the last one can be undone. The photos' rows follow their
 * files in the same step, so ids, splits, features and embeddings stay, and a rescan finds them as they are.
 */
import { createHash } from 'node:crypto';
import { lstat, realpath, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { LabelMove, LabelWritePreview, LabelsState } from '../../../shared/api.js';
import { conflict, invalidInput, notFound } from '../../../shared/errors.js';
import { folderClass, folderOf } from '../../library/label-rules.js';
import { runMoveBatch, undoLastBatch, type MoveOptions } from './file-moves.js';
import type { Store } from '../../store/store.js';

/** Every move a write would make now; nothing is touched. */
export async function previewLabelWrite(store: Store, libraryId: number): Promise<LabelWritePreview> {
  const root = await realpath(store.libraryRoot(libraryId));
  const planned = new Set<string>();
  const folders = new Map<string, { exists: boolean; dev: number }>();
  const moves: LabelMove[] = [];
  for (const photo of store.photos(libraryId)) {
    const className = photo.className;
    if (className === null || folderOf(photo.relPath) === className) continue;
    let folder = folders.get(className);
    if (!folder) {
      folder = await classFolder(root, className);
      folders.set(className, folder);
    }
    const source = await lstat(join(root, photo.relPath)).catch(() => {
      throw notFound(`${photo.relPath}: no longer in the library folder; let the library be read again, then preview again`);
    });
    const to = await freeName(root, className, basename(photo.relPath), planned);
    moves.push({ photoId: photo.id, from: photo.relPath, to, className, renamed: basename(to) !== basename(photo.relPath), copy: !source.isSymbolicLink() && source.dev !== folder.dev });
  }
  moves.sort((a, b) => a.to.localeCompare(b.to));
  const newFolders = [...folders].filter(([, f]) => !f.exists).map(([name]) => name).sort();
  return { moves, newFolders, fingerprint: fingerprint(moves, newFolders) };
}

/**
 * Makes the moves of the preview named by `expected` (refused when the library changed since), through
 * the move journal: the whole plan is stored before the first file moves. Returns how many moved.
 */
export async function writeLabels(store: Store, libraryId: number, expected: string, options: MoveOptions = {}): Promise<number> {
  const plan = await previewLabelWrite(store, libraryId);
  if (plan.moves.length === 0) throw invalidInput('every labelled photo is in its class folder already: there is nothing to move');
  if (plan.fingerprint !== expected) throw conflict('the labels or the folder changed since the preview: look at the new preview before moving anything');
  const root = await realpath(store.libraryRoot(libraryId));
  const rules = store.labels.rules(libraryId);
  const steps = await Promise.all(
    plan.moves.map(async (move) => ({
      photoId: move.photoId,
      from: move.from,
      to: move.to,
      size: (await lstat(join(root, move.from))).size,
      labelBefore: rules.photos.get(move.from) ?? null,
      // The class stays the same: the photo keeps a label of its own only where its new folder says otherwise.
      labelAfter: folderClass(rules, move.className) === move.className ? null : move.className,
    })),
  );
  store.labelWrites.forgetLabelUndo(libraryId);
  return runMoveBatch(store, { libraryId, kind: 'write-labels', fromRoot: root, toRoot: root }, steps, options);
}

/** Moves the files of the last write back (newest first), never overwriting, even when that write was interrupted; returns how many went back. */
export async function undoLabelWrite(store: Store, libraryId: number, options: MoveOptions = {}): Promise<number> {
  return undoLastBatch(store, libraryId, 'write-labels', options);
}

/** The last write that can be undone (finished or interrupted), for the labels panel. */
export function lastLabelWrite(store: Store, libraryId: number): LabelsState['lastWrite'] {
  const journal = store.moveJournal;
  const last = journal.last(libraryId, 'write-labels');
  if (!last || last.state === 'undone') return null;
  const interrupted = last.state !== 'moved';
  return { id: last.id, writtenAt: last.startedAt, moved: journal.steps(last.id, 'done').length, notice: interrupted ? last.notice : null };
}

/** A class name as a folder directly in the root: refused when it cannot be one, or is a link or a file there. */
async function classFolder(root: string, className: string): Promise<{ exists: boolean; dev: number }> {
  const unfit = className === '.' || className === '..' ? 'it is a special name' : /[/\\]/.test(className) ? 'it has a slash' : null;
  if (unfit) throw invalidInput(`class "${className}" cannot be a folder name (${unfit}); rename the class first`);
  const path = join(root, className);
  const found = await lstat(path).catch(() => null);
  if (!found) return { exists: false, dev: (await stat(root)).dev };
  if (!found.isDirectory()) throw invalidInput(`${path}: is ${found.isSymbolicLink() ? 'a link' : 'a file'}, not a folder; class "${className}" cannot be written there`);
  return { exists: true, dev: found.dev };
}

/** `name` in the class folder, or "name (2)"… when a file there or another planned move has it. */
async function freeName(root: string, className: string, name: string, planned: Set<string>): Promise<string> {
  const stem = basename(name, extname(name));
  for (let n = 1; n < 10_000; n++) {
    const relPath = `${className}/${n === 1 ? name : `${stem} (${n})${extname(name)}`}`;
    if (planned.has(relPath) || (await lstat(join(root, relPath)).catch(() => null))) continue;
    planned.add(relPath);
    return relPath;
  }
  throw conflict(`${className}: too many files named like ${name}`);
}

function fingerprint(moves: LabelMove[], newFolders: string[]): string {
  return createHash('sha256').update(JSON.stringify({ moves, newFolders })).digest('hex').slice(0, 16);
}
