/** Pause, resume and stop for a long job; the job polls it between steps. */
export class JobControl {
  private paused = false;
  private stopped = false;
  /** Wake-ups of the checkpoints waiting now: a job of several threads waits at one per thread. */
  private readonly waiting = new Set<() => void>();
  private readonly heldListeners: Array<() => void> = [];
  private pausedTotalMs = 0;

  /** Time spent waiting while paused, so far: estimates of time left leave it out. */
  get pausedMs(): number {
    return this.pausedTotalMs;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  pause(): void {
    if (!this.stopped) this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.wakeAll();
  }

  stop(): void {
    this.stopped = true;
    this.paused = false;
    this.wakeAll();
  }

  /**
   * Resolves when the job waits at a checkpoint while paused (at once if it waits now): from then
   * until resume or stop it does nothing more. A job of several threads: when the first one waits.
   */
  held(): Promise<void> {
    if (this.waiting.size > 0) return Promise.resolve();
    return new Promise((resolve) => this.heldListeners.push(resolve));
  }

  /** Resolves at once unless paused; then when resumed or stopped. Yields to the event loop either way. */
  async checkpoint(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const since = Date.now();
    while (this.paused && !this.stopped) {
      await new Promise<void>((resolve) => {
        this.waiting.add(resolve);
        for (const listener of this.heldListeners.splice(0)) listener();
      });
    }
    this.pausedTotalMs += Date.now() - since;
  }

  private wakeAll(): void {
    for (const wake of this.waiting) wake();
    this.waiting.clear();
  }
}

/**
 * Milliseconds since it was made, less the time the job spent paused since then: what rates and
 * estimates of time left are computed from, so a paused job does not look slow after Resume.
 */
export function activeClock(control?: JobControl): () => number {
  const started = Date.now();
  const pausedBefore = control?.pausedMs ?? 0;
  return () => Date.now() - started - ((control?.pausedMs ?? 0) - pausedBefore);
}
