import type { Database } from 'better-sqlite3';

/** One scored photo as an audit stored it: by path, with the class it had when scored. */
export interface StoredSuspect {
  path: string;
  className: string;
  suggestedClass: string;
  suspicion: number;
  /** Its nearest neighbours that carry another class, by path. */
  neighbours: Array<{ path: string; className: string; distance: number }>;
}

export interface StoredAudit {
  auditedAt: string;
  scored: number;
  folds: number;
  seconds: number;
  /** Every photo the heads put in another class than its own, most suspect first. */
  suspects: StoredSuspect[];
}

/**
 * The SQL of label audits (tables label_audits, label_confirmations). Both name photos by path, as
 * label_photos and similarity_marks do, so a rescan that renumbers photos keeps them.
 */
export class LabelAuditStore {
  constructor(private readonly db: Database) {}

  save(libraryId: number, audit: Omit<StoredAudit, 'auditedAt'>): void {
    this.db.prepare(`INSERT OR REPLACE INTO label_audits(library_id, audited_at, result) VALUES (?, datetime('now'), ?)`).run(libraryId, JSON.stringify(audit));
  }

  last(libraryId: number): StoredAudit | null {
    const row = this.db.prepare('SELECT audited_at AS auditedAt, result FROM label_audits WHERE library_id = ?').get(libraryId) as { auditedAt: string; result: string } | undefined;
    // SQLite's datetime('now') is UTC without a zone: said as ISO 8601 for the views.
    return row ? { ...(JSON.parse(row.result) as Omit<StoredAudit, 'auditedAt'>), auditedAt: `${row.auditedAt.replace(' ', 'T')}Z` } : null;
  }

  /** "This photo is rightly in this class": remembered until the photo's class changes. */
  confirm(libraryId: number, path: string, className: string): void {
    this.db.prepare(`INSERT OR REPLACE INTO label_confirmations(library_id, rel_path, class_name, confirmed_at) VALUES (?, ?, ?, datetime('now'))`).run(libraryId, path, className);
  }

  /** Confirmed class by path. */
  confirmed(libraryId: number): Map<string, string> {
    const rows = this.db.prepare('SELECT rel_path AS path, class_name AS className FROM label_confirmations WHERE library_id = ?').all(libraryId) as Array<{ path: string; className: string }>;
    return new Map(rows.map((r) => [r.path, r.className]));
  }
}
