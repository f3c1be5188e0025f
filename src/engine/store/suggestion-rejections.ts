import type { Database } from 'better-sqlite3';

/**
 * The SQL of rejected suggestions (table suggestion_rejections): a photo, by its path in the library,
 * and a class the person said it is not of.
 */
export class RejectionStore {
  constructor(private readonly db: Database) {}

  add(libraryId: number, relPath: string, className: string): void {
    this.db.prepare('INSERT OR IGNORE INTO suggestion_rejections(library_id, rel_path, class_name) VALUES (?, ?, ?)').run(libraryId, relPath, className);
  }

  remove(libraryId: number, relPath: string, className: string): void {
    this.db.prepare('DELETE FROM suggestion_rejections WHERE library_id = ? AND rel_path = ? AND class_name = ?').run(libraryId, relPath, className);
  }

  /** Rejected class names by photo path. */
  all(libraryId: number): Map<string, Set<string>> {
    const rows = this.db.prepare('SELECT rel_path AS relPath, class_name AS className FROM suggestion_rejections WHERE library_id = ?').all(libraryId) as Array<{ relPath: string; className: string }>;
    const byPath = new Map<string, Set<string>>();
    for (const { relPath, className } of rows) byPath.set(relPath, (byPath.get(relPath) ?? new Set()).add(className));
    return byPath;
  }
}
