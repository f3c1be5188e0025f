import type { Database } from 'better-sqlite3';

/** The SQL of "write labels to folders": the photos' rows following their files (the moves themselves are journaled in move-journal.ts). */
export class LabelWriteStore {
  constructor(private readonly db: Database) {}

  /** A photo's file now lives at `to`: its row and its marks follow, and its own label is `ownLabel` there (null: none). */
  movePhoto(libraryId: number, photoId: number, from: string, to: string, ownLabel: string | null): void {
    this.db.transaction(() => {
      this.db.prepare('UPDATE photos SET rel_path = ? WHERE id = ? AND library_id = ?').run(to, photoId, libraryId);
      this.db.prepare('DELETE FROM label_photos WHERE library_id = ? AND rel_path IN (?, ?)').run(libraryId, from, to);
      if (ownLabel !== null) this.db.prepare('INSERT INTO label_photos(library_id, rel_path, class_name) VALUES (?, ?, ?)').run(libraryId, to, ownLabel);
      // "Not similar" marks are kept by path too: they follow the file on either side of a mark.
      this.db.prepare('UPDATE OR REPLACE similarity_marks SET query_path = ? WHERE library_id = ? AND query_path = ?').run(to, libraryId, from);
      this.db.prepare('UPDATE OR REPLACE similarity_marks SET marked_path = ? WHERE library_id = ? AND marked_path = ?').run(to, libraryId, from);
    })();
  }

  /** The one-step label undo is by paths, which a write changes: it is dropped when a write starts. */
  forgetLabelUndo(libraryId: number): void {
    this.db.prepare('DELETE FROM label_undo WHERE library_id = ?').run(libraryId);
  }
}
