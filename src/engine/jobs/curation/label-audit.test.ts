import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError } from '../../../shared/errors.js';
import { resolveSettings } from '../../../shared/settings.js';
import { selectBackend } from '../../ml/runtime/compute-backend.js';
import { Store } from '../../store/store.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';
import { drawTestLibrary } from '../../testing/test-photos.js';
import { openLibrary } from '../library/library-sync.js';
import { auditLabels, confirmLabel, labelAuditState } from './label-audit.js';
import { changeLabels, undoLabels } from '../files/label-changes.js';

/** Drawn stripes put in the circles folder, drawn stars in the stripes folder: the two planted mistakes. */
const PLANTED = ['circles/stripes-03.jpg', 'stripes/stars-04.jpg'];
const SETTINGS = resolveSettings({ epochs: 2, batchSize: 16, tripletsPerEpoch: 96, seed: 5, dim: 32, features: 'final' });

let root: string;
let dbDir: string;
let dbPath: string;
let store: Store;
let libraryId: number;
const id = (path: string) => store.photoByPath(libraryId, path)!.id;

beforeAll(async () => {
  await selectBackend();
  root = await drawTestLibrary({ classes: ['circles', 'stripes', 'stars'], perClass: 9 });
  renameSync(join(root, 'stripes', 'stripes-03.jpg'), join(root, PLANTED[0]));
  renameSync(join(root, 'stars', 'stars-04.jpg'), join(root, PLANTED[1]));
  dbDir = mkdtempSync(join(tmpdir(), 'lookalike-audit-'));
  dbPath = join(dbDir, 'lookalike.db');
  store = Store.open(dbPath);
  ({ libraryId } = await openLibrary({ store }, root));
}, 120_000);

afterAll(() => {
  store?.close();
  rmSync(root, { recursive: true, force: true });
  rmSync(dbDir, { recursive: true, force: true });
});

expectNoTensorLeaks();

describe('find the mislabelled', () => {
  it('ranks the planted photos first, naming the class they came from and the neighbours that disagree', async () => {
    const progress: number[] = [];
    const { ranked } = await auditLabels({ store, emit: (e) => e.type === 'progress' && e.kind === 'audit' && progress.push(e.done) }, libraryId, { folds: 3, epochs: 2, settings: SETTINGS });
    expect(ranked).toHaveLength(27);
    expect(progress).toEqual([0, 1, 2, 3]);
    const audit = labelAuditState(store, libraryId);
    expect(audit).toMatchObject({ scored: 27, folds: 3, confirmed: 0 });
    expect(audit.suspects.slice(0, 2).map((s) => s.path).sort()).toEqual([...PLANTED].sort());
    const stripes = audit.suspects.find((s) => s.path === PLANTED[0])!;
    expect(stripes).toMatchObject({ photoId: id(PLANTED[0]), className: 'circles', suggestedClass: 'stripes' });
    expect(stripes.neighbours.length).toBeGreaterThan(0);
    expect(stripes.neighbours.every((n) => n.className !== 'circles' && n.photoId === id(n.path))).toBe(true);
    expect(audit.suspects.find((s) => s.path === PLANTED[1])).toMatchObject({ className: 'stripes', suggestedClass: 'stars' });
  }, 240_000);

  it('"this one is right" takes a photo off the list for good, kept in the database', () => {
    const after = confirmLabel(store, libraryId, id(PLANTED[0]));
    expect(after.confirmed).toBe(1);
    expect(after.suspects.map((s) => s.path)).not.toContain(PLANTED[0]);
    store.close();
    store = Store.open(dbPath);
    expect(labelAuditState(store, libraryId).suspects.map((s) => s.path)).not.toContain(PLANTED[0]);
    expect(labelAuditState(store, libraryId).suspects.map((s) => s.path)).toContain(PLANTED[1]);
  });

  it('a relabelled photo leaves the list, and comes back when the label change is undone', () => {
    expect(labelAuditState(store, libraryId).changedSince).toBe(0);
    changeLabels(store, libraryId, { kind: 'assign-photos', photoIds: [id(PLANTED[1])], className: 'stars' });
    expect(labelAuditState(store, libraryId).suspects.map((s) => s.path)).not.toContain(PLANTED[1]);
    expect(labelAuditState(store, libraryId).changedSince).toBe(1);
    undoLabels(store, libraryId);
    expect(labelAuditState(store, libraryId).suspects.map((s) => s.path)).toContain(PLANTED[1]);
    expect(labelAuditState(store, libraryId).changedSince).toBe(0);
  });

  it('refuses a photo of no library or without a class', () => {
    const kind = (call: () => unknown) => {
      try {
        call();
        return 'no error';
      } catch (error) {
        return error instanceof ApiError ? `${error.kind}: ${error.message}` : String(error);
      }
    };
    expect(kind(() => confirmLabel(store, libraryId, 99_999))).toBe('not-found: no photo 99999 in this library');
    changeLabels(store, libraryId, { kind: 'exclude-folder', folder: 'stars' });
    expect(kind(() => confirmLabel(store, libraryId, id('stars/stars-01.jpg')))).toBe('invalid-input: stars/stars-01.jpg has no class to confirm: give it one first');
    undoLabels(store, libraryId);
  });
});
