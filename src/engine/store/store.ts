import { copyFileSync, existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { DistanceProfile, Problem, RetrievalMetrics, RunInfo, RunStatus } from '../../shared/api.js';
import { dropMappedPages, openVectorIndex, type VectorIndex } from './search.js';
import { MIGRATIONS } from './migrations.js';
import { JobLock } from './job-lock.js';
import { LabelStore } from './labels.js';
import { MarkStore } from './marks.js';
import { LabelWriteStore } from './label-writes.js';
import { LabelAuditStore } from './label-audit.js';
import { RejectionStore } from './suggestion-rejections.js';
import { MapLayoutStore } from './map-layouts.js';
import { MoveJournal } from './move-journal.js';
import { RunRateStore } from './run-rates.js';
import { makePrivateFileSync, makePrivateFolderSync } from '../common/private-files.js';
import { userDataDir } from '../common/paths.js';
import { describeFileError } from '../common/error-words.js';

/** Marks a file as Lookalike's (PRAGMA application_id), so a foreign database is never touched. */
export const APPLICATION_ID = 0x4c4b4c4b; // "LKLK"

export class StoreError extends Error {
  override name = 'StoreError';
}

export interface PhotoRow {
  id: number;
  relPath: string;
  classId: number | null;
  className: string | null;
  size: number;
  mtimeMs: number;
  hash: string;
  split: 'train' | 'validation' | null;
}

export interface ScannedPhoto {
  relPath: string;
  className: string | null;
  size: number;
  mtimeMs: number;
  hash: string;
}

export interface ModelRow {
  id: number;
  libraryId: number;
  name: string;
  kind: 'baseline' | 'trained';
  backbone: string;
  backboneDim: number;
  dim: number;
  config: Record<string, unknown>;
  runId: number | null;
  metrics: RetrievalMetrics | null;
  createdAt: string;
  /** Why the model could not run at its last indexing (its backbone or weights unusable); null when it ran. */
  problem: string | null;
}

/** A run as stored: the API's RunInfo, plus its library; settings as saved (validated on the way in). */
export interface RunRow extends Omit<RunInfo, 'settings'> {
  libraryId: number;
  settings: Record<string, unknown>;
}

export interface Checkpoint {
  runId: number;
  epoch: number;
  state: Buffer;
}

export interface SyncResult {
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
}

/**
 * Feature and vector bytes a bulk pass reads or writes before the memory map is dropped. What stays
 * resident is about 1.3 times this once the map has been dropped once (store/mapped-pages.test.ts).
 */
export const MAPPED_BULK_BYTES = 16 * 2 ** 20;

/**
 * The only room that knows SQL is src/engine/store: this module, the modules of its members (labels,
 * marks, label writes, audits, rejections, map layouts, the move journal, the job lock) over the same
 * connection, and search.ts (with its worker) for the vector index it opens over the same file
 * (sqlite-vec tables). The connection is its own: callers group writes with transaction(fn).
 * Synchronous by design (better-sqlite3); writes grouped in transactions.
 */
export class Store {
  private readonly db: Database;
  private readonly vectorIndexes = new Map<number, VectorIndex>();
  private lock: JobLock | undefined;
  /** Bytes bulk reads and writes have passed through the memory map since it was last dropped. */
  private bulkBytes = 0;
  /** Labels chosen in the app: rules, folders, undo steps. */
  readonly labels: LabelStore;
  /** "Not similar to this query" marks. */
  readonly marks: MarkStore;
  /** Photos' rows following their files when labels are written to folders. */
  readonly labelWrites: LabelWriteStore;
  readonly labelAudits: LabelAuditStore;
  readonly suggestionRejections: RejectionStore;
  readonly mapLayouts: MapLayoutStore;
  /** The journal of file moves (write labels to folders, move photos out). */
  readonly moveJournal: MoveJournal;
  /** What each phase of a training run measured on this machine. */
  readonly runRates: RunRateStore;

  private constructor(
    db: Database,
    readonly path: string,
  ) {
    this.db = db;
    this.labels = new LabelStore(db);
    this.marks = new MarkStore(db);
    this.labelWrites = new LabelWriteStore(db);
    this.labelAudits = new LabelAuditStore(db);
    this.suggestionRejections = new RejectionStore(db);
    this.mapLayouts = new MapLayoutStore(db);
    this.moveJournal = new MoveJournal(db);
    this.runRates = new RunRateStore(db);
  }

  static open(path: string): Store {
    if (path !== ':memory:') {
      // Lookalike's own data folder is tightened if an older version left it open; a folder the person named is only created private.
      makePrivateFolderSync(dirname(path), { tighten: resolve(dirname(path)) === resolve(userDataDir()) });
      refuseForeignFile(path);
      // SQLite gives the -wal and -shm files the database file's mode, so they are private too.
      makePrivateFileSync(path);
    }
    let db: Database;
    try {
      db = new BetterSqlite3(path);
    } catch (error) {
      throw new StoreError(`${path}: cannot open the database (${describeFileError(error)})`);
    }
    const store = new Store(db, path);
    try {
      store.refuseForeignSchema();
      db.pragma('journal_mode = WAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      db.pragma('synchronous = NORMAL');
      store.migrate();
    } catch (error) {
      db.close();
      if (error instanceof StoreError) throw error;
      throw new StoreError(`${path}: cannot use the database (${describeFileError(error)}); left untouched`);
    }
    return store;
  }

  close(): void {
    if (this.db.open) {
      this.lock?.release();
      this.db.close();
    }
  }

  /**
   * Runs `work` in one transaction: all its writes or none (a throw rolls them back and is rethrown).
   * A transaction inside another becomes a savepoint of it.
   */
  transaction<T>(work: () => T): T {
    return this.db.transaction(work)();
  }

  /** This connection's handle on the database's one-job-at-a-time claim (see JobLock). */
  get jobLock(): JobLock {
    this.lock ??= new JobLock(this.db);
    return this.lock;
  }

  /**
   * A bulk pass (features of a whole library, its embeddings into an index) would otherwise keep
   * every page it touched mapped into this process; past MAPPED_BULK_BYTES the map is dropped.
   * Small reads (a search's query) seldom reach it, so a search keeps its mapped pages warm.
   */
  private passedThroughMap(bytes: number): void {
    this.bulkBytes += bytes;
    if (this.bulkBytes < MAPPED_BULK_BYTES || this.db.inTransaction) return;
    dropMappedPages(this.db);
    this.bulkBytes = 0;
  }

  /** Reads only: nothing is written to a file that turns out not to be ours. */
  private refuseForeignSchema(): void {
    const applicationId = this.db.pragma('application_id', { simple: true }) as number;
    const tables = (this.db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
    if (applicationId !== APPLICATION_ID && (applicationId !== 0 || tables > 0)) {
      throw new StoreError(`${this.path}: not a Lookalike database (it holds other tables); left untouched`);
    }
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new StoreError(`${this.path}: made by a newer Lookalike (schema ${version}, this one knows ${MIGRATIONS.length}); left untouched`);
    }
    if (version > 0 && version < MIGRATIONS.length && this.path !== ':memory:') {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      copyFileSync(this.path, `${this.path}.schema-v${version}.bak`);
    }
    for (let next = version; next < MIGRATIONS.length; next++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[next]);
        this.db.pragma(`application_id = ${APPLICATION_ID}`);
        this.db.pragma(`user_version = ${next + 1}`);
      })();
    }
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  // ---- libraries, classes, photos -------------------------------------------------------------

  upsertLibrary(root: string): number {
    this.db.prepare('INSERT INTO libraries(root) VALUES (?) ON CONFLICT(root) DO NOTHING').run(root);
    return (this.db.prepare('SELECT id FROM libraries WHERE root = ?').get(root) as { id: number }).id;
  }

  /** The library kept for this root (a real path), if there is one. */
  libraryIdOf(root: string): number | undefined {
    return (this.db.prepare('SELECT id FROM libraries WHERE root = ?').get(root) as { id: number } | undefined)?.id;
  }

  libraryRoot(libraryId: number): string {
    const row = this.db.prepare('SELECT root FROM libraries WHERE id = ?').get(libraryId) as { root: string } | undefined;
    if (!row) throw new StoreError(`no library ${libraryId}`);
    return row.root;
  }

  /** The library scanned last: the app reopens it at start. */
  recentLibraryRoot(): string | null {
    const row = this.db.prepare('SELECT root FROM libraries ORDER BY scanned_at DESC, id DESC LIMIT 1').get() as { root: string } | undefined;
    return row?.root ?? null;
  }

  /** Every library, with its root folder. */
  libraries(): Array<{ id: number; root: string }> {
    return this.db.prepare('SELECT id, root FROM libraries ORDER BY id').all() as Array<{ id: number; root: string }>;
  }

  /** Roots of libraries opened before, most recent first. */
  recentLibraryRoots(limit: number): string[] {
    const rows = this.db.prepare('SELECT root FROM libraries ORDER BY scanned_at DESC, id DESC LIMIT ?').all(limit) as Array<{ root: string }>;
    return rows.map((row) => row.root);
  }

  findLibrary(root: string): number | null {
    const row = this.db.prepare('SELECT id FROM libraries WHERE root = ?').get(root) as { id: number } | undefined;
    return row?.id ?? null;
  }

  classes(libraryId: number): Array<{ id: number; name: string; photoCount: number }> {
    return this.db
      .prepare(
        `SELECT c.id, c.name, count(p.id) AS photoCount FROM classes c LEFT JOIN photos p ON p.class_id = c.id
         WHERE c.library_id = ? GROUP BY c.id ORDER BY c.name`,
      )
      .all(libraryId) as Array<{ id: number; name: string; photoCount: number }>;
  }

  photos(libraryId: number, options: { classId?: number; offset?: number; limit?: number } = {}): PhotoRow[] {
    const where = options.classId === undefined ? '' : 'AND p.class_id = @classId';
    return this.db
      .prepare(
        `SELECT p.id, p.rel_path AS relPath, p.class_id AS classId, c.name AS className, p.size, p.mtime_ms AS mtimeMs,
                p.hash, p.split FROM photos p LEFT JOIN classes c ON c.id = p.class_id
         WHERE p.library_id = @libraryId ${where} ORDER BY p.rel_path LIMIT @limit OFFSET @offset`,
      )
      .all({ libraryId, classId: options.classId ?? null, limit: options.limit ?? -1, offset: options.offset ?? 0 }) as PhotoRow[];
  }

  countPhotos(libraryId: number, classId?: number): number {
    const row = (
      classId === undefined
        ? this.db.prepare('SELECT count(*) AS n FROM photos WHERE library_id = ?').get(libraryId)
        : this.db.prepare('SELECT count(*) AS n FROM photos WHERE library_id = ? AND class_id = ?').get(libraryId, classId)
    ) as { n: number };
    return row.n;
  }

  photo(photoId: number): (PhotoRow & { libraryId: number }) | null {
    const row = this.db
      .prepare(
        `SELECT p.id, p.library_id AS libraryId, p.rel_path AS relPath, p.class_id AS classId, c.name AS className,
                p.size, p.mtime_ms AS mtimeMs, p.hash, p.split FROM photos p LEFT JOIN classes c ON c.id = p.class_id WHERE p.id = ?`,
      )
      .get(photoId) as (PhotoRow & { libraryId: number }) | undefined;
    return row ?? null;
  }

  /** The photo of a library at a '/'-separated path relative to its root. */
  photoByPath(libraryId: number, relPath: string): PhotoRow | null {
    const row = this.db
      .prepare(
        `SELECT p.id, p.rel_path AS relPath, p.class_id AS classId, c.name AS className, p.size, p.mtime_ms AS mtimeMs,
                p.hash, p.split FROM photos p LEFT JOIN classes c ON c.id = p.class_id WHERE p.library_id = ? AND p.rel_path = ?`,
      )
      .get(libraryId, relPath) as PhotoRow | undefined;
    return row ?? null;
  }

  /**
   * Makes the stored library match a scan, in one transaction: new photos added, changed ones
   * (content hash) updated, moved ones relabelled, missing ones removed (with their embeddings)
   * unless `unreadable` names them or a folder above them ('/'-terminated): those stay as they were.
   */
  syncLibrary(libraryId: number, classNames: string[], scanned: ScannedPhoto[], unreadable: string[] = []): SyncResult {
    return this.db.transaction(() => {
      const insertClass = this.db.prepare('INSERT INTO classes(library_id, name) VALUES (?, ?) ON CONFLICT DO NOTHING');
      for (const name of classNames) insertClass.run(libraryId, name);
      const classIds = new Map(
        (this.db.prepare('SELECT id, name FROM classes WHERE library_id = ?').all(libraryId) as Array<{ id: number; name: string }>).map(
          (c) => [c.name, c.id],
        ),
      );
      const existing = new Map(this.photos(libraryId).map((p) => [p.relPath, p]));
      const insert = this.db.prepare(
        'INSERT INTO photos(library_id, rel_path, class_id, size, mtime_ms, hash) VALUES (?, ?, ?, ?, ?, ?)',
      );
      const update = this.db.prepare(
        'UPDATE photos SET class_id = ?, size = ?, mtime_ms = ?, hash = ?, split = CASE WHEN class_id IS ? THEN split ELSE NULL END WHERE id = ?',
      );
      const result: SyncResult = { added: 0, changed: 0, removed: 0, unchanged: 0 };
      for (const photo of scanned) {
        const classId = photo.className === null ? null : (classIds.get(photo.className) ?? null);
        const before = existing.get(photo.relPath);
        existing.delete(photo.relPath);
        if (!before) {
          insert.run(libraryId, photo.relPath, classId, photo.size, photo.mtimeMs, photo.hash);
          result.added++;
        } else if (before.hash !== photo.hash || before.classId !== classId || before.size !== photo.size || before.mtimeMs !== photo.mtimeMs) {
          update.run(classId, photo.size, photo.mtimeMs, photo.hash, classId, before.id);
          result.changed++;
        } else {
          result.unchanged++;
        }
      }
      const stillThere = (relPath: string) => unreadable.some((u) => (u.endsWith('/') ? relPath.startsWith(u) : relPath === u));
      const gone = [...existing.values()].filter((p) => !stillThere(p.relPath)).map((p) => p.id);
      this.removePhotos(gone);
      result.removed = gone.length;
      this.db.prepare(
        'DELETE FROM classes WHERE library_id = ? AND id NOT IN (SELECT DISTINCT class_id FROM photos WHERE class_id IS NOT NULL) AND name NOT IN (SELECT value FROM json_each(?))',
      ).run(libraryId, JSON.stringify(classNames));
      this.db.prepare("UPDATE libraries SET scanned_at = datetime('now') WHERE id = ?").run(libraryId);
      return result;
    })();
  }

  private removePhotos(photoIds: number[]): void {
    if (photoIds.length === 0) return;
    for (const model of this.db.prepare('SELECT id, dim FROM models').all() as Array<{ id: number; dim: number }>) {
      this.vectorIndex(model.id, model.dim).remove(photoIds);
    }
    const remove = this.db.prepare('DELETE FROM photos WHERE id = ?');
    for (const id of photoIds) remove.run(id);
  }

  /**
   * Assigns train/validation to labelled photos without one, keeping each class near the fraction.
   * Copies of one photo (same content hash) within a class always share a split, so no query finds
   * its own copy; a copy filed under another class is split with that class.
   */
  assignSplit(libraryId: number, validationFraction: number, choose: (classId: number, candidates: number[], wanted: number, hashes: string[]) => number[]): void {
    this.db.transaction(() => {
      const rows = this.db
        .prepare('SELECT id, class_id AS classId, hash, split FROM photos WHERE library_id = ? AND class_id IS NOT NULL ORDER BY id')
        .all(libraryId) as Array<{ id: number; classId: number; hash: string; split: string | null }>;
      const setSplit = this.db.prepare('UPDATE photos SET split = ? WHERE id = ?');
      const byClass = new Map<number, Map<string, typeof rows>>();
      for (const row of rows) {
        const copies = byClass.get(row.classId) ?? new Map<string, typeof rows>();
        byClass.set(row.classId, copies);
        copies.set(row.hash, [...(copies.get(row.hash) ?? []), row]);
      }
      for (const [classId, copiesByHash] of byClass) {
        const groups = [...copiesByHash.values()];
        const unassigned: typeof groups = [];
        for (const group of groups) {
          const decided = group.find((m) => m.split !== null)?.split;
          if (decided) for (const m of group.filter((m) => m.split === null)) setSplit.run(decided, m.id);
          else unassigned.push(group);
        }
        if (unassigned.length === 0) continue;
        const target = groups.length < 2 ? 0 : Math.max(1, Math.round(groups.length * validationFraction));
        const have = groups.filter((g) => g.some((m) => m.split === 'validation')).length;
        const wanted = Math.max(0, Math.min(unassigned.length, target - have));
        const validation = new Set(choose(classId, unassigned.map((g) => g[0].id), wanted, unassigned.map((g) => g[0].hash)));
        for (const group of unassigned) for (const m of group) setSplit.run(validation.has(group[0].id) ? 'validation' : 'train', m.id);
      }
    })();
  }

  // ---- problems ---------------------------------------------------------------------------------

  replaceProblems(libraryId: number, stage: string, problems: Problem[]): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM problems WHERE library_id = ? AND stage = ?').run(libraryId, stage);
      const insert = this.db.prepare('INSERT OR IGNORE INTO problems(library_id, stage, path, reason) VALUES (?, ?, ?, ?)');
      for (const problem of problems) insert.run(libraryId, stage, problem.path, problem.reason);
    })();
  }

  addProblem(libraryId: number, stage: string, problem: Problem): void {
    this.db.prepare('INSERT OR IGNORE INTO problems(library_id, stage, path, reason) VALUES (?, ?, ?, ?)').run(libraryId, stage, problem.path, problem.reason);
  }

  problems(libraryId: number): Problem[] {
    const rows = this.db.prepare('SELECT path, reason, stage FROM problems WHERE library_id = ? ORDER BY path').all(libraryId) as Array<Problem & { stage: string }>;
    return rows.map(({ stage, ...problem }) => (stage === 'features' ? { ...problem, unreadablePhoto: true } : problem));
  }

  // ---- backbone features (cached per content hash) ----------------------------------------------

  features(backbone: string, hashes: string[]): Map<string, Float32Array> {
    const get = this.db.prepare('SELECT vector FROM features WHERE backbone = ? AND hash = ?');
    const found = new Map<string, Float32Array>();
    let bytes = 0;
    for (const hash of hashes) {
      const row = get.get(backbone, hash) as { vector: Buffer } | undefined;
      if (row) found.set(hash, toFloat32(row.vector));
      bytes += row?.vector.byteLength ?? 0;
    }
    this.passedThroughMap(bytes);
    return found;
  }

  /** Which of these hashes have features cached for the backbone, without reading the vectors. */
  featureHashes(backbone: string, hashes: string[]): Set<string> {
    const has = this.db.prepare('SELECT 1 FROM features WHERE backbone = ? AND hash = ?').pluck();
    return new Set(hashes.filter((hash) => has.get(backbone, hash) !== undefined));
  }

  putFeatures(backbone: string, items: Array<{ hash: string; vector: Float32Array }>): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO features(backbone, hash, vector) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      for (const item of items) insert.run(backbone, item.hash, toBlob(item.vector));
    })();
    this.passedThroughMap(items.reduce((sum, item) => sum + item.vector.byteLength, 0));
  }

  /** Length of the feature vectors cached for a backbone, or null before any. */
  featureDim(backbone: string): number | null {
    const row = this.db.prepare('SELECT length(vector) / 4 AS dim FROM features WHERE backbone = ? LIMIT 1').get(backbone) as { dim: number } | undefined;
    return row?.dim ?? null;
  }

  /**
   * Content the backbone could not read, as seen on one file (`seenAs`: its path, size and mtime):
   * not tried again until that file changes, moves or reappears, or until cleared.
   */
  putFeatureFailure(backbone: string, hash: string, reason: string, seenAs: string): void {
    this.db.prepare('INSERT OR REPLACE INTO feature_failures(backbone, hash, reason, seen_as) VALUES (?, ?, ?, ?)').run(backbone, hash, reason, seenAs);
  }

  featureFailures(backbone: string): Map<string, { reason: string; seenAs: string }> {
    const rows = this.db.prepare('SELECT hash, reason, seen_as AS seenAs FROM feature_failures WHERE backbone = ?').all(backbone) as Array<{ hash: string; reason: string; seenAs: string }>;
    return new Map(rows.map((r) => [r.hash, { reason: r.reason, seenAs: r.seenAs }]));
  }

  /** Forgets the failures of these contents (an explicit "retry"). */
  clearFeatureFailures(backbone: string, hashes: string[]): void {
    const remove = this.db.prepare('DELETE FROM feature_failures WHERE backbone = ? AND hash = ?');
    this.db.transaction(() => {
      for (const hash of hashes) remove.run(backbone, hash);
    })();
  }

  /** Drops cached features (found damaged), so they are computed again. */
  deleteFeatures(backbone: string, hashes: string[]): void {
    const remove = this.db.prepare('DELETE FROM features WHERE backbone = ? AND hash = ?');
    this.db.transaction(() => {
      for (const hash of hashes) remove.run(backbone, hash);
    })();
  }

  /** The precision the backbone's cached features were computed at (null: not recorded, older caches). */
  featurePrecision(backbone: string): string | null {
    const row = this.db.prepare('SELECT precision FROM feature_precision WHERE backbone = ?').get(backbone) as { precision: string } | undefined;
    return row?.precision ?? null;
  }

  /**
   * From now on the backbone's features are computed at `precision`: those cached at another one are
   * dropped (with the failures seen at it), and the models on this backbone count every photo as not
   * embedded yet (indexing embeds them again from the new features; until then their vectors answer
   * as before). One transaction. Returns how many features were dropped. `keep`: only records the
   * precision (what was just computed is at it).
   */
  switchFeaturePrecision(backbone: string, precision: string, options: { keep?: boolean } = {}): number {
    return this.db.transaction(() => {
      const before = this.featurePrecision(backbone);
      let dropped = 0;
      if (!options.keep && before !== null && before !== precision) {
        dropped = this.db.prepare('DELETE FROM features WHERE backbone = ?').run(backbone).changes;
        this.db.prepare('DELETE FROM feature_failures WHERE backbone = ?').run(backbone);
        this.db.prepare('DELETE FROM embeddings WHERE model_id IN (SELECT id FROM models WHERE backbone = ?)').run(backbone);
      }
      this.db.prepare('INSERT OR REPLACE INTO feature_precision(backbone, precision) VALUES (?, ?)').run(backbone, precision);
      return dropped;
    })();
  }

  // ---- activations at a fine-tuning cut (cached per content hash) --------------------------------

  cutActivations(backbone: string, cut: string, hashes: string[]): Map<string, Buffer> {
    const get = this.db.prepare('SELECT data FROM cut_activations WHERE backbone = ? AND cut = ? AND hash = ?');
    const found = new Map<string, Buffer>();
    let bytes = 0;
    for (const hash of hashes) {
      const row = get.get(backbone, cut, hash) as { data: Buffer } | undefined;
      if (row) found.set(hash, row.data);
      bytes += row?.data.byteLength ?? 0;
    }
    this.passedThroughMap(bytes);
    return found;
  }

  /** Which of the library's contents already have activations at this cut (without reading them). */
  cutActivationHashes(backbone: string, cut: string): Set<string> {
    const rows = this.db.prepare('SELECT hash FROM cut_activations WHERE backbone = ? AND cut = ?').all(backbone, cut) as Array<{ hash: string }>;
    return new Set(rows.map((r) => r.hash));
  }

  putCutActivations(backbone: string, cut: string, items: Array<{ hash: string; data: Buffer }>): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO cut_activations(backbone, cut, hash, data) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const item of items) insert.run(backbone, cut, item.hash, item.data);
    })();
    this.passedThroughMap(items.reduce((sum, item) => sum + item.data.byteLength, 0));
  }

  // ---- models and their embeddings ---------------------------------------------------------------

  createModel(model: Omit<ModelRow, 'id' | 'createdAt' | 'metrics' | 'problem'> & { weights?: Buffer }): number {
    if (!(Number.isInteger(model.dim) && model.dim > 0)) throw new StoreError(`a model needs a positive embedding size (got ${model.dim})`);
    const info = this.db
      .prepare(
        `INSERT INTO models(library_id, name, kind, backbone, backbone_dim, dim, config, run_id, weights)
         VALUES (@libraryId, @name, @kind, @backbone, @backboneDim, @dim, @config, @runId, @weights)`,
      )
      .run({ ...model, config: JSON.stringify(model.config), weights: model.weights ?? null });
    return Number(info.lastInsertRowid);
  }

  models(libraryId: number): ModelRow[] {
    return (this.db.prepare('SELECT * FROM models WHERE library_id = ? ORDER BY id').all(libraryId) as RawModel[]).map(toModelRow);
  }

  model(modelId: number): ModelRow | null {
    const row = this.db.prepare('SELECT * FROM models WHERE id = ?').get(modelId) as RawModel | undefined;
    return row ? toModelRow(row) : null;
  }

  modelWeights(modelId: number): Buffer | null {
    const row = this.db.prepare('SELECT weights FROM models WHERE id = ?').get(modelId) as { weights: Buffer | null } | undefined;
    return row?.weights ?? null;
  }

  /** What distances mean for a model, measured on its validation split; null until measured. */
  modelDistances(modelId: number): DistanceProfile | null {
    const row = this.db.prepare('SELECT distances FROM models WHERE id = ?').get(modelId) as { distances: string | null } | undefined;
    return row?.distances ? (JSON.parse(row.distances) as DistanceProfile) : null;
  }

  setModelDistances(modelId: number, distances: DistanceProfile): void {
    this.db.prepare('UPDATE models SET distances = ? WHERE id = ?').run(JSON.stringify(distances), modelId);
  }

  setModelMetrics(modelId: number, metrics: RetrievalMetrics): void {
    this.db.prepare('UPDATE models SET metrics = ? WHERE id = ?').run(JSON.stringify(metrics), modelId);
  }

  /** Records why a model could not run (null: it ran), so the app shows it as broken, with the reason. */
  setModelProblem(modelId: number, problem: string | null): void {
    this.db.prepare('UPDATE models SET problem = ? WHERE id = ?').run(problem, modelId);
  }

  /** Removes a model, its embeddings and its vector index; a run that made it keeps its history. */
  removeModel(modelId: number): void {
    const model = this.model(modelId);
    if (!model) return;
    this.db.transaction(() => {
      this.vectorIndex(model.id, model.dim).drop();
      this.db.prepare('UPDATE runs SET model_id = NULL WHERE model_id = ?').run(modelId);
      this.db.prepare('DELETE FROM models WHERE id = ?').run(modelId);
    })();
    this.vectorIndexes.delete(modelId);
  }

  vectorIndex(modelId: number, dim: number): VectorIndex {
    let index = this.vectorIndexes.get(modelId);
    if (!index) {
      index = openVectorIndex(this.db, `vec_model_${modelId}`, dim);
      this.vectorIndexes.set(modelId, index);
    }
    return index;
  }

  /** Photo ids of the library whose embedding under the model is missing or stale (content changed). */
  photosToEmbed(libraryId: number, modelId: number): PhotoRow[] {
    const current = new Set(
      (
        this.db
          .prepare('SELECT e.photo_id AS id FROM embeddings e JOIN photos p ON p.id = e.photo_id WHERE e.model_id = ? AND e.hash = p.hash')
          .all(modelId) as Array<{ id: number }>
      ).map((row) => row.id),
    );
    return this.photos(libraryId).filter((photo) => !current.has(photo.id));
  }

  putEmbeddings(modelId: number, dim: number, items: Array<{ photoId: number; hash: string; vector: Float32Array }>): void {
    const index = this.vectorIndex(modelId, dim);
    const mark = this.db.prepare('INSERT OR REPLACE INTO embeddings(model_id, photo_id, hash) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      index.upsert(items.map((item) => ({ id: item.photoId, vector: item.vector })));
      for (const item of items) mark.run(modelId, item.photoId, item.hash);
    })();
    this.passedThroughMap(items.length * dim * 4);
  }

  /**
   * Photos of the library the model has no current embedding for, although they could have one (their
   * content is not known to be unreadable by the backbone): an index that was stopped or failed.
   */
  unindexedCount(libraryId: number, modelId: number, backbone: string): number {
    return (
      this.db
        .prepare(
          `SELECT count(*) AS n FROM photos p WHERE p.library_id = ?
             AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.model_id = ? AND e.photo_id = p.id AND e.hash = p.hash)
             AND NOT EXISTS (SELECT 1 FROM feature_failures f WHERE f.backbone = ? AND f.hash = p.hash)`,
        )
        .get(libraryId, modelId, backbone) as { n: number }
    ).n;
  }

  /** Photos with an embedding under the model (current or not), by id. */
  embeddedPhotoIds(modelId: number): number[] {
    return (this.db.prepare('SELECT photo_id FROM embeddings WHERE model_id = ? ORDER BY photo_id').pluck().all(modelId) as number[]).map(Number);
  }

  /** Photos of the library with the same content (content hash), by id: one group per content held more than once. */
  exactCopyGroups(libraryId: number): number[][] {
    const rows = this.db.prepare('SELECT group_concat(id) AS ids FROM photos WHERE library_id = ? GROUP BY hash HAVING count(*) > 1').all(libraryId) as Array<{ ids: string }>;
    return rows.map((r) => r.ids.split(',').map(Number));
  }

  embeddingCount(modelId: number): number {
    return (this.db.prepare('SELECT count(*) AS n FROM embeddings WHERE model_id = ?').get(modelId) as { n: number }).n;
  }

  // ---- training runs ----------------------------------------------------------------------------

  createRun(libraryId: number, settings: Record<string, unknown>): number {
    const info = this.db.prepare("INSERT INTO runs(library_id, status, settings) VALUES (?, 'running', ?)").run(libraryId, JSON.stringify(settings));
    return Number(info.lastInsertRowid);
  }

  updateRun(runId: number, fields: Partial<Pick<RunRow, 'status' | 'modelId' | 'finalLoss' | 'baseline' | 'trained' | 'error' | 'epochsDone' | 'keptEpoch' | 'headAlone'>> & { finished?: boolean }): void {
    const columns: Record<string, unknown> = {};
    if (fields.status !== undefined) columns.status = fields.status;
    if (fields.modelId !== undefined) columns.model_id = fields.modelId;
    if (fields.finalLoss !== undefined) columns.final_loss = fields.finalLoss;
    if (fields.baseline !== undefined) columns.baseline = JSON.stringify(fields.baseline);
    if (fields.trained !== undefined) columns.trained = JSON.stringify(fields.trained);
    if (fields.error !== undefined) columns.error = fields.error;
    if (fields.epochsDone !== undefined) columns.epochs_done = fields.epochsDone;
    if (fields.keptEpoch !== undefined) columns.kept_epoch = fields.keptEpoch;
    if (fields.headAlone !== undefined) columns.head_alone = JSON.stringify(fields.headAlone);
    const sets = Object.keys(columns).map((column) => `${column} = @${column}`);
    if (fields.finished) sets.push("finished_at = datetime('now')");
    if (sets.length === 0) return;
    this.db.prepare(`UPDATE runs SET ${sets.join(', ')} WHERE id = @id`).run({ ...columns, id: runId });
  }

  run(runId: number): RunRow | null {
    const row = this.db.prepare(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`).get(runId) as RawRun | undefined;
    return row ? toRunRow(row) : null;
  }

  runs(libraryId: number): RunRow[] {
    return (this.db.prepare(`SELECT ${RUN_COLUMNS} FROM runs WHERE library_id = ? ORDER BY id DESC`).all(libraryId) as RawRun[]).map(toRunRow);
  }

  /** The newest unfinished run of a library with these settings, to resume after a crash. */
  resumableRun(libraryId: number, settings: Record<string, unknown>): RunRow | null {
    const row = this.db
      .prepare(`SELECT ${RUN_COLUMNS} FROM runs WHERE library_id = ? AND settings = ? AND status IN ('running', 'paused') ORDER BY id DESC LIMIT 1`)
      .get(libraryId, JSON.stringify(settings)) as RawRun | undefined;
    return row ? toRunRow(row) : null;
  }

  addLossPoints(runId: number, points: Array<{ step: number; epoch: number; loss: number }>): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO run_steps(run_id, step, epoch, loss) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const p of points) insert.run(runId, p.step, p.epoch, p.loss);
    })();
  }

  lossPoints(runId: number): Array<{ step: number; epoch: number; loss: number }> {
    return this.db.prepare('SELECT step, epoch, loss FROM run_steps WHERE run_id = ? ORDER BY step').all(runId) as Array<{ step: number; epoch: number; loss: number }>;
  }

  /**
   * Records a finished epoch atomically: its metrics, its loss points, the head's weights and
   * optimiser state. A run killed at any moment resumes from the last epoch recorded here.
   */
  saveEpoch(
    runId: number,
    epoch: { epoch: number; meanLoss: number; validation: RetrievalMetrics; seconds: number },
    losses: Array<{ step: number; epoch: number; loss: number }>,
    state: Buffer,
    /** An earlier epoch whose checkpoint is kept too (the best so far), or none. */
    keepEpoch: number | null = null,
  ): void {
    this.db.transaction(() => {
      this.addLossPoints(runId, losses);
      this.db
        .prepare('INSERT OR REPLACE INTO run_epochs(run_id, epoch, mean_loss, metrics, seconds) VALUES (?, ?, ?, ?, ?)')
        .run(runId, epoch.epoch, epoch.meanLoss, JSON.stringify(epoch.validation), epoch.seconds);
      this.db.prepare('INSERT OR REPLACE INTO checkpoints(run_id, epoch, state) VALUES (?, ?, ?)').run(runId, epoch.epoch, state);
      this.db.prepare('DELETE FROM checkpoints WHERE run_id = ? AND epoch < ? AND epoch IS NOT ?').run(runId, epoch.epoch, keepEpoch);
      this.db.prepare('UPDATE runs SET epochs_done = ?, final_loss = ? WHERE id = ?').run(epoch.epoch, epoch.meanLoss, runId);
    })();
  }

  epochs(runId: number): Array<{ epoch: number; meanLoss: number; validation: RetrievalMetrics; seconds: number }> {
    return (
      this.db.prepare('SELECT epoch, mean_loss AS meanLoss, metrics, seconds FROM run_epochs WHERE run_id = ? ORDER BY epoch').all(runId) as Array<{
        epoch: number;
        meanLoss: number;
        metrics: string;
        seconds: number;
      }>
    ).map((row) => ({ epoch: row.epoch, meanLoss: row.meanLoss, validation: JSON.parse(row.metrics) as RetrievalMetrics, seconds: row.seconds }));
  }

  checkpoint(runId: number, epoch: number): Checkpoint | null {
    return (this.db.prepare('SELECT run_id AS runId, epoch, state FROM checkpoints WHERE run_id = ? AND epoch = ?').get(runId, epoch) as Checkpoint | undefined) ?? null;
  }

  latestCheckpoint(runId: number): Checkpoint | null {
    const row = this.db.prepare('SELECT run_id AS runId, epoch, state FROM checkpoints WHERE run_id = ? ORDER BY epoch DESC LIMIT 1').get(runId) as
      | Checkpoint
      | undefined;
    return row ?? null;
  }
}

/** Refuses, before SQLite touches it, a file that exists and is not an SQLite database. */
function refuseForeignFile(path: string): void {
  if (!existsSync(path)) return;
  const info = statSync(path);
  if (info.isDirectory()) throw new StoreError(`${path}: is a folder, not a database file (name a file, e.g. ${join(path, 'lookalike.db')})`);
  if (!info.isFile()) throw new StoreError(`${path}: not a regular file, so not a database; left untouched`);
  if (info.size === 0) return;
  const header = Buffer.alloc(16);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString('latin1') !== 'SQLite format 3\u0000') {
    throw new StoreError(`${path}: not an SQLite database (damaged or another kind of file); left untouched`);
  }
}

interface RawModel {
  id: number;
  library_id: number;
  name: string;
  kind: 'baseline' | 'trained';
  backbone: string;
  backbone_dim: number;
  dim: number;
  config: string;
  run_id: number | null;
  metrics: string | null;
  created_at: string;
  problem: string | null;
}

function toModelRow(row: RawModel): ModelRow {
  return {
    id: row.id,
    libraryId: row.library_id,
    name: row.name,
    kind: row.kind,
    backbone: row.backbone,
    backboneDim: row.backbone_dim,
    dim: row.dim,
    config: JSON.parse(row.config) as Record<string, unknown>,
    runId: row.run_id,
    metrics: row.metrics ? (JSON.parse(row.metrics) as RetrievalMetrics) : null,
    createdAt: row.created_at,
    problem: row.problem,
  };
}

/** A run's columns, and its number within its library (ids count across libraries; runs are never deleted alone). */
const RUN_COLUMNS = '*, (SELECT count(*) FROM runs earlier WHERE earlier.library_id = runs.library_id AND earlier.id <= runs.id) AS number';

interface RawRun {
  id: number;
  number: number;
  library_id: number;
  model_id: number | null;
  status: RunStatus;
  settings: string;
  started_at: string;
  finished_at: string | null;
  epochs_done: number;
  final_loss: number | null;
  baseline: string | null;
  trained: string | null;
  error: string | null;
  kept_epoch: number | null;
  head_alone: string | null;
}

function toRunRow(row: RawRun): RunRow {
  return {
    id: row.id,
    number: row.number,
    libraryId: row.library_id,
    modelId: row.model_id,
    status: row.status,
    settings: JSON.parse(row.settings) as Record<string, unknown>,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    epochsDone: row.epochs_done,
    finalLoss: row.final_loss,
    baseline: row.baseline ? (JSON.parse(row.baseline) as RetrievalMetrics) : null,
    trained: row.trained ? (JSON.parse(row.trained) as RetrievalMetrics) : null,
    error: row.error,
    keptEpoch: row.kept_epoch,
    headAlone: row.head_alone ? (JSON.parse(row.head_alone) as RetrievalMetrics) : null,
  };
}

export function toBlob(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

export function toFloat32(blob: Buffer): Float32Array {
  const copy = new Float32Array(blob.byteLength / 4);
  new Uint8Array(copy.buffer).set(blob);
  return copy;
}
