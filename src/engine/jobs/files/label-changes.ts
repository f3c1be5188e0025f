import type { LabelChange, LabelsState } from '../../../shared/api.js';
import { checkClassName } from '../../../shared/class-names.js';
import { conflict, invalidInput, notFound } from '../../../shared/errors.js';
import { MAX_LABEL_UNDO_STEPS } from '../../../shared/settings.js';
import { classNames, effectiveClass, folderClass, type LabelRules } from '../../library/label-rules.js';
import { checkLabelChange } from './label-change-input.js';
import type { RuleEdit } from '../../store/labels.js';
import type { Store } from '../../store/store.js';
import { lastLabelWrite } from './write-labels.js';

/** The class rules of a library, for a scan to apply (see pipeline's openLibrary). */
export function labelRules(store: Store, libraryId: number): LabelRules {
  return store.labels.rules(libraryId);
}

export function rememberFolders(store: Store, libraryId: number, folders: string[]): void {
  store.labels.setFolders(libraryId, folders);
}

/** The class names a scan should keep (empty folders included), under the rules. */
export function labelledClassNames(store: Store, libraryId: number, folders: string[]): string[] {
  return classNames(labelRules(store, libraryId), folders);
}

export function labelsState(store: Store, libraryId: number): LabelsState {
  const labels = store.labels;
  const rules = labels.rules(libraryId);
  const counts = labels.folderCounts(libraryId);
  const undoSteps = labels.undoSteps(libraryId);
  return {
    folders: labels.folders(libraryId).map((folder) => ({ folder, className: folderClass(rules, folder), photoCount: counts.get(folder) ?? 0 })),
    photoLabels: labels.photoLabelCount(libraryId),
    lastChange: undoSteps[0] ?? null,
    undoSteps,
    lastWrite: lastLabelWrite(store, libraryId),
  };
}

/**
 * Applies one change to the rules and to every photo's class at once (one transaction); the folders
 * are untouched. The change comes as sent (checked here, the door of both transports).
 */
export function changeLabels(store: Store, libraryId: number, sent: unknown): void {
  const change = checkLabelChange(sent);
  const labels = store.labels;
  const rules = labels.rules(libraryId);
  const folders = labels.folders(libraryId);
  const { description, edits } = planChange(store, libraryId, rules, folders, change);
  store.transaction(() => {
    labels.change(libraryId, description, edits, MAX_LABEL_UNDO_STEPS);
    relabel(store, libraryId);
  });
}

/** Undoes the newest change that is not undone yet (several steps back, one per call); refused when there is none. */
export function undoLabels(store: Store, libraryId: number): string {
  return store.transaction(() => {
    const undone = store.labels.undo(libraryId);
    if (undone === null) throw conflict('there is no label change to undo');
    relabel(store, libraryId);
    return undone;
  });
}

/** Every photo's stored class made to follow the rules; a photo whose class changes gets a new split. */
export function relabel(store: Store, libraryId: number): void {
  const labels = store.labels;
  const rules = labels.rules(libraryId);
  const photos = store.photos(libraryId).map((p) => ({ relPath: p.relPath, className: effectiveClass(rules, p.relPath), size: p.size, mtimeMs: p.mtimeMs, hash: p.hash }));
  store.syncLibrary(libraryId, classNames(rules, labels.folders(libraryId)), photos);
}

function planChange(store: Store, libraryId: number, rules: LabelRules, folders: string[], change: LabelChange): { description: string; edits: RuleEdit[] } {
  const requireFolder = (folder: string): string => {
    if (!folders.includes(folder)) throw notFound(`no folder "${folder}" in this library`);
    return folder;
  };
  const existing = new Set(store.classes(libraryId).map((c) => c.name));
  /** A class that exists (its name may come from a folder, so only new names are held to the naming rule). */
  const requireClass = (name: string): string => {
    const trimmed = name.trim();
    if (!existing.has(trimmed)) throw notFound(`no class "${trimmed}" in this library`);
    return trimmed;
  };
  /** Every folder and photo now in class `from`, moved to `to` (a folder whose own name is `to` just drops its rule). */
  const moveClass = (from: string, to: string): RuleEdit[] => [
    ...folders.filter((f) => folderClass(rules, f) === from).map((folder): RuleEdit => ({ kind: 'folder', folder, className: folder === to ? undefined : to })),
    ...[...rules.photos].filter(([, name]) => name === from).map(([relPath]): RuleEdit => ({ kind: 'photo', relPath, className: to })),
  ];
  switch (change.kind) {
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
      const paths = change.photoIds.map((id) => {
        const photo = store.photo(id);
        if (!photo || photo.libraryId !== libraryId) throw notFound(`no photo ${id} in this library`);
        return photo.relPath;
      });
      const count = `${paths.length} photo${paths.length === 1 ? '' : 's'}`;
      if (change.kind === 'unassign-photos') {
        return { description: `Gave ${count} back to their folders`, edits: paths.map((relPath) => ({ kind: 'photo', relPath, className: undefined })) };
      }
      // A class that exists may keep a name its folder gave it; only a new class is held to the naming rule.
      const name = existing.has(change.className.trim()) ? change.className.trim() : checkClassName(change.className);
      return {
        description: `Put ${count} in ${existing.has(name) ? '' : 'new class '}"${name}"`,
        edits: paths.map((relPath) => ({ kind: 'photo', relPath, className: name })),
      };
    }
  }
}

/** The classes a run trains on (those with photos), kept with the run: labels may change later. */
export function recordRunClasses(store: Store, libraryId: number, runId: number): void {
  const classes = store.classes(libraryId).filter((c) => c.photoCount > 0).map((c) => ({ name: c.name, photoCount: c.photoCount }));
  store.labels.setRunClasses(runId, classes);
}

export function runClasses(store: Store, runId: number): Array<{ name: string; photoCount: number }> | null {
  return store.labels.runClasses(runId);
}
