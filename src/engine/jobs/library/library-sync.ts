import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import type { LibrarySummary, Problem } from '../../../shared/api.js';
import { effectiveClass } from '../../library/label-rules.js';
import { hashPhoto, ImageError } from '../../library/photo-gate.js';
import { scanLibrary } from '../../library/scan.js';
import type { Store } from '../../store/store.js';
import { moveNotices, recoverMoves } from '../files/file-moves.js';
import type { JobContext } from '../job-context.js';
import { labelRules, labelledClassNames, rememberFolders } from '../files/label-changes.js';

export interface OpenedLibrary {
  libraryId: number;
  summary: LibrarySummary;
  sync: { added: number; changed: number; removed: number; unchanged: number };
  /** File moves found part way at this open and settled (see file-moves.ts), in words. */
  recovered: string[];
}

/** Scans the folder, hashes new and changed photos, and makes the store match it. */
export async function openLibrary(ctx: JobContext, root: string, options: { appFolders?: string[] } = {}): Promise<OpenedLibrary> {
  const { store } = ctx;
  // File moves a process left part way (killed, crashed) are settled before the folder is read.
  const known = await realpath(isAbsolute(root) ? root : resolve(root)).catch(() => null);
  const knownId = known === null ? undefined : store.libraryIdOf(known);
  const recovered = knownId === undefined ? [] : await recoverMoves(store, knownId);
  const scan = await scanLibrary(isAbsolute(root) ? root : resolve(root), { exclude: options.appFolders });
  const libraryId = store.upsertLibrary(scan.root);
  const knownPhotos = new Map(store.photos(libraryId).map((p) => [p.relPath, p]));
  const problems: Problem[] = [...scan.problems];
  const unreadable = [...scan.unreadable];
  const scanned = [];
  let done = 0;
  for (const file of scan.files) {
    const before = knownPhotos.get(file.relPath);
    let hash = before?.hash;
    if (!before || before.size !== file.size || before.mtimeMs !== file.mtimeMs) {
      try {
        hash = await hashPhoto(file.absPath, file.relPath);
      } catch (error) {
        problems.push({ path: file.relPath, reason: error instanceof ImageError ? error.reason : `cannot read (${(error as Error).message})` });
        unreadable.push(file.relPath);
        continue;
      }
    }
    scanned.push({ relPath: file.relPath, className: file.className, size: file.size, mtimeMs: file.mtimeMs, hash: hash! });
    if (++done % 200 === 0) ctx.emit?.({ type: 'progress', kind: 'scan', phase: 'Reading photos', done, total: scan.files.length, etaSeconds: null });
  }
  // Classes chosen in the app (excluded, merged, renamed folders; photos put in a class) apply on every scan.
  rememberFolders(store, libraryId, scan.classes);
  const rules = labelRules(store, libraryId);
  const labelled = scanned.map((photo) => ({ ...photo, className: effectiveClass(rules, photo.relPath, photo.className) }));
  const sync = store.syncLibrary(libraryId, labelledClassNames(store, libraryId, scan.classes), labelled, unreadable);
  store.replaceProblems(libraryId, 'scan', problems);
  for (const problem of scan.problems) ctx.emit?.({ type: 'problem', problem });
  const summary = librarySummary(store, libraryId);
  ctx.emit?.({ type: 'library', library: summary });
  return { libraryId, summary, sync, recovered };
}

export function librarySummary(store: Store, libraryId: number): LibrarySummary {
  const classes = store.classes(libraryId);
  const photoCount = store.countPhotos(libraryId);
  return {
    libraryId,
    root: store.libraryRoot(libraryId),
    photoCount,
    unlabelledCount: photoCount - classes.reduce((sum, c) => sum + c.photoCount, 0),
    classes,
    problems: store.problems(libraryId),
    moveNotices: moveNotices(store, libraryId),
  };
}
