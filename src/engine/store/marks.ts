import type { Database } from 'better-sqlite3';

/** One side of a mark as the library has it now; null when no photo is at that path any more. */
export interface MarkedPhoto {
  id: number;
  classId: number | null;
  split: 'train' | 'validation' | null;
}

export interface MarkRow {
  queryPath: string;
  markedPath: string;
  createdAt: string;
  query: MarkedPhoto | null;
  marked: MarkedPhoto | null;
}

/**
 * The SQL of "not similar to this query" marks (table similarity_marks). A mark names both photos by
 * their path in the library, so a rescan (which may renumber a moved-and-back photo) keeps it.
 */
export class MarkStore {
  constructor(private readonly db: Database) {}

  /** True when the mark is new. */
  add(libraryId: number, queryPath: string, markedPath: string): boolean {
    return this.db.prepare('INSERT OR IGNORE INTO similarity_marks(library_id, query_path, marked_path) VALUES (?, ?, ?)').run(libraryId, queryPath, markedPath).changes > 0;
  }

  /** True when there was such a mark. */
  remove(libraryId: number, queryPath: string, markedPath: string): boolean {
    return this.db.prepare('DELETE FROM similarity_marks WHERE library_id = ? AND query_path = ? AND marked_path = ?').run(libraryId, queryPath, markedPath).changes > 0;
  }

  /** Every mark of the library, oldest first, with each side's photo as the library has it now. */
  all(libraryId: number): MarkRow[] {
    const rows = this.db
      .prepare(
        `SELECT m.query_path AS queryPath, m.marked_path AS markedPath, m.created_at AS createdAt,
                q.id AS qId, q.class_id AS qClass, q.split AS qSplit, n.id AS nId, n.class_id AS nClass, n.split AS nSplit
         FROM similarity_marks m
         LEFT JOIN photos q ON q.library_id = m.library_id AND q.rel_path = m.query_path
         LEFT JOIN photos n ON n.library_id = m.library_id AND n.rel_path = m.marked_path
         WHERE m.library_id = ? ORDER BY m.created_at, m.query_path, m.marked_path`,
      )
      .all(libraryId) as Array<{
      queryPath: string;
      markedPath: string;
      createdAt: string;
      qId: number | null;
      qClass: number | null;
      qSplit: MarkedPhoto['split'];
      nId: number | null;
      nClass: number | null;
      nSplit: MarkedPhoto['split'];
    }>;
    return rows.map((r) => ({
      queryPath: r.queryPath,
      markedPath: r.markedPath,
      createdAt: r.createdAt,
      query: r.qId === null ? null : { id: r.qId, classId: r.qClass, split: r.qSplit },
      marked: r.nId === null ? null : { id: r.nId, classId: r.nClass, split: r.nSplit },
    }));
  }

  /** Paths marked "not similar" to one query. */
  markedFor(libraryId: number, queryPath: string): string[] {
    const rows = this.db.prepare('SELECT marked_path AS path FROM similarity_marks WHERE library_id = ? AND query_path = ? ORDER BY marked_path').all(libraryId, queryPath) as Array<{ path: string }>;
    return rows.map((r) => r.path);
  }

  setRunMarks(runId: number, used: number): void {
    this.db.prepare('UPDATE runs SET marks_used = ? WHERE id = ?').run(used, runId);
  }

  /** How many marks a run trained on; null for runs from before marks. */
  runMarks(runId: number): number | null {
    const row = this.db.prepare('SELECT marks_used AS used FROM runs WHERE id = ?').get(runId) as { used: number | null } | undefined;
    return row?.used ?? null;
  }
}
