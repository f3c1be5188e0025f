/** Pause, resume and stop for a long job; the job polls it between steps. */
export class JobControl {
  private paused = false;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
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
    this.wakeUp?.();
  }

  stop(): void {
    this.stopped = true;
    this.paused = false;
    this.wakeUp?.();
  }

  /** Resolves at once unless paused; then when resumed or stopped. Yields to the event loop either way. */
  async checkpoint(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    const since = Date.now();
    while (this.paused && !this.stopped) {
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
      });
      this.wakeUp = undefined;
    }
    this.pausedTotalMs += Date.now() - since;
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
