import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Database } from 'better-sqlite3';

/** A claim not refreshed for this long belongs to a process that is gone or hung: it may be taken over. */
export const LOCK_STALE_MS = 30_000;
/** How often a holder refreshes its claim (and looks for a stop request from another process). */
export const LOCK_HEARTBEAT_MS = 2_000;

export interface LockHolder {
  owner: string;
  pid: number;
  host: string;
  kind: string;
  startedAt: number;
  heartbeatAt: number;
  stopRequested: boolean;
}

interface RawHolder {
  owner: string;
  pid: number;
  host: string;
  kind: string;
  started_at: number;
  heartbeat_at: number;
  stop_requested: number;
}

/**
 * One job at a time per database, across processes: the single job_lock row names who runs what.
 * Claimed in an IMMEDIATE transaction, so two processes (or two calls) cannot both see it free; a
 * claim whose process is gone (same host, pid not alive or a zombie) or whose heartbeat is older than
 * LOCK_STALE_MS is taken over. Another process cannot stop the job directly: it sets stop_requested,
 * which the holder reads with its heartbeat.
 */
export class JobLock {
  readonly owner = randomUUID();
  private readonly host = hostname();

  constructor(
    private readonly db: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /** Claims the database for a job of `kind`; null when it is ours now, else the live holder that has it. */
  claim(kind: string): LockHolder | null {
    return this.db
      .transaction((): LockHolder | null => {
        const holder = this.liveHolder();
        if (holder && holder.owner !== this.owner) return holder;
        const now = this.now();
        this.db
          .prepare(
            `INSERT INTO job_lock(id, owner, pid, host, kind, started_at, heartbeat_at, stop_requested) VALUES (1, ?, ?, ?, ?, ?, ?, 0)
             ON CONFLICT(id) DO UPDATE SET owner = excluded.owner, pid = excluded.pid, host = excluded.host, kind = excluded.kind,
               started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, stop_requested = 0`,
          )
          .run(this.owner, process.pid, this.host, kind, now, now);
        return null;
      })
      .immediate();
  }

  /** The holder, if its claim is still alive (whoever it is). */
  liveHolder(): LockHolder | null {
    const row = this.db.prepare('SELECT * FROM job_lock WHERE id = 1').get() as RawHolder | undefined;
    if (!row) return null;
    const holder: LockHolder = {
      owner: row.owner,
      pid: row.pid,
      host: row.host,
      kind: row.kind,
      startedAt: row.started_at,
      heartbeatAt: row.heartbeat_at,
      stopRequested: row.stop_requested === 1,
    };
    if (this.now() - holder.heartbeatAt > LOCK_STALE_MS) return null;
    if (holder.host === this.host && holder.owner !== this.owner && !processAlive(holder.pid)) return null;
    return holder;
  }

  /** Refreshes our claim; says whether another process asked us to stop. False when the claim is no longer ours. */
  heartbeat(): { held: boolean; stopRequested: boolean } {
    const row = this.db.prepare('UPDATE job_lock SET heartbeat_at = ? WHERE id = 1 AND owner = ? RETURNING stop_requested').get(this.now(), this.owner) as
      | { stop_requested: number }
      | undefined;
    return { held: row !== undefined, stopRequested: row?.stop_requested === 1 };
  }

  release(): void {
    this.db.prepare('DELETE FROM job_lock WHERE id = 1 AND owner = ?').run(this.owner);
  }

  /** Asks the live holder in another process to stop; returns it, or null when nobody else holds the lock. */
  requestStop(): LockHolder | null {
    return this.db
      .transaction((): LockHolder | null => {
        const holder = this.liveHolder();
        if (!holder || holder.owner === this.owner) return null;
        this.db.prepare('UPDATE job_lock SET stop_requested = 1 WHERE id = 1 AND owner = ?').run(holder.owner);
        return { ...holder, stopRequested: true };
      })
      .immediate();
  }
}

/** The refusal a second job gets, in words. */
export function describeHolder(holder: LockHolder, now = Date.now()): string {
  const since = Math.max(0, Math.round((now - holder.startedAt) / 1000));
  return `another Lookalike process (pid ${holder.pid}${holder.host ? ` on ${holder.host}` : ''}) is already running a ${holder.kind} job on this database (for ${since} s); wait for it to finish or stop it first`;
}

/**
 * Whether `pid` (on this host) is a running process. A process killed with SIGKILL stays signalable as
 * a zombie until its parent reaps it (a parent may be busy, or never wait), so on Linux its state in
 * /proc decides: a zombie (Z) or dead (X) process holds nothing.
 */
export function processAlive(pid: number): boolean {
  // kill(0) and kill(-n) signal process groups: they would say "alive" for any bad row.
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false; // no /proc (macOS, Windows): kill(0) has said what can be said
  }
  // "pid (command) state …": the command may itself contain ") ", so the state follows the last one.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}

/**
 * Keeps our claim alive while a job runs and lets a stop request from another process reach it:
 * `onStop` is called once when one arrives (or when the claim was taken over). Returns the function
 * that ends the heartbeat and releases the claim.
 */
export function holdJobLock(lock: JobLock, onStop: () => void): () => void {
  let stopped = false;
  const timer = setInterval(() => {
    let beat: { held: boolean; stopRequested: boolean };
    try {
      beat = lock.heartbeat();
    } catch {
      return; // the database is busy this moment: the next beat tries again
    }
    if ((beat.stopRequested || !beat.held) && !stopped) {
      stopped = true;
      onStop();
    }
  }, LOCK_HEARTBEAT_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    lock.release();
  };
}
