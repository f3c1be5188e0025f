import type { EngineEvent } from '../../../shared/api.js';
import type { FolderWatchEvents } from '../../library/folder-watch.js';

/** How long the folder must be quiet before a change is acted on (a copy of many photos is one change). */
export const WATCH_SETTLE_MS = 1500;

/** Timers, passed in so that a test can run them by hand. */
export interface Clock {
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const systemClock: Clock = {
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

export interface LibraryWatcherParts {
  /** Starts watching a folder; returns the function that stops (folder-watch.ts's watchFolder). */
  watch: (root: string, events: FolderWatchEvents) => () => void;
  clock: Clock;
  /** True while a job runs or files move: a change then waits until it ends. */
  busy: () => boolean;
  /** Reads the library's folder again and indexes what changed. */
  rescan: () => void;
  /** Watching stopped or could not start, in words. */
  onError: (root: string, reason: string) => void;
  settleMs?: number;
}

/**
 * Folder changes while the app is open are picked up once they settle: at once when nothing runs,
 * else when the job or the file moves in the way end (see observe).
 */
export class LibraryWatcher {
  private stopWatching: (() => void) | null = null;
  private settle: unknown;
  private afterJob: unknown;
  private pending = false;
  private closed = false;

  constructor(private readonly parts: LibraryWatcherParts) {}

  watch(root: string): void {
    this.stopWatching?.();
    this.stopWatching = this.parts.watch(root, { onChange: () => this.changed(), onError: (reason) => this.parts.onError(root, reason) });
  }

  /** A change is waiting for the job in the way to end (a model imported while one ran counts as one). */
  notePending(): void {
    this.pending = true;
  }

  /** What waited was seen by a rescan made anyway (the one after file moves). */
  forgetPending(): void {
    this.pending = false;
  }

  /** Every engine event passes here: a job that ended lets a waiting change through. */
  observe(event: EngineEvent): void {
    if (this.closed || event.type !== 'job' || ['running', 'paused', 'stopping'].includes(event.job.state) || !this.pending) return;
    this.pending = false;
    // The runner forgets its job just after saying that it ended.
    this.afterJob = this.parts.clock.setTimeout(() => !this.parts.busy() && this.parts.rescan(), 0);
  }

  /** Stops watching for good: the job stopped by closing lets nothing through. */
  close(): void {
    this.closed = true;
    this.parts.clock.clearTimeout(this.settle);
    this.parts.clock.clearTimeout(this.afterJob);
    this.stopWatching?.();
    this.stopWatching = null;
  }

  private changed(): void {
    this.parts.clock.clearTimeout(this.settle);
    this.settle = this.parts.clock.setTimeout(() => {
      if (this.parts.busy()) this.pending = true;
      else this.parts.rescan();
    }, this.parts.settleMs ?? WATCH_SETTLE_MS);
  }
}
