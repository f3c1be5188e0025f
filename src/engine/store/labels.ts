import type { Database } from 'better-sqlite3';
import type { LabelRules } from '../library/label-rules.js';

/** One rule set or removed: className undefined removes the rule (back to the folder's own name). */
export type RuleEdit = { kind: 'folder'; folder: string; className: string | null | undefined } | { kind: 'photo'; relPath: string; className: string | undefined };

export interface RunClass {
  name: string;
  photoCount: number;
}

/** The SQL of the labels chosen in the app (tables of the labels-in-app and label-undo-steps migrations). */
export class LabelStore {
  constructor(private readonly db: Database) {}

  rules(libraryId: number): LabelRules {
    const folders = this.db.prepare('SELECT folder, class_name AS className FROM label_folders WHERE library_id = ?').all(libraryId) as Array<{ folder: string; className: string | null }>;
    const photos = this.db.prepare('SELECT rel_path AS relPath, class_name AS className FROM label_photos WHERE library_id = ?').all(libraryId) as Array<{ relPath: string; className: string }>;
    return { folders: new Map(folders.map((f) => [f.folder, f.className])), photos: new Map(photos.map((p) => [p.relPath, p.className])) };
  }

  /** The first-level folders the last scan found, and those photos sit in. */
  folders(libraryId: number): string[] {
    const rows = this.db
      .prepare(
        `SELECT folder FROM library_folders WHERE library_id = @libraryId
         UNION SELECT substr(rel_path, 1, instr(rel_path, '/') - 1) FROM photos WHERE library_id = @libraryId AND instr(rel_path, '/') > 0
         ORDER BY 1`,
      )
      .all({ libraryId }) as Array<{ folder: string }>;
    return rows.map((r) => r.folder);
  }

  setFolders(libraryId: number, folders: string[]): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM library_folders WHERE library_id = ?').run(libraryId);
      const insert = this.db.prepare('INSERT OR IGNORE INTO library_folders(library_id, folder) VALUES (?, ?)');
      for (const folder of folders) insert.run(libraryId, folder);
    })();
  }

  /** Photos per first-level folder. */
  folderCounts(libraryId: number): Map<string, number> {
    const rows = this.db
      .prepare(
        `SELECT substr(rel_path, 1, instr(rel_path, '/') - 1) AS folder, count(*) AS n FROM photos
         WHERE library_id = ? AND instr(rel_path, '/') > 0 GROUP BY folder`,
      )
      .all(libraryId) as Array<{ folder: string; n: number }>;
    return new Map(rows.map((r) => [r.folder, r.n]));
  }

  photoLabelCount(libraryId: number): number {
    return (this.db.prepare('SELECT count(*) AS n FROM label_photos WHERE library_id = ?').get(libraryId) as { n: number }).n;
  }

  /** Applies the edits and records how to undo them, as the newest undo step (the oldest past `keepSteps` forgotten): call inside a transaction. */
  change(libraryId: number, description: string, edits: RuleEdit[], keepSteps: number): void {
    const restore = edits.map((edit) => this.current(libraryId, edit));
    this.apply(libraryId, edits);
    this.db.prepare('INSERT INTO label_undo(library_id, description, restore) VALUES (?, ?, ?)').run(libraryId, description, JSON.stringify(restore));
    this.db
      .prepare('DELETE FROM label_undo WHERE library_id = @libraryId AND id NOT IN (SELECT id FROM label_undo WHERE library_id = @libraryId ORDER BY id DESC LIMIT @keepSteps)')
      .run({ libraryId, keepSteps });
  }

  /** The newest change, undone; its description, or null when there is none. Call inside a transaction. */
  undo(libraryId: number): string | null {
    const row = this.db.prepare('SELECT id, description, restore FROM label_undo WHERE library_id = ? ORDER BY id DESC LIMIT 1').get(libraryId) as
      | { id: number; description: string; restore: string }
      | undefined;
    if (!row) return null;
    this.apply(libraryId, (JSON.parse(row.restore) as RuleEdit[]).map(fromJson));
    this.db.prepare('DELETE FROM label_undo WHERE id = ?').run(row.id);
    return row.description;
  }

  /** What each change that can be undone did, newest first. */
  undoSteps(libraryId: number): string[] {
    const rows = this.db.prepare('SELECT description FROM label_undo WHERE library_id = ? ORDER BY id DESC').all(libraryId) as Array<{ description: string }>;
    return rows.map((r) => r.description);
  }

  setRunClasses(runId: number, classes: RunClass[]): void {
    this.db.prepare('UPDATE runs SET classes = ? WHERE id = ?').run(JSON.stringify(classes), runId);
  }

  runClasses(runId: number): RunClass[] | null {
    const row = this.db.prepare('SELECT classes FROM runs WHERE id = ?').get(runId) as { classes: string | null } | undefined;
    return row?.classes ? (JSON.parse(row.classes) as RunClass[]) : null;
  }

  private current(libraryId: number, edit: RuleEdit): RuleEdit {
    if (edit.kind === 'folder') {
      const row = this.db.prepare('SELECT class_name AS className FROM label_folders WHERE library_id = ? AND folder = ?').get(libraryId, edit.folder) as
        | { className: string | null }
        | undefined;
      return { kind: 'folder', folder: edit.folder, className: row ? row.className : undefined };
    }
    const row = this.db.prepare('SELECT class_name AS className FROM label_photos WHERE library_id = ? AND rel_path = ?').get(libraryId, edit.relPath) as
      | { className: string }
      | undefined;
    return { kind: 'photo', relPath: edit.relPath, className: row?.className };
  }

  private apply(libraryId: number, edits: RuleEdit[]): void {
    const setFolder = this.db.prepare('INSERT OR REPLACE INTO label_folders(library_id, folder, class_name) VALUES (?, ?, ?)');
    const dropFolder = this.db.prepare('DELETE FROM label_folders WHERE library_id = ? AND folder = ?');
    const setPhoto = this.db.prepare('INSERT OR REPLACE INTO label_photos(library_id, rel_path, class_name) VALUES (?, ?, ?)');
    const dropPhoto = this.db.prepare('DELETE FROM label_photos WHERE library_id = ? AND rel_path = ?');
    for (const edit of edits) {
      if (edit.kind === 'folder') {
        if (edit.className === undefined) dropFolder.run(libraryId, edit.folder);
        else setFolder.run(libraryId, edit.folder, edit.className);
      } else if (edit.className === undefined) dropPhoto.run(libraryId, edit.relPath);
      else setPhoto.run(libraryId, edit.relPath, edit.className);
    }
  }
}

/** JSON drops undefined members: an absent className means "no rule". */
function fromJson(edit: RuleEdit): RuleEdit {
  return edit.kind === 'folder' ? { kind: 'folder', folder: edit.folder, className: 'className' in edit ? edit.className : undefined } : { kind: 'photo', relPath: edit.relPath, className: edit.className };
}
