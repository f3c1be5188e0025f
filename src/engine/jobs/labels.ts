import type { LabelChange, LabelsState } from '../../shared/api.js';
import { conflict, invalidInput, notFound } from '../../shared/errors.js';
import { checkClassName, classNames, effectiveClass, folderClass, type LabelRules } from '../library/labels.js';
import { LabelStore, type RuleEdit } from '../store/labels.js';
import type { Store } from '../store/store.js';
import { lastLabelWrite } from './write-labels.js';

/** Most photos one change may name (a selection, not a library). */
export const MAX_LABELLED_PHOTOS = 20_000;

/** The class rules of a library, for a scan to apply (see pipeline's openLibrary). */
export function labelRules(store: Store, libraryId: number): LabelRules {
  return new LabelStore(store.db).rules(libraryId);
}

export function rememberFolders(store: Store, libraryId: number, folders: string[]): void {
  new LabelStore(store.db).setFolders(libraryId, folders);
}

/** The class names a scan should keep (empty folders included), under the rules. */
export function labelledClassNames(store: Store, libraryId: number, folders: string[]): string[] {
  return classNames(labelRules(store, libraryId), folders);
}

export function labelsState(store: Store, libraryId: number): LabelsState {
  const labels = new LabelStore(store.db);
  const rules = labels.rules(libraryId);
  const counts = labels.folderCounts(libraryId);
  return {
    folders: labels.folders(libraryId).map((folder) => ({ folder, className: folderClass(rules, folder), photoCount: counts.get(folder) ?? 0 })),
    photoLabels: labels.photoLabelCount(libraryId),
    lastChange: labels.lastChange(libraryId),
    lastWrite: lastLabelWrite(store, libraryId),
  };
}

/** Applies one change to the rules and to every photo's class at once (one transaction); the folders are untouched. */
export function changeLabels(store: Store, libraryId: number, change: LabelChange): void {
  const labels = new LabelStore(store.db);
  const rules = labels.rules(libraryId);
  const folders = labels.folders(libraryId);
  const { description, edits } = planChange(store, libraryId, rules, folders, change);
  store.db.transaction(() => {
    labels.change(libraryId, description, edits);
    relabel(store, libraryId);
  })();
}

/** Undoes the last change; refused when there is none. */
export function undoLabels(store: Store, libraryId: number): string {
  return store.db.transaction(() => {
    const undone = new LabelStore(store.db).undo(libraryId);
    if (undone === null) throw conflict('there is no label change to undo');
    relabel(store, libraryId);
    return undone;
  })();
}

/** Every photo's stored class made to follow the rules; a photo whose class changes gets a new split. */
export function relabel(store: Store, libraryId: number): void {
  const labels = new LabelStore(store.db);
  const rules = labels.rules(libraryId);
  const photos = store.photos(libraryId).map((p) => ({ relPath: p.relPath, className: effectiveClass(rules, p.relPath), size: p.size, mtimeMs: p.mtimeMs, hash: p.hash }));
  store.syncLibrary(libraryId, classNames(rules, labels.folders(libraryId)), photos);
}

function planChange(store: Store, libraryId: number, rules: LabelRules, folders: string[], change: LabelChange): { description: string; edits: RuleEdit[] } {
  const requireFolder = (folder: unknown): string => {
    if (typeof folder !== 'string' || !folders.includes(folder)) throw notFound(`no folder "${String(folder)}" in this library`);
    return folder;
  };
  const existing = new Set(store.classes(libraryId).map((c) => c.name));
  const requireClass = (name: unknown): string => {
    const checked = checkClassName(name);
    if (!existing.has(checked)) throw notFound(`no class "${checked}" in this library`);
    return checked;
  };
  /** Every folder and photo now in class `from`, moved to `to` (a folder whose own name is `to` just drops its rule). */
  const moveClass = (from: string, to: string): RuleEdit[] => [
    ...folders.filter((f) => folderClass(rules, f) === from).map((folder): RuleEdit => ({ kind: 'folder', folder, className: folder === to ? undefined : to })),
    ...[...rules.photos].filter(([, name]) => name === from).map(([relPath]): RuleEdit => ({ kind: 'photo', relPath, className: to })),
  ];
  switch (change?.kind) {
    case 'exclude-folder': {
      const folder = requireFolder(change.folder);
      return { description: `Excluded folder "${folder}"`, edits: [{ kind: 'folder', folder, className: null }] };
    }
    case 'include-folder': {
      const folder = requireFolder(change.folder);
      return { description: `Brought back folder "${folder}"`, edits: [{ kind: 'folder', folder, className: undefined }] };
    }
    case 'rename-class': {
      const from = requireClass(change.from);
      const to = checkClassName(change.to);
      if (to === from) throw invalidInput(`the class is already called "${to}"`);
      if (existing.has(to)) throw invalidInput(`a class "${to}" exists already: merge "${from}" into it instead`);
      return { description: `Renamed "${from}" to "${to}"`, edits: moveClass(from, to) };
    }
    case 'merge-classes': {
      const from = requireClass(change.from);
      const into = requireClass(change.into);
      if (from === into) throw invalidInput(`cannot merge "${from}" into itself`);
      return { description: `Merged "${from}" into "${into}"`, edits: moveClass(from, into) };
    }
    case 'assign-photos':
    case 'unassign-photos': {
      const ids = change.photoIds;
      if (!Array.isArray(ids) || ids.length === 0) throw invalidInput('select one or more photos first');
      if (ids.length > MAX_LABELLED_PHOTOS) throw invalidInput(`at most ${MAX_LABELLED_PHOTOS} photos per change (${ids.length} selected)`);
      const paths = ids.map((id) => {
        const photo = Number.isInteger(id) ? store.photo(id) : null;
        if (!photo || photo.libraryId !== libraryId) throw notFound(`no photo ${String(id)} in this library`);
        return photo.relPath;
      });
      const count = `${paths.length} photo${paths.length === 1 ? '' : 's'}`;
      if (change.kind === 'unassign-photos') {
        return { description: `Gave ${count} back to their folders`, edits: paths.map((relPath) => ({ kind: 'photo', relPath, className: undefined })) };
      }
      const name = checkClassName(change.className);
      return {
        description: `Put ${count} in ${existing.has(name) ? '' : 'new class '}"${name}"`,
        edits: paths.map((relPath) => ({ kind: 'photo', relPath, className: name })),
      };
    }
    default:
      throw invalidInput(`unknown label change "${String((change as { kind?: unknown } | null)?.kind)}"`);
  }
}

/** The classes a run trains on (those with photos), kept with the run: labels may change later. */
export function recordRunClasses(store: Store, libraryId: number, runId: number): void {
  const classes = store.classes(libraryId).filter((c) => c.photoCount > 0).map((c) => ({ name: c.name, photoCount: c.photoCount }));
  new LabelStore(store.db).setRunClasses(runId, classes);
}

export function runClasses(store: Store, runId: number): Array<{ name: string; photoCount: number }> | null {
  return new LabelStore(store.db).runClasses(runId);
}
