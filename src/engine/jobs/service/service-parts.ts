import type { BackendInfo, EngineEvent, JobKind, JobState, LibrarySummary } from '../../../shared/api.js';
import { conflict } from '../../../shared/errors.js';
import type { Store } from '../../store/store.js';
import type { JobContext } from '../job-context.js';
import type { JobRunner } from './job-runner.js';
import type { LibraryFiles } from './library-files.js';
import type { LibraryWatcher } from './library-watcher.js';

/** The library open in the app, if any: every handler but a few needs one. */
export class OpenLibrary {
  id: number | null = null;
  root: string | null = null;

  require(): number {
    if (this.id === null) throw conflict('open a library folder first');
    return this.id;
  }
}

/** What the scan that opens a library gives back (pipeline's openLibrary). */
export interface OpenedLibrary {
  libraryId: number;
  summary: LibrarySummary;
}

/** What the handler groups are made of: each takes the parts it needs, so that a test can pass fakes. */
export interface ServiceParts {
  store: Store;
  emit: (event: EngineEvent) => void;
  library: OpenLibrary;
  runner: JobRunner;
  files: LibraryFiles<OpenedLibrary>;
  watcher: LibraryWatcher;
  /** Starts a job whose work gets the store, the event stream and its control. */
  startJob: (kind: JobKind, runId: number | null, work: (ctx: JobContext) => Promise<string | null>) => JobState;
  /** Brings the library's index up to date in the background (`rescan`: reading its folder again first); a refusal is said as an event. */
  index: (libraryId: number, rescan?: boolean) => void;
  /** The compute backend, as the status shows it; null when none works. */
  backend: () => Promise<BackendInfo | null>;
}
