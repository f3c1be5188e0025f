import type { FineTuneMode, TrainSettings } from '../../../shared/api.js';
import { activeClock, type JobControl } from '../../common/job-control.js';
import type { TrainOptions } from '../../ml/training/trainer.js';
import type { PhaseRate, RatePhase } from '../../store/run-rates.js';

/**
 * The speed of each phase of one training run, measured as it runs (active time: pauses left out)
 * and stored with the run, finished or stopped, so the Train form can say what the next run costs.
 */
export class PhaseRates {
  private readonly measured = new Map<string, PhaseRate>();

  constructor(private readonly control?: JobControl) {}

  /**
   * Times `work`, which counts what it does as it goes; what was counted is kept even when the work
   * is stopped or fails partway (a stopped run's speed is as true as a finished one's).
   */
  async measure<T>(phase: RatePhase, variant: string, work: (count: (items: number) => void) => Promise<T>): Promise<T> {
    const clock = activeClock(this.control);
    let items = 0;
    try {
      return await work((n) => (items += n));
    } finally {
      this.add({ phase, variant, items, seconds: clock() / 1000 });
    }
  }

  /** The phases that did something, each once (a phase run twice in a run is summed). */
  get all(): PhaseRate[] {
    return [...this.measured.values()];
  }

  private add(rate: PhaseRate): void {
    if (rate.items <= 0 || rate.seconds <= 0) return;
    const key = `${rate.phase}\n${rate.variant}`;
    const before = this.measured.get(key);
    this.measured.set(key, before ? { ...rate, items: before.items + rate.items, seconds: before.seconds + rate.seconds } : rate);
  }
}

/** The trainer's options with each step counted as a full batch of triplets (as the estimate counts them). */
export function countingTriplets(options: TrainOptions, batchSize: number, count: (items: number) => void): TrainOptions {
  return {
    ...options,
    onStep: (step) => {
      count(batchSize);
      options.onStep?.(step);
    },
  };
}

/** What a mode's block training and embedding speed depend on: the mode, and for last-blocks the blocks trained. */
export function modeVariant(settings: Pick<TrainSettings, 'fineTune' | 'fineTuneBlocks'>): string {
  const mode: FineTuneMode = settings.fineTune;
  return mode === 'last-blocks' ? `last-blocks:${settings.fineTuneBlocks}` : mode;
}
