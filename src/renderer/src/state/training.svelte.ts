import type { EngineEvent, RetrievalMetrics, RunInfo, TrainSettings } from '../../../shared/api';
import type { FeatureHost } from './feature-host';

export interface EpochRow {
  epoch: number;
  meanLoss: number;
  validation: RetrievalMetrics;
}

export interface LossPoint {
  step: number;
  epoch: number;
  loss: number;
}

type LossEvent = Extract<EngineEvent, { type: 'loss' }>;
type EpochEvent = Extract<EngineEvent, { type: 'epoch' }>;

export interface RunChartHost extends Pick<FeatureHost, 'api' | 'notify'> {
  /** The open library's runs, newest first, as last loaded. */
  runs(): readonly RunInfo[];
  /** Loads the runs list again. */
  refreshRuns(): Promise<void>;
}

/**
 * The Train view's run chart: the run whose loss curve and epochs are shown (the live one, or one
 * picked from the list), and a past run's settings the person chose to use again.
 */
export class RunChart {
  runId = $state<number | null>(null);
  /** Loss points of the shown run. Not deeply reactive (there can be many); `lossVersion` ticks on change. */
  losses: LossPoint[] = [];
  lossVersion = $state(0);
  epochs = $state.raw<EpochRow[]>([]);
  baseline = $state.raw<RetrievalMetrics | null>(null);
  /** A past run's settings the person chose to use again: the settings form takes them and clears this. */
  settingsToUse = $state.raw<TrainSettings | null>(null);

  /** Ticks whenever the chart is given another run: a run's history that loads after that is not shown. */
  private serial = 0;
  /** Loss points of the run whose history is loading, that came while it loaded. */
  private pendingLosses: { runId: number; points: LossPoint[] } | null = null;

  constructor(private readonly host: RunChartHost) {}

  /**
   * Shows a run's stored loss curve and epochs (a past run, or the live one after a reload), with the
   * live points that came while it loaded. A run given to the chart meanwhile (a started one) wins.
   */
  async showRun(runId: number): Promise<void> {
    const serial = ++this.serial;
    const pending = { runId, points: [] as LossPoint[] };
    this.pendingLosses = pending;
    try {
      const history = await this.host.api.runHistory({ runId });
      if (serial !== this.serial) return;
      const lastStored = history.losses.at(-1)?.step ?? -Infinity;
      this.runId = runId;
      this.losses = [...history.losses, ...pending.points.filter((p) => p.step > lastStored)];
      this.lossVersion++;
      this.epochs = history.epochs;
      this.baseline = this.baselineOf(runId);
    } finally {
      if (this.pendingLosses === pending) this.pendingLosses = null;
    }
  }

  /** After a (re)load: the live run, else the one shown, else the newest. */
  async showCurrent(liveRunId: number | null): Promise<void> {
    const shown = liveRunId ?? this.runId ?? this.host.runs()[0]?.id ?? null;
    if (shown !== null) await this.showRun(shown);
  }

  /** Another library was opened: its newest run, unless the chart was given one meanwhile. */
  async showNewestIfNone(): Promise<void> {
    const newest = this.host.runs()[0];
    if (newest && this.runId === null) await this.showRun(newest.id);
  }

  /** A training job runs `runId`: the chart follows it, with its untrained baseline as soon as the run has one. */
  followLiveRun(runId: number): void {
    if (this.runId !== runId) this.reset(runId);
    // Once training proper starts, the run has its baseline: show it before the first epoch ends.
    if (this.baseline) return;
    void this.host
      .refreshRuns()
      .then(() => {
        if (this.runId === runId && !this.baseline) this.baseline = this.baselineOf(runId);
      })
      .catch((error: unknown) => this.host.notify(error));
  }

  addLoss(event: LossEvent): void {
    const point = { step: event.step, epoch: event.epoch, loss: event.loss };
    // Points of a run the chart has nothing of (this window came in mid-run): its stored history first, then these.
    if (this.runId === null && this.pendingLosses?.runId !== event.runId) void this.showRun(event.runId).catch((error: unknown) => this.host.notify(error));
    if (this.pendingLosses?.runId === event.runId) this.pendingLosses.points.push(point);
    if (event.runId === this.runId) {
      this.losses.push(point);
      this.lossVersion++;
    }
  }

  addEpoch(event: EpochEvent): void {
    if (event.runId !== this.runId) return;
    this.epochs = [...this.epochs.filter((e) => e.epoch !== event.epoch), { epoch: event.epoch, meanLoss: event.meanLoss, validation: event.validation }];
    this.baseline = event.baseline;
  }

  /** Another library: no run of the one before stays on the chart. */
  clear(): void {
    this.reset(null);
  }

  private reset(runId: number | null): void {
    this.serial++;
    this.pendingLosses = null;
    this.runId = runId;
    this.losses = [];
    this.lossVersion++;
    this.epochs = [];
    this.baseline = runId === null ? null : this.baselineOf(runId);
  }

  private baselineOf(runId: number): RetrievalMetrics | null {
    return this.host.runs().find((r) => r.id === runId)?.baseline ?? null;
  }
}
