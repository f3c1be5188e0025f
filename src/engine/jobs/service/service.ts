import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ApiHandlers, BackendInfo, EngineEvent, PhotoSize } from '../../../shared/api.js';
import { DEFAULT_SETTINGS } from '../../../shared/settings.js';
import { selectBackend } from '../../ml/runtime/compute-backend.js';
import { expectedRuntime } from '../../ml/backbone/onnx-backbone.js';
import { defaultDbPath, isStrictlyInside, userCacheDir, userDataDir } from '../../common/paths.js';
import { errorInWords } from '../../common/error-words.js';
import { watchFolder } from '../../library/folder-watch.js';
import { thumbnailFile } from '../../library/thumbnails.js';
import { Store } from '../../store/store.js';
import { indexAll } from '../door.js';
import { openLibrary } from '../library/library-sync.js';
import type { EngineService, EngineServiceOptions } from './service-contract.js';
import { JobRunner, jobClaimOf } from './job-runner.js';
import { LibraryFiles } from './library-files.js';
import { LibraryWatcher, systemClock, type Clock, type LibraryWatcherParts } from './library-watcher.js';
import { LiveLosses } from './live-losses.js';
import { OpenLibrary, type OpenedLibrary, type ServiceParts } from './service-parts.js';
import { libraryHandlers } from './handlers-library.js';
import { trainingHandlers } from './handlers-training.js';
import { modelHandlers } from './handlers-models.js';
import { labelHandlers } from './handlers-labels.js';
import { duplicateHandlers } from './handlers-duplicates.js';
import { curationHandlers } from './handlers-curation.js';

export type { EngineService, EngineServiceOptions } from './service-contract.js';

/** What the service takes from the machine, passed in so that a test can give fakes. */
export interface ServiceEnvironment {
  clock: Clock;
  /** Watches the library's folder (folder-watch.ts). */
  watch: LibraryWatcherParts['watch'];
  /** The compute backend, as the status shows it. */
  backend: () => Promise<BackendInfo | null>;
}

const MACHINE: ServiceEnvironment = { clock: systemClock, watch: watchFolder, backend: describeBackend };

/**
 * The handler table behind both transports, made of parts: a job runner (one long job at a time:
 * scan, features, training, indexing, audit; its progress streams as events), the library's files
 * (one scan or batch of moves at a time), a watcher of the library's folder, and handlers grouped by
 * feature. Bad input is refused before any work starts.
 */
export async function createEngineService(options: EngineServiceOptions = {}, environment: Partial<ServiceEnvironment> = {}): Promise<EngineService> {
  const store = Store.open(options.dbPath ?? defaultDbPath());
  const cacheDir = options.cacheDir ?? userCacheDir();
  /** Never indexed, even when they sit inside the library. */
  const appFolders = [cacheDir, userDataDir()];
  const events = new EventEmitter();
  const liveLosses = new LiveLosses();
  const parts = assembleParts(store, appFolders, { ...MACHINE, ...environment }, (event) => {
    liveLosses.observe(event);
    parts.watcher.observe(event);
    events.emit('event', event);
  });
  const handlers: ApiHandlers = {
    ...libraryHandlers(parts),
    ...trainingHandlers({ ...parts, liveLosses }),
    ...modelHandlers(parts),
    ...labelHandlers(parts),
    ...duplicateHandlers(parts),
    ...curationHandlers(parts),
  };
  const { library } = parts;

  const service: EngineService = {
    handlers: inWords(handlers, store.path),
    subscribe(listener) {
      events.on('event', listener);
      return () => events.off('event', listener);
    },
    async photoFile(photoId: number, size: PhotoSize) {
      if (library.id === null || library.root === null || !Number.isInteger(photoId)) return null;
      const photo = store.photo(photoId);
      if (!photo || photo.libraryId !== library.id) return null;
      const file = await realpath(resolve(library.root, photo.relPath)).catch(() => null);
      if (!file || !isStrictlyInside(file, library.root)) return null;
      return size === 'thumb' ? thumbnailFile(file, cacheDir) : file;
    },
    libraryRoot: () => library.root,
    async close() {
      parts.watcher.close();
      await parts.files.close();
      await parts.runner.stop();
      events.removeAllListeners();
      store.close();
    },
  };

  const reopen = options.libraryRoot ?? (options.reopenLast === false ? null : store.recentLibraryRoot());
  if (reopen && existsSync(reopen)) {
    await handlers.openLibrary({ root: reopen }).catch((error: Error) => parts.emit({ type: 'problem', problem: { path: reopen, reason: error.message } }));
  }
  return service;
}

/** The parts over one store, wired to each other: the runner refuses jobs while files move, the watcher waits for both. */
function assembleParts(store: Store, appFolders: string[], { clock, watch, backend }: ServiceEnvironment, emit: (event: EngineEvent) => void): ServiceParts {
  const library = new OpenLibrary();
  const claim = jobClaimOf(store.jobLock);
  const runner = new JobRunner({ claim, emit, describe: (error) => errorInWords(error, { dbPath: store.path }), mayStart: () => files.refuseWhileBusy() });
  const startJob: ServiceParts['startJob'] = (kind, runId, work) => runner.start(kind, runId, (control) => work({ store, emit, control }));

  /**
   * Makes the open library searchable without waiting for training: backbone features, the
   * untrained model, and every stored model brought up to date. With `rescan`, the folder is read
   * again first (photos added, edited, moved or deleted while the app was open).
   */
  const index = (id: number, rescan = false) =>
    runner.startQuietly(() =>
      startJob('index', null, async (ctx) => {
        const { features, broken } = await indexAll(ctx, id, { backbone: DEFAULT_SETTINGS.backbone, rescan, appFolders });
        if (ctx.control?.isStopped) return 'indexing paused';
        const cannotRun = broken.length ? `; ${broken.length} model${broken.length === 1 ? '' : 's'} could not run (see Models in the Library)` : '';
        return `${features.computed} photos analysed, ${features.cached} already known${cannotRun}`;
      }),
    );

  const files: LibraryFiles<OpenedLibrary> = new LibraryFiles({
    claim,
    runner,
    scan: (folder) => openLibrary({ store, emit }, folder, { appFolders }),
    libraryRoot: (id) => store.libraryRoot(id),
    onRescanned: () => watcher.forgetPending(),
    indexInBackground: (id) => index(id),
  });
  const watcher = new LibraryWatcher({
    watch,
    clock,
    busy: () => runner.state !== null || files.busy,
    rescan: () => library.id !== null && index(library.id, true),
    onError: (root, reason) => emit({ type: 'problem', problem: { path: root, reason } }),
  });
  return { store, emit, library, runner, files, watcher, startJob, index, backend };
}

async function describeBackend(): Promise<BackendInfo | null> {
  const backend = await selectBackend().catch(() => null);
  return backend ? { name: backend.name, reason: backend.reason, gpu: backend.gpu, backboneRuntime: await expectedRuntime(backend), adapter: backend.adapter ?? null } : null;
}

/** The same handlers, whose system errors (SQLite, errno) are said in words naming the file; our own errors pass as they are. */
function inWords(handlers: ApiHandlers, dbPath: string): ApiHandlers {
  const wrapped: Record<string, (arg: never) => Promise<unknown>> = {};
  for (const [name, handler] of Object.entries(handlers) as Array<[string, (arg: never) => Promise<unknown>]>) {
    wrapped[name] = async (arg) => {
      try {
        return await handler(arg);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code !== 'string') throw error;
        throw new Error(errorInWords(error, { dbPath }));
      }
    };
  }
  return wrapped as unknown as ApiHandlers;
}
