import { conflict } from '../../../shared/errors.js';
import { describeHolder } from '../../store/job-lock.js';
import type { MoveOptions } from '../files/file-moves.js';
import type { JobClaim, JobRunner } from './job-runner.js';

/** What moves files of the library, as the job lock names it to another process ("… is already running a label write job"). */
export const LABEL_WRITE = 'label write';
export const LABEL_WRITE_UNDO = 'label write undo';
export const PHOTOS_MOVE = 'photo move';
export const PHOTOS_MOVE_UNDO = 'photo move undo';
const MOVING_KINDS = new Set([LABEL_WRITE, LABEL_WRITE_UNDO, PHOTOS_MOVE, PHOTOS_MOVE_UNDO]);
/** Opening a library: the same word the CLI's scan uses. */
const LIBRARY_SCAN = 'scan';

export interface LibraryFilesParts<Scanned> {
  claim: JobClaim;
  runner: Pick<JobRunner, 'state' | 'training' | 'stop' | 'refuseIfOtherProcessRuns' | 'otherProcessHolder'>;
  /** Reads a library's folder (pipeline's openLibrary): to open it, and after moves so that its rows follow them. */
  scan: (folder: string) => Promise<Scanned>;
  libraryRoot: (libraryId: number) => string;
  /** The rescan after moves saw every change the folder watch was holding. */
  onRescanned: () => void;
  /** Brings the library's index up to date in the background (stopped for the moves, or asked for meanwhile). */
  indexInBackground: (libraryId: number) => void;
}

/**
 * Who reads or moves the library's files now, one at a time: the scan that opens it, or a batch of
 * moves (writing labels to folders, its undo, moving photos out, its undo). Moves run never under a
 * training run (it would stop it: refused, saying so), and under the database's job lock from before
 * the first move to the end of the rescan after the last, so that no scan (the folder watch, `lookalike
 * scan` in another process) sees half the moves and gives moved photos new ids. Background indexing
 * is paused meanwhile and resumed after. Closing waits for the move in flight and stops the batch
 * before its next move (the journal says how far it got).
 */
export class LibraryFiles<Scanned> {
  private busyWith: string | null = null;
  /** A model was imported while files moved: it is indexed when they are done. */
  private indexAfterMove = false;
  private moving: Promise<unknown> | null = null;
  private closing = false;
  readonly moveOptions: MoveOptions = { shouldStop: () => this.closing };

  constructor(private readonly parts: LibraryFilesParts<Scanned>) {}

  get busy(): boolean {
    return this.busyWith !== null;
  }

  refuseWhileBusy(): void {
    if (this.busyWith) throw conflict(`the ${this.busyWith} is going; wait for it to finish`);
  }

  /** Label changes wait for files moving here or in another process: the move follows the labels it was previewed with. */
  refuseWhileAnyMove(): void {
    this.refuseWhileBusy();
    const holder = this.parts.runner.otherProcessHolder();
    if (holder && MOVING_KINDS.has(holder.kind)) throw conflict(describeHolder(holder));
  }

  /** Indexes the library once the files in the way are done. */
  indexWhenDone(): void {
    this.indexAfterMove = true;
  }

  /** Moves files of library `libraryId` (`what`: one of the kinds above), rescans it, and answers with `reply`. */
  async move<T, R>(libraryId: number, what: string, move: (id: number) => Promise<T>, reply: (id: number, value: T) => R): Promise<R> {
    if (this.closing) throw conflict('Lookalike is closing');
    // Checked and claimed before the first await: two moves arriving together cannot both pass.
    this.refuseWhileBusy();
    const { runner, claim } = this.parts;
    if (runner.training) throw conflict(`a training run is going and the ${what} would stop it; wait for it to finish or stop it first`);
    runner.refuseIfOtherProcessRuns();
    this.busyWith = what;
    const wasIndexing = runner.state !== null;
    const running = (async () => {
      try {
        await runner.stop();
        const holder = claim.claim(what);
        if (holder) throw conflict(describeHolder(holder));
        // A stop asked from another process cannot cut a move short: the lock is given back when it is done.
        const release = claim.hold(() => undefined);
        let value: T;
        try {
          value = await move(libraryId);
        } finally {
          try {
            if (!this.closing) await this.parts.scan(this.parts.libraryRoot(libraryId));
          } finally {
            this.parts.onRescanned();
            release();
          }
        }
        return reply(libraryId, value); // before close() may close the store: it waits for this
      } finally {
        this.busyWith = null;
        if (!this.closing && (wasIndexing || this.indexAfterMove)) this.parts.indexInBackground(libraryId);
        this.indexAfterMove = false;
      }
    })();
    this.moving = running;
    try {
      return await running;
    } finally {
      this.moving = null;
    }
  }

  /**
   * The scan that opens a library (the job running is stopped first), under the job lock when it is
   * free, so that no other process moves files meanwhile; refused while another process moves files
   * (the scan would see half the moves). Another process's indexing or training does not stop it.
   */
  async scanToOpen(folder: string): Promise<Scanned> {
    this.refuseWhileBusy();
    this.busyWith = LIBRARY_SCAN;
    try {
      await this.parts.runner.stop();
      const { claim } = this.parts;
      const holder = claim.claim(LIBRARY_SCAN);
      if (holder && MOVING_KINDS.has(holder.kind)) throw conflict(describeHolder(holder));
      const release = holder ? () => undefined : claim.hold(() => undefined);
      try {
        return await this.parts.scan(folder);
      } finally {
        release();
      }
    } finally {
      this.busyWith = null;
      this.indexAfterMove = false; // the caller starts indexing
    }
  }

  /** No move starts from now; waits for the one in flight, which stops before its next file. */
  async close(): Promise<void> {
    this.closing = true;
    await this.moving?.catch(() => undefined);
  }
}
