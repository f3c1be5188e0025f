import type { Database } from 'better-sqlite3';

/** One file moved into its class folder, as the log keeps it (paths relative to the library root). */
export interface LoggedMove {
  photoId: number;
  from: string;
  to: string;
  how: 'link' | 'copy';
  /** The photo's own label at `from` before the move (undo puts it back); null: it had none. */
  ownLabel: string | null;
}

export interface LabelWriteLog {
  moves: LoggedMove[];
  /** Class folders the write made (undo removes them when they are empty again). */
  createdFolders: string[];
}

export interface LabelWrite extends LabelWriteLog {
  id: number;
  writtenAt: string;
  undoneAt: string | null;
}

/** The SQL of "write labels to folders": the photos' rows following their files, and the log. */
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

  /** Keeps a write's moves; the label undo (by old paths) is dropped, as the paths changed. */
  log(libraryId: number, log: LabelWriteLog): number {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM label_undo WHERE library_id = ?').run(libraryId);
      return Number(this.db.prepare('INSERT INTO label_writes(library_id, log) VALUES (?, ?)').run(libraryId, JSON.stringify(log)).lastInsertRowid);
    })();
  }

  /** The writes of a library, newest first. */
  writes(libraryId: number, limit = 20): LabelWrite[] {
    const rows = this.db
      .prepare('SELECT id, written_at AS writtenAt, undone_at AS undoneAt, log FROM label_writes WHERE library_id = ? ORDER BY id DESC LIMIT ?')
      .all(libraryId, limit) as Array<{ id: number; writtenAt: string; undoneAt: string | null; log: string }>;
    return rows.map(({ log, ...r }) => ({ ...r, ...(JSON.parse(log) as LabelWriteLog) }));
  }

  /** An undo finished (nothing left) or stopped part way: the log keeps the moves still to undo. */
  setRemaining(writeId: number, log: LabelWriteLog): void {
    if (log.moves.length === 0) this.db.prepare("UPDATE label_writes SET undone_at = datetime('now') WHERE id = ?").run(writeId);
    else this.db.prepare('UPDATE label_writes SET log = ? WHERE id = ?').run(JSON.stringify(log), writeId);
  }
}
