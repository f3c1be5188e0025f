import type { EngineEvent } from '../../../shared/api.js';

export interface LossPoint {
  step: number;
  epoch: number;
  loss: number;
}

/**
 * The loss points of the running run's unfinished epoch. The store records a run's points only when
 * their epoch ends, so a window that comes back mid-epoch would otherwise draw a curve with a gap up
 * to the step it rejoined at (and its epoch mark there).
 */
export class LiveLosses {
  private runId: number | null = null;
  private points: LossPoint[] = [];

  observe(event: EngineEvent): void {
    if (event.type === 'loss') {
      if (event.runId !== this.runId) [this.runId, this.points] = [event.runId, []];
      this.points.push({ step: event.step, epoch: event.epoch, loss: event.loss });
    } else if (event.type === 'epoch' && event.runId === this.runId) {
      // That epoch's points are stored now.
      this.points = this.points.filter((p) => p.epoch > event.epoch);
    } else if (event.type === 'job' && event.job.kind === 'train' && event.job.runId === this.runId && ['done', 'failed', 'stopped'].includes(event.job.state)) {
      // An unfinished epoch is not kept: a resumed run repeats it.
      [this.runId, this.points] = [null, []];
    }
  }

  /** A run's stored points followed by the live ones past them. */
  history(runId: number, stored: LossPoint[]): LossPoint[] {
    if (runId !== this.runId) return stored;
    const last = stored.at(-1)?.step ?? -Infinity;
    return [...stored, ...this.points.filter((p) => p.step > last)];
  }
}
