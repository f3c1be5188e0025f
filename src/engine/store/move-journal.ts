import { readFileSync } from 'node:fs';
import { hostname, uptime } from 'node:os';
import type { Database } from 'better-sqlite3';

export type MoveKind = 'write-labels' | 'move-out';
/** moving/undoing: a process is at it (or crashed at it); interrupted ones stopped part way and can be undone. */
export type BatchState = 'moving' | 'moved' | 'interrupted' | 'undoing' | 'undo-interrupted' | 'undone';
/** planned: not moved yet (or put back by a recovery); done: at `to`; undone: back at `from`. */
export type StepState = 'planned' | 'done' | 'undone';

/**
 * This machine since its last start: a batch owned by a pid of another boot is over whatever that pid
 * is now (pids are reused after a restart). Linux's boot id, else the boot time to the minute.
 */
export function thisMachine(): string {
  let boot: string;
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    boot = String(Math.round((Date.now() / 1000 - uptime()) / 60));
  }
  return `${hostname()} (boot ${boot})`;
}

/** One file of a batch: `from` relative to the batch's fromRoot, `to` to its toRoot ('/'-separated). */
export interface MoveStep {
  seq: number;
  photoId: number | null;
  from: string;
  to: string;
  /** Its size when planned (what a recovery expects to find at either end). */
  size: number;
  /** The photo's own label before the move (undo puts it back) and after it; null: none. */
  labelBefore: string | null;
  labelAfter: string | null;
  state: StepState;
}

export interface MoveBatch {
  id: number;
  libraryId: number;
  kind: MoveKind;
  /** Real paths, as they were when the batch was planned: the library, or the folder outside it. */
  fromRoot: string;
  toRoot: string;
  /** Folders the batch made (relative to toRoot, parents first): its undo removes them when empty. */
  createdFolders: string[];
  state: BatchState;
  ownerPid: number;
  ownerHost: string;
  startedAt: string;
  finishedAt: string | null;
  /** What a recovery or a stop part way found and did, in words, for the person. */
  notice: string | null;
}

interface RawBatch {
  id: number;
  library_id: number;
  kind: MoveKind;
  from_root: string;
  to_root: string;
  created_folders: string;
  state: BatchState;
  owner_pid: number;
  owner_host: string;
  started_at: string;
  finished_at: string | null;
  notice: string | null;
}

const toBatch = (r: RawBatch): MoveBatch => ({
  id: r.id,
  libraryId: r.library_id,
  kind: r.kind,
  fromRoot: r.from_root,
  toRoot: r.to_root,
  createdFolders: JSON.parse(r.created_folders) as string[],
  state: r.state,
  ownerPid: r.owner_pid,
  ownerHost: r.owner_host,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  notice: r.notice,
});

/**
 * The write-ahead journal of file moves. A batch's whole plan is stored (and synced) before its first
 * file moves; each step's new state is stored in the same transaction as the rows that follow the
 * file, so at any instant the journal names the one step that may be half done.
 */
export class MoveJournal {
  constructor(private readonly db: Database) {}

  /** Stores a batch and all its steps as planned, synced to disk before returning. */
  begin(batch: { libraryId: number; kind: MoveKind; fromRoot: string; toRoot: string; createdFolders?: string[] }, steps: Array<Omit<MoveStep, 'seq' | 'state'>>): number {
    return this.synced(() =>
      this.db.transaction(() => {
        const id = Number(
          this.db
            .prepare("INSERT INTO move_batches(library_id, kind, from_root, to_root, created_folders, state, owner_pid, owner_host) VALUES (?, ?, ?, ?, ?, 'moving', ?, ?)")
            .run(batch.libraryId, batch.kind, batch.fromRoot, batch.toRoot, JSON.stringify(batch.createdFolders ?? []), process.pid, thisMachine()).lastInsertRowid,
        );
        const insert = this.db.prepare(
          "INSERT INTO move_steps(batch_id, seq, photo_id, from_path, to_path, size, label_before, label_after, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'planned')",
        );
        steps.forEach((s, seq) => insert.run(id, seq, s.photoId, s.from, s.to, s.size, s.labelBefore, s.labelAfter));
        return id;
      })(),
    );
  }

  /** A new state for the whole batch (synced: an undo's intent is on disk before its first move). */
  setState(batchId: number, state: BatchState, notice: string | null = null): void {
    const finished = state === 'moving' || state === 'undoing' ? null : "datetime('now')";
    this.synced(() =>
      this.db
        .prepare(`UPDATE move_batches SET state = ?, notice = ?, owner_pid = ?, owner_host = ?, finished_at = ${finished ?? 'NULL'} WHERE id = ?`)
        .run(state, notice, process.pid, thisMachine(), batchId),
    );
  }

  /** A step's new state, with the rows that follow its file (`alongside`) in the same transaction. */
  setStep(batchId: number, seq: number, state: StepState, alongside?: () => void): void {
    this.db.transaction(() => {
      alongside?.();
      this.db.prepare('UPDATE move_steps SET state = ? WHERE batch_id = ? AND seq = ?').run(state, batchId, seq);
    })();
  }

  addCreatedFolder(batchId: number, folder: string): void {
    this.db.prepare("UPDATE move_batches SET created_folders = json_insert(created_folders, '$[#]', ?) WHERE id = ?").run(folder, batchId);
  }

  batch(batchId: number): MoveBatch | null {
    const row = this.db.prepare('SELECT * FROM move_batches WHERE id = ?').get(batchId) as RawBatch | undefined;
    return row ? toBatch(row) : null;
  }

  /** The library's newest batch of a kind, whatever its state: the one Undo is about. */
  last(libraryId: number, kind: MoveKind): MoveBatch | null {
    const row = this.db.prepare('SELECT * FROM move_batches WHERE library_id = ? AND kind = ? ORDER BY id DESC LIMIT 1').get(libraryId, kind) as RawBatch | undefined;
    return row ? toBatch(row) : null;
  }

  /** Batches a process was moving or undoing when it last wrote here. */
  unfinished(libraryId: number): MoveBatch[] {
    const rows = this.db.prepare("SELECT * FROM move_batches WHERE library_id = ? AND state IN ('moving', 'undoing') ORDER BY id").all(libraryId) as RawBatch[];
    return rows.map(toBatch);
  }

  steps(batchId: number, state?: StepState): MoveStep[] {
    const rows = this.db
      .prepare(
        `SELECT seq, photo_id AS photoId, from_path AS "from", to_path AS "to", size, label_before AS labelBefore, label_after AS labelAfter, state
         FROM move_steps WHERE batch_id = ? ${state ? 'AND state = ?' : ''} ORDER BY seq`,
      )
      .all(...(state ? [batchId, state] : [batchId])) as MoveStep[];
    return rows;
  }

  /** Runs `write` with the database synced to disk at its commit (the plan must outlive a power cut). */
  private synced<T>(write: () => T): T {
    this.db.pragma('synchronous = FULL');
    try {
      return write();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }
}
