/** Pause, resume and stop for a long job; the job polls it between steps. */
export class JobControl {
  private paused = false;
  private stopped = false;
  private wakeUp: (() => void) | undefined;

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
    while (this.paused && !this.stopped) {
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
      });
      this.wakeUp = undefined;
    }
  }
}
