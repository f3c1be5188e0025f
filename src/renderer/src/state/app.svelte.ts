import type { AppStatus, EngineEvent, JobState, LibrarySummary, ModelInfo, PhotoItem, RunInfo, TrainSettings } from '../../../shared/api';
import type { AppTransport } from '../transport';
import { Labelling } from './labelling.svelte';
import { Marks } from './marks.svelte';
import { messageOf } from './messages';
import { FindSimilar } from './similar.svelte';
import { RunChart } from './training.svelte';

export { messageOf };

export type View = 'library' | 'train' | 'similar' | 'duplicates' | 'review' | 'sort' | 'map';
export type ProgressEvent = Extract<EngineEvent, { type: 'progress' }>;

export interface Notice {
  id: number;
  message: string;
}

const FINISHED = new Set<JobState['state']>(['done', 'failed', 'stopped']);

/** How long an error notice stays before it closes by itself (Dismiss closes it sooner). */
export const NOTICE_MS = 10_000;

/**
 * The app-wide state (view, connection, status, library, job, models, runs, notices) and the feature
 * stores. Components read them and call their methods; engine events flow in through `handleEvent`
 * and nowhere else, which passes each on to the stores that care.
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

  /** Classes chosen in the app, and the photos selected to label. */
  readonly labelling: Labelling;
  /** Results marked "not similar" to the query, used by the next training. */
  readonly marks: Marks;
  /** Find similar's query and answer. */
  readonly similar: FindSimilar;
  /** The Train view's chart of the shown run. */
  readonly chart: RunChart;

  private nextNoticeId = 1;
  /** Ticks when another library is adopted: answers asked for under the one before are dropped. */
  private libraryGeneration = 0;

  constructor(transport: AppTransport) {
    this.transport = transport;
    const engine = { api: transport.api, notify: (error: unknown) => this.notify(error) };
    const host = { ...engine, library: () => this.library };
    this.labelling = new Labelling({ ...host, labelsChanged: (library) => this.labelsChanged(library) });
    this.marks = new Marks({ ...host, queryPhotoId: () => this.similar.queryPhotoId });
    this.similar = new FindSimilar({
      ...engine,
      refreshMarks: () => this.marks.refresh(),
      show: () => {
        this.view = 'similar';
      },
    });
    this.chart = new RunChart({ ...engine, runs: () => this.runs, refreshRuns: () => this.refreshRunsAndModels() });
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
      await this.chart.showCurrent(status.job?.kind === 'train' && !FINISHED.has(status.job.state) ? status.job.runId : null);
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
    this.similar.modelsChanged(models);
  }

  handleEvent(event: EngineEvent): void {
    switch (event.type) {
      case 'job':
        this.jobChanged(event.job);
        break;
      case 'progress':
        this.progress = event;
        break;
      case 'loss':
        // Steps are running: whatever preparation reported before is over.
        if (this.progress && this.progress.kind !== 'train') this.progress = null;
        this.chart.addLoss(event);
        break;
      case 'epoch':
        this.chart.addEpoch(event);
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

  private jobChanged(job: JobState): void {
    if (this.job?.kind !== job.kind) this.progress = null;
    this.job = job;
    if (job.kind === 'train' && job.runId !== null && job.state === 'running') this.chart.followLiveRun(job.runId);
    if (FINISHED.has(job.state)) {
      this.progress = null;
      if (job.state === 'failed' && job.message) this.notify(`${jobLabel(job)} failed: ${job.message}`);
      void this.refreshRunsAndModels().catch((error: unknown) => this.notify(error));
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
    if (another) await this.chart.showNewestIfNone();
  }

  /** Labels changed the open library's classes: a filter on a class gone is dropped, and the results are asked again under the new classes. */
  private labelsChanged(library: LibrarySummary): void {
    this.library = library;
    if (this.classFilter !== undefined && !library.classes.some((c) => c.id === this.classFilter)) this.classFilter = undefined;
    this.similar.refreshResults();
  }

  /** Another library: nothing of the one before stays on any view (runs, chart, models, query, selections). */
  private startViewsOver(): void {
    this.libraryGeneration++;
    this.runs = [];
    this.models = [];
    this.classFilter = undefined;
    this.chart.clear();
    this.similar.clear();
    this.labelling.grid.clear();
    this.labelling.results.clear();
    this.labelling.map.clear();
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

export function jobLabel(job: Pick<JobState, 'kind'>): string {
  return { scan: 'Reading the folder', features: 'Analysing photos', train: 'Training', index: 'Indexing', audit: 'Checking labels' }[job.kind];
}
