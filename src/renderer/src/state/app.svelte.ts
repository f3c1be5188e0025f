import type {
  AppStatus,
  EngineEvent,
  JobState,
  LibrarySummary,
  ModelInfo,
  PhotoItem,
  RetrievalMetrics,
  RunInfo,
  SimilarResult,
  TrainSettings,
} from '../../../shared/api';
import type { AppTransport } from '../transport';
import { Labelling } from './labelling.svelte';
import { Marks } from './marks.svelte';

export type View = 'library' | 'train' | 'similar' | 'duplicates' | 'review' | 'sort' | 'map';
export type ProgressEvent = Extract<EngineEvent, { type: 'progress' }>;

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

/** What "Find similar" was asked about: a photo of the library, or an image from outside it. */
export type SimilarQuerySource =
  | { kind: 'photo'; photoId: number; path: string; className: string | null }
  | { kind: 'file'; name: string; base64: string; previewUrl: string };

export interface Notice {
  id: number;
  message: string;
}

const FINISHED = new Set<JobState['state']>(['done', 'failed', 'stopped']);

/** How long an error notice stays before it closes by itself (Dismiss closes it sooner). */
export const NOTICE_MS = 10_000;

/**
 * The app's state and the calls that change it. Components read it and call its methods; engine
 * events flow in through `handleEvent` and nowhere else.
 */
export class AppState {
  readonly transport: AppTransport;

  view = $state<View>('library');
  ready = $state(false);
  connected = $state(true);
  status = $state.raw<AppStatus | null>(null);
  library = $state.raw<LibrarySummary | null>(null);
  job = $state.raw<JobState | null>(null);
  progress = $state.raw<ProgressEvent | null>(null);
  models = $state.raw<ModelInfo[]>([]);
  runs = $state.raw<RunInfo[]>([]);
  notices = $state<Notice[]>([]);
  opening = $state(false);
  /** The class the library grid shows; undefined: all photos. */
  classFilter = $state<number | undefined>(undefined);
  /** The photo context menu, where it was opened. */
  menu = $state.raw<{ x: number; y: number; photo: PhotoItem } | null>(null);
  /** The photo shown full size. */
  viewing = $state.raw<PhotoItem | null>(null);

  /** The run whose loss curve and epochs are shown: the live one, or one picked from the list. */
  chartRunId = $state<number | null>(null);
  /** Loss points of the shown run. Not deeply reactive (there can be many); `lossVersion` ticks on change. */
  losses: LossPoint[] = [];
  lossVersion = $state(0);
  epochs = $state.raw<EpochRow[]>([]);
  baseline = $state.raw<RetrievalMetrics | null>(null);

  similarSource = $state.raw<SimilarQuerySource | null>(null);
  similarResult = $state.raw<SimilarResult | null>(null);
  similarLoading = $state(false);
  similarError = $state<string | null>(null);
  similarK = $state(30);
  /** undefined: the engine's default (the newest trained model, else the baseline). */
  similarModelId = $state<number | undefined>(undefined);
  /** A past run's settings the person chose to use again: the settings form takes them and clears this. */
  settingsToUse = $state.raw<TrainSettings | null>(null);
  /** Set when a search started from the keyboard or a menu: the first result takes the focus when it comes. */
  focusFirstResult = $state(false);

  /** Classes chosen in the app, and the photos selected to label. */
  readonly labelling: Labelling;
  /** Results marked "not similar" to the query, used by the next training. */
  readonly marks: Marks;

  private nextNoticeId = 1;
  private similarSerial = 0;
  /** Ticks when another library is adopted: answers asked for under the one before are dropped. */
  private libraryGeneration = 0;
  /** Ticks whenever the chart is given another run: a run's history that loads after that is not shown. */
  private chartSerial = 0;
  /** Loss points of the run whose history is loading, that came while it loaded. */
  private pendingLosses: { runId: number; points: LossPoint[] } | null = null;

  constructor(transport: AppTransport) {
    this.transport = transport;
    const host = { api: transport.api, library: () => this.library, notify: (error: unknown) => this.notify(error) };
    this.labelling = new Labelling({ ...host, labelsChanged: (library) => this.labelsChanged(library) });
    this.marks = new Marks({ ...host, queryPhotoId: () => (this.similarSource?.kind === 'photo' ? this.similarSource.photoId : null) });
  }

  get defaults(): TrainSettings | null {
    return this.status?.defaults ?? null;
  }

  get training(): boolean {
    return this.job?.kind === 'train' && !FINISHED.has(this.job.state);
  }

  /** Subscribes to events and loads what the engine already has. */
  async start(): Promise<() => void> {
    const offEvents = this.transport.onEvent((event) => this.handleEvent(event));
    const offConnection = this.transport.onConnection?.((connected) => {
      const wasDown = !this.connected;
      this.connected = connected;
      // Events may have been missed while the stream was down: catch up.
      if (connected && wasDown) void this.refresh();
    });
    await this.refresh();
    this.ready = true;
    return () => {
      offEvents();
      offConnection?.();
    };
  }

  async refresh(): Promise<void> {
    try {
      const status = await this.transport.api.status();
      this.status = status;
      // Another window may have opened another library while this one was away.
      if (status.library?.libraryId !== this.library?.libraryId) this.startViewsOver();
      this.library = status.library;
      this.job = status.job;
      await this.refreshRunsAndModels();
      await this.labelling.refresh();
      const liveRun = status.job?.kind === 'train' && !FINISHED.has(status.job.state) ? status.job.runId : null;
      const shown = liveRun ?? this.chartRunId ?? this.runs[0]?.id ?? null;
      if (shown !== null) await this.showRun(shown);
    } catch (error) {
      this.notify(error);
    }
  }

  async refreshRunsAndModels(): Promise<void> {
    if (!this.library) {
      this.runs = [];
      this.models = [];
      await this.marks.refresh();
      return;
    }
    const generation = this.libraryGeneration;
    const [runs, models] = await Promise.all([this.transport.api.listRuns(), this.transport.api.listModels(), this.marks.refresh()]);
    // Asked before another library was opened (a job's end event races the open): its runs are not this library's.
    if (generation !== this.libraryGeneration) return;
    this.runs = runs;
    this.models = models;
    if (this.similarModelId !== undefined && !models.some((m) => m.id === this.similarModelId)) this.similarModelId = undefined;
  }

  handleEvent(event: EngineEvent): void {
    switch (event.type) {
      case 'job': {
        if (this.job?.kind !== event.job.kind) this.progress = null;
        this.job = event.job;
        if (event.job.kind === 'train' && event.job.runId !== null && event.job.state === 'running') {
          const runId = event.job.runId;
          if (this.chartRunId !== runId) this.resetChart(runId);
          // Once training proper starts, the run has its untrained baseline: show it before the first epoch ends.
          if (!this.baseline) {
            void this.refreshRunsAndModels()
              .then(() => {
                if (this.chartRunId === runId && !this.baseline) this.baseline = this.runs.find((r) => r.id === runId)?.baseline ?? null;
              })
              .catch((error: unknown) => this.notify(error));
          }
        }
        if (FINISHED.has(event.job.state)) {
          this.progress = null;
          if (event.job.state === 'failed' && event.job.message) this.notify(`${jobLabel(event.job)} failed: ${event.job.message}`);
          void this.refreshRunsAndModels().catch((error: unknown) => this.notify(error));
        }
        break;
      }
      case 'progress':
        this.progress = event;
        break;
      case 'loss':
        // Steps are running: whatever preparation reported before is over.
        if (this.progress && this.progress.kind !== 'train') this.progress = null;
        // Points of a run the chart has nothing of (this window came in mid-run): its stored history first, then these.
        if (this.chartRunId === null && this.pendingLosses?.runId !== event.runId) void this.showRun(event.runId).catch((error: unknown) => this.notify(error));
        if (this.pendingLosses?.runId === event.runId) this.pendingLosses.points.push({ step: event.step, epoch: event.epoch, loss: event.loss });
        if (event.runId === this.chartRunId) {
          this.losses.push({ step: event.step, epoch: event.epoch, loss: event.loss });
          this.lossVersion++;
        }
        break;
      case 'epoch':
        if (event.runId === this.chartRunId) {
          this.epochs = [...this.epochs.filter((e) => e.epoch !== event.epoch), { epoch: event.epoch, meanLoss: event.meanLoss, validation: event.validation }];
          this.baseline = event.baseline;
        }
        // The runs list shows epochs done and the last loss: keep it current as epochs finish.
        void this.refreshRunsAndModels().catch((error: unknown) => this.notify(error));
        break;
      case 'problem':
        if (this.library && !this.library.problems.some((p) => p.path === event.problem.path)) {
          this.library = { ...this.library, problems: [...this.library.problems, event.problem] };
        }
        break;
      case 'library':
        void this.adoptLibrary(event.library).catch((error: unknown) => this.notify(error));
        break;
    }
  }

  private resetChart(runId: number | null): void {
    this.chartSerial++;
    this.pendingLosses = null;
    this.chartRunId = runId;
    this.losses = [];
    this.lossVersion++;
    this.epochs = [];
    this.baseline = runId === null ? null : (this.runs.find((r) => r.id === runId)?.baseline ?? null);
  }

  /**
   * Shows a run's stored loss curve and epochs (a past run, or the live one after a reload), with the
   * live points that came while it loaded. A run given to the chart meanwhile (a started one) wins.
   */
  async showRun(runId: number): Promise<void> {
    const serial = ++this.chartSerial;
    const pending = { runId, points: [] as LossPoint[] };
    this.pendingLosses = pending;
    try {
      const history = await this.transport.api.runHistory({ runId });
      if (serial !== this.chartSerial) return;
      const lastStored = history.losses.at(-1)?.step ?? -Infinity;
      this.chartRunId = runId;
      this.losses = [...history.losses, ...pending.points.filter((p) => p.step > lastStored)];
      this.lossVersion++;
      this.epochs = history.epochs;
      this.baseline = this.runs.find((r) => r.id === runId)?.baseline ?? null;
    } finally {
      if (this.pendingLosses === pending) this.pendingLosses = null;
    }
  }

  async openLibrary(root: string): Promise<boolean> {
    if (this.opening) return false;
    this.opening = true;
    try {
      await this.adoptLibrary(await this.transport.api.openLibrary({ root }));
      return true;
    } catch (error) {
      this.notify(error);
      return false;
    } finally {
      this.opening = false;
    }
  }

  /**
   * A library summary from a call or an event (the menu's Open, a re-scan after the folder changed).
   * Another library starts the views over; the same one only updates counts and lists.
   */
  private async adoptLibrary(summary: LibrarySummary): Promise<void> {
    const another = this.library?.libraryId !== summary.libraryId;
    if (another) this.startViewsOver();
    this.library = summary;
    await this.refreshRunsAndModels();
    await this.labelling.refresh();
    if (another && this.runs[0] && this.chartRunId === null) await this.showRun(this.runs[0].id);
  }

  /** Labels changed the open library's classes: a filter on a class gone is dropped, and the results are asked again under the new classes. */
  private labelsChanged(library: LibrarySummary): void {
    this.library = library;
    if (this.classFilter !== undefined && !library.classes.some((c) => c.id === this.classFilter)) this.classFilter = undefined;
    if (this.similarResult) void this.runSimilar();
  }

  /** Another library: nothing of the one before stays on any view (runs, chart, models, query, selections). */
  private startViewsOver(): void {
    this.libraryGeneration++;
    this.runs = [];
    this.models = [];
    this.classFilter = undefined;
    this.resetChart(null);
    this.similarSource = null;
    this.similarResult = null;
    this.similarError = null;
    this.similarModelId = undefined;
    this.labelling.grid.clear();
    this.labelling.results.clear();
    this.labelling.map.clear();
  }

  async findSimilarTo(source: SimilarQuerySource): Promise<void> {
    if (this.similarSource?.kind === 'file' && this.similarSource !== source) URL.revokeObjectURL(this.similarSource.previewUrl);
    // Another query: the old results must not stand under it while the new ones come.
    if (this.similarSource !== source) this.similarResult = null;
    this.similarSource = source;
    this.view = 'similar';
    await this.runSimilar();
  }

  findSimilarToPhoto(photo: PhotoItem): Promise<void> {
    return this.findSimilarTo({ kind: 'photo', photoId: photo.id, path: photo.path, className: photo.className });
  }

  /** Asks again with the current query, k and model; a newer request wins over an older one. */
  async runSimilar(): Promise<void> {
    const source = this.similarSource;
    if (!source) return;
    const serial = ++this.similarSerial;
    this.similarLoading = true;
    this.similarError = null;
    try {
      const k = this.similarK;
      const modelId = this.similarModelId;
      const result =
        source.kind === 'photo'
          ? await this.transport.api.findSimilar({ photoId: source.photoId, k, modelId })
          : await this.transport.api.findSimilar({ imageBase64: source.base64, fileName: source.name, k, modelId });
      // The query's marks first, so its tiles never show with another query's.
      if (serial === this.similarSerial) await this.marks.refresh().catch((error: unknown) => this.notify(error));
      if (serial === this.similarSerial) this.similarResult = result;
    } catch (error) {
      if (serial === this.similarSerial) {
        this.similarError = messageOf(error);
        this.similarResult = null;
      }
    } finally {
      if (serial === this.similarSerial) this.similarLoading = false;
    }
  }

  notify(error: unknown): void {
    const message = messageOf(error);
    if (this.notices.some((n) => n.message === message)) return;
    const id = this.nextNoticeId++;
    this.notices.push({ id, message });
    setTimeout(() => this.dismiss(id), NOTICE_MS);
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
  }
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function jobLabel(job: Pick<JobState, 'kind'>): string {
  return { scan: 'Reading the folder', features: 'Analysing photos', train: 'Training', index: 'Indexing', audit: 'Checking labels' }[job.kind];
}
