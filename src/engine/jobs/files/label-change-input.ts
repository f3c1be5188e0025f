import type { LabelChange } from '../../../shared/api.js';
import { describeValue } from '../../../shared/describe-value.js';
import { invalidInput } from '../../../shared/errors.js';
import { MAX_LABELLED_PHOTOS } from '../../../shared/settings.js';

type Fields = Record<string, unknown>;

/**
 * A label change as it arrives from a transport (JSON: anything), checked at the door: its kind
 * known, each field of the type it must have, or refused (400) naming the field and what came
 * instead. Whether the folder, class or photos exist is for the change itself to say (404).
 */
export function checkLabelChange(raw: unknown): LabelChange {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidInput(`a label change must be an object with a "kind" (got ${describeValue(raw)})`);
  const change = raw as Fields;
  switch (change.kind) {
    case 'exclude-folder':
    case 'include-folder':
      return { kind: change.kind, folder: text(change, 'folder', 'the folder') };
    case 'rename-class':
      return { kind: change.kind, from: text(change, 'from', 'the class to rename'), to: text(change, 'to', 'the new class name') };
    case 'merge-classes':
      return { kind: change.kind, from: text(change, 'from', 'the class to merge'), into: text(change, 'into', 'the class to merge into') };
    case 'assign-photos':
      return { kind: change.kind, photoIds: photoIds(change), className: text(change, 'className', 'the class name') };
    case 'unassign-photos':
      return { kind: change.kind, photoIds: photoIds(change) };
    default:
      throw invalidInput(`unknown label change "${typeof change.kind === 'string' ? change.kind.slice(0, 40) : describeValue(change.kind)}"`);
  }
}

/** The fingerprint of a write's preview, as it arrives. */
export function checkFingerprint(raw: unknown): string {
  const fingerprint = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Fields).fingerprint : undefined;
  if (typeof fingerprint !== 'string' || fingerprint === '') {
    throw invalidInput(`writing labels to folders needs the fingerprint of the preview it follows (got ${describeValue(fingerprint)}); preview first`);
  }
  return fingerprint;
}

function text(change: Fields, field: string, what: string): string {
  const value = change[field];
  if (typeof value !== 'string') throw invalidInput(`${what} ("${field}" of the ${String(change.kind)} change) must be text (got ${describeValue(value)})`);
  return value;
}

function photoIds(change: Fields): number[] {
  const ids = change.photoIds;
  if (!Array.isArray(ids)) throw invalidInput(`"photoIds" of the ${String(change.kind)} change must be a list of photo ids (got ${describeValue(ids)})`);
  if (ids.length === 0) throw invalidInput('select one or more photos first');
  if (ids.length > MAX_LABELLED_PHOTOS) throw invalidInput(`at most ${MAX_LABELLED_PHOTOS} photos per change (${ids.length} selected)`);
  const wrong = ids.findIndex((id) => !Number.isSafeInteger(id) || id <= 0);
  if (wrong >= 0) throw invalidInput(`"photoIds" must hold photo ids (whole numbers); item ${wrong + 1} is ${typeof ids[wrong] === 'number' ? String(ids[wrong]) : describeValue(ids[wrong])}`);
  return ids as number[];
}
