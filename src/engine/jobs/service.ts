import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ApiHandlers, EngineEvent, JobKind, JobState, PhotoSize, RunInfo, TrainSettings } from '../../shared/api.js';
import { conflict, invalidInput, notFound } from '../../shared/errors.js';
import { selectBackend } from '../ml/compute-backend.js';
import { JobControl } from '../common/job-control.js';
import { expectedRuntime } from '../ml/onnx-backbone.js';
import { defaultDbPath, isStrictlyInside, typedFolderPath, userCacheDir, userDataDir } from '../common/paths.js';
import { defaultModel, evaluateModelInDetail, findSimilar, indexAll, librarySummary, openLibrary, planTraining, prepareRun, trainModel, type JobContext } from './engine.js';
import type { EngineService, EngineServiceOptions } from './service-contract.js';
import { DEFAULT_SETTINGS, resolveSettings, trainingProblem, validationK } from '../../shared/settings.js';
import { Store, type RunRow } from '../store/store.js';
import { thumbnailFile } from '../library/thumbnails.js';
import { describeHolder, holdJobLock } from '../store/job-lock.js';
import { watchFolder } from '../library/folder-watch.js';
import { changeLabels, labelsState, runClasses, undoLabels } from './labels.js';
import { checkFingerprint } from './label-change-input.js';
import { markNotSimilar, marksState, runMarks } from './marks.js';
import { previewLabelWrite, undoLabelWrite, writeLabels } from './write-labels.js';
import { duplicateEdges, groupDuplicates, type DuplicateEdges } from './duplicates.js';
import { auditLabels, confirmLabel, labelAuditState } from './label-audit.js';
import { movePhotosOut, undoMoveOut } from './move-out.js';
import type { MoveOptions } from './file-moves.js';
import { exportModel, importModel, removeModel, toModelInfo } from './model-transfer.js';
import { listFolders } from '../library/folders.js';
import { LiveLosses } from './live-losses.js';
import { MAX_PHOTO_BYTES } from '../library/photo-input.js';
import { errorInWords, formatBytes } from '../common/error-words.js';
import { rejectSuggestion, suggestClasses } from './suggest.js';
import { libraryMap } from './map.js';

export type { EngineService, EngineServiceOptions } from './service-contract.js';

const WATCH_SETTLE_MS = 1500;
/** What moves files of the library, as the job lock names it to another process ("… is already running a label write job"). */
const LABEL_WRITE = 'label write';
const LABEL_WRITE_UNDO = 'label write undo';
const PHOTOS_MOVE = 'photo move';
const PHOTOS_MOVE_UNDO = 'photo move undo';
const MOVING_KINDS = new Set([LABEL_WRITE, LABEL_WRITE_UNDO, PHOTOS_MOVE, PHOTOS_MOVE_UNDO]);
/** Opening a library: the same word the CLI's scan uses. */
const LIBRARY_SCAN = 'scan';

interface RunningJob {
  state: JobState;
  control: JobControl;
  done: Promise<void>;
}

/**
 * The handler table behind both transports. One long job at a time (scan, features, training,
 * indexing); its progress streams as events; bad input is refused before any work starts.
 */
export async function createEngineService(options: EngineServiceOptions = {}): Promise<EngineService> {
  const store = Store.open(options.dbPath ?? defaultDbPath());
  const cacheDir = options.cacheDir ?? userCacheDir();
  /** Never indexed, even when they sit inside the library. */
  const appFolders = [cacheDir, userDataDir()];
  const events = new EventEmitter();
  const liveLosses = new LiveLosses();
  const emit = (event: EngineEvent) => {
    liveLosses.observe(event);
    events.emit('event', event);
  };
  let libraryId: number | null = null;
  let libraryRoot: string | null = null;
  let job: RunningJob | null = null;
  let trainStarting = false;
  /** What moves the library's files now (see moveInLibrary) or scans them to open it, if anything: one at a time. */
  let filesBusy: string | null = null;
  /** A model was imported while files moved: it is indexed when they are done. */
  let indexAfterMove = false;

  const requireLibrary = (): number => {
    if (libraryId === null) throw conflict('open a library folder first');
    return libraryId;
  };

  const setJobState = (state: JobState) => {
    if (job) job.state = state;
    emit({ type: 'job', job: state });
  };

  const refuseWhileFilesBusy = () => {
    if (filesBusy) throw conflict(`the ${filesBusy} is going; wait for it to finish`);
  };

  /** Label changes wait for files moving here or in another process: the move follows the labels it was previewed with. */
  const refuseWhileAnyFilesMove = () => {
    refuseWhileFilesBusy();
    const holder = store.jobLock.liveHolder();
    if (holder && holder.owner !== store.jobLock.owner && MOVING_KINDS.has(holder.kind)) throw conflict(describeHolder(holder));
  };

  /** Another process's job on this database, if one runs: then ours must wait (one job at a time per database). */
  const refuseIfOtherProcessRuns = () => {
    const holder = store.jobLock.liveHolder();
    if (holder && holder.owner !== store.jobLock.owner) throw conflict(describeHolder(holder));
  };

  /**
   * Starts a background job once the database's job claim is ours (synchronously: nothing can slip in
   * between the check and the claim); its failure becomes a 'failed' job event, never an unhandled
   * rejection. Throws a conflict when another process runs a job on this database.
   */
  const startJob = (kind: JobKind, runId: number | null, work: (ctx: JobContext) => Promise<string | null>) => {
    refuseWhileFilesBusy();
    const holder = store.jobLock.claim(kind);
    if (holder) throw conflict(describeHolder(holder));
    const control = new JobControl();
    const ctx: JobContext = { store, emit, control };
    const state: JobState = { kind, state: 'running', runId, message: null };
    const running: RunningJob = { state, control, done: Promise.resolve() };
    job = running;
    emit({ type: 'job', job: state });
    const release = holdJobLock(store.jobLock, () => {
      control.stop();
      setJobState({ ...running.state, state: 'stopping', message: 'stop asked from another Lookalike process' });
    });
    running.done = (async () => {
      try {
        const message = await work(ctx);
        setJobState({ kind, state: control.isStopped ? 'stopped' : 'done', runId, message });
      } catch (error) {
        setJobState({ kind, state: control.isStopped ? 'stopped' : 'failed', runId, message: errorInWords(error, { dbPath: store.path }) });
      } finally {
        if (job === running) {
          job = null;
          release();
        }
      }
    })();
  };

  /** Background indexing is refused like any job while another process works on the database: said, not thrown. */
  const startQuietly = (start: () => void) => {
    try {
      start();
    } catch (error) {
      emit({ type: 'job', job: { kind: 'index', state: 'failed', runId: null, message: (error as Error).message } });
    }
  };

  const stopCurrentJob = async () => {
    if (!job) return;
    job.control.stop();
    await job.done;
  };

  /**
   * Makes the open library searchable without waiting for training: backbone features, the
   * untrained model, and every stored model brought up to date. With `rescan`, the folder is read
   * again first (photos added, edited, moved or deleted while the app was open).
   */
  const indexInBackground = (id: number, rescan = false) =>
    startJob('index', null, async (ctx) => {
      const { features, broken } = await indexAll(ctx, id, { backbone: DEFAULT_SETTINGS.backbone, rescan, appFolders });
      if (ctx.control?.isStopped) return 'indexing paused';
      const cannotRun = broken.length ? `; ${broken.length} model${broken.length === 1 ? '' : 's'} could not run (see Models in the Library)` : '';
      return `${features.computed} photos analysed, ${features.cached} already known${cannotRun}`;
    });

  /** Folder changes while the app is open are picked up after they settle, when no job is running. */
  let stopWatching: (() => void) | null = null;
  let settle: NodeJS.Timeout | undefined;
  let changedWhileBusy = false;
  const onFolderChange = () => {
    clearTimeout(settle);
    settle = setTimeout(() => {
      if (libraryId === null) return;
      if (job || filesBusy) changedWhileBusy = true;
      else startQuietly(() => indexInBackground(libraryId!, true));
    }, WATCH_SETTLE_MS);
  };
  const watchLibrary = (root: string) => {
    stopWatching?.();
    stopWatching = watchFolder(root, { onChange: onFolderChange, onError: (reason) => emit({ type: 'problem', problem: { path: root, reason } }) });
  };
  events.on('event', (event: EngineEvent) => {
    if (event.type === 'job' && !['running', 'paused', 'stopping'].includes(event.job.state) && changedWhileBusy && libraryId !== null) {
      changedWhileBusy = false;
      setImmediate(() => libraryId !== null && !job && !filesBusy && startQuietly(() => indexInBackground(libraryId!, true)));
    }
  });

  /** After a label change: the new counts go out as a library event, and back to the caller. */
  const labelsResult = (id: number) => {
    const library = librarySummary(store, id);
    emit({ type: 'library', library });
    return { library, labels: labelsState(store, id) };
  };

  /**
   * Moving files of the library (writing labels to folders, its undo, moving photos out, its undo): one
   * batch at a time, never under a training run (it would stop it: refused, saying so), and under the
   * database's job lock from before the first move to the end of the rescan after the last, so that no
   * scan (the folder watch, `lookalike scan` in another process) sees half the moves and gives moved
   * photos new ids. Background indexing is paused meanwhile and resumed after. Closing waits for the
   * move in flight and stops the batch before its next one (the journal says how far it got).
   */
  let moving: Promise<unknown> | null = null;
  let closing = false;
  const moveOptions: MoveOptions = { shouldStop: () => closing };
  const moveInLibrary = async <T, R>(what: string, move: (id: number) => Promise<T>, reply: (id: number, value: T) => R): Promise<R> => {
    const id = requireLibrary();
    if (closing) throw conflict('Lookalike is closing');
    // Checked and claimed before the first await: two moves arriving together cannot both pass.
    refuseWhileFilesBusy();
    if (job?.state.kind === 'train' || trainStarting) throw conflict(`a training run is going and the ${what} would stop it; wait for it to finish or stop it first`);
    refuseIfOtherProcessRuns();
    filesBusy = what;
    const wasIndexing = job !== null;
    const running = (async () => {
      try {
        await stopCurrentJob();
        const holder = store.jobLock.claim(what);
        if (holder) throw conflict(describeHolder(holder));
        // A stop asked from another process cannot cut a move short: the lock is given back when it is done.
        const release = holdJobLock(store.jobLock, () => undefined);
        let value: T;
        try {
          value = await move(id);
        } finally {
          try {
            if (!closing) await openLibrary({ store, emit }, store.libraryRoot(id), { appFolders });
          } finally {
            changedWhileBusy = false; // the rescan saw the moves
            release();
          }
        }
        return reply(id, value); // before close() may close the store: it waits for this
      } finally {
        filesBusy = null;
        if (!closing && (wasIndexing || indexAfterMove)) startQuietly(() => indexInBackground(id));
        indexAfterMove = false;
      }
    })();
    moving = running;
    try {
      return await running;
    } finally {
      moving = null;
    }
  };

  /**
   * The scan that opens a library, under the job lock when it is free, so that no other process moves
   * files meanwhile; refused while another process moves files (the scan would see half the moves).
   * Another process's indexing or training does not stop it.
   */
  const scanUnlessMoving = async (folder: string) => {
    const holder = store.jobLock.claim(LIBRARY_SCAN);
    if (holder && MOVING_KINDS.has(holder.kind)) throw conflict(describeHolder(holder));
    const release = holder ? () => undefined : holdJobLock(store.jobLock, () => undefined);
    try {
      return await openLibrary({ store, emit }, folder, { appFolders });
    } finally {
      release();
    }
  };

  /** Close pairs under the untrained model, kept until the photos or their embeddings change. */
  let duplicatesCache: { key: string; edges: Promise<DuplicateEdges> } | null = null;
  const duplicatePairs = (id: number) => {
    const baseline = store.models(id).find((m) => m.kind === 'baseline');
    if (!baseline || store.embeddingCount(baseline.id) === 0) throw conflict('the library is still being analysed; look for duplicates when indexing is done');
    const key = `${baseline.id}:${store.embeddingCount(baseline.id)}:${store.countPhotos(id)}`;
    if (duplicatesCache?.key !== key) {
      const edges = duplicateEdges(store, baseline.id, (done, total) =>
        emit({ type: 'progress', kind: 'index', phase: 'Looking for duplicates', done, total, etaSeconds: null }),
      );
      duplicatesCache = { key, edges };
      edges.catch(() => (duplicatesCache = null));
    }
    return duplicatesCache.edges;
  };

  const handlers: ApiHandlers = {
    async status() {
      const backend = await selectBackend().catch(() => null);
      return {
        library: libraryId === null ? null : librarySummary(store, libraryId),
        backend: backend ? { name: backend.name, reason: backend.reason, gpu: backend.gpu, backboneRuntime: await expectedRuntime(backend), adapter: backend.adapter ?? null } : null,
        job: job?.state ?? null,
        defaults: DEFAULT_SETTINGS,
      };
    },

    async openLibrary({ root }) {
      if (typeof root !== 'string') throw invalidInput('choose a folder to open');
      const folder = typedFolderPath(root);
      refuseWhileFilesBusy();
      filesBusy = LIBRARY_SCAN;
      let opened: Awaited<ReturnType<typeof openLibrary>>;
      try {
        await stopCurrentJob();
        opened = await scanUnlessMoving(folder);
      } finally {
        filesBusy = null;
        indexAfterMove = false; // indexing starts below
      }
      libraryId = opened.libraryId;
      libraryRoot = opened.summary.root;
      watchLibrary(libraryRoot);
      if (opened.summary.photoCount > 0) startQuietly(() => indexInBackground(opened.libraryId));
      return opened.summary;
    },

    async listPhotos({ classId, offset, limit }) {
      const id = requireLibrary();
      const safeLimit = Math.max(0, Math.min(Number(limit) || 0, 1000));
      const safeOffset = Math.max(0, Number(offset) || 0);
      const rows = store.photos(id, { classId, offset: safeOffset, limit: safeLimit });
      return {
        total: store.countPhotos(id, classId),
        offset: safeOffset,
        items: rows.map((p) => ({ id: p.id, path: p.relPath, className: p.className, split: p.split })),
      };
    },

    async startTraining(partial) {
      const id = requireLibrary();
      const settings = resolveSettings(partial ?? {});
      const refused = trainingProblem(settings, { backend: await selectBackend() });
      if (refused) throw invalidInput(refused);
      // Checked and claimed before the next await: two starts arriving together cannot both pass.
      if (job?.state.kind === 'train' || trainStarting) throw conflict('a training run is already going; stop it first');
      refuseWhileFilesBusy();
      const plan = planTraining(store, id, settings, { k: 'fit' });
      refuseIfOtherProcessRuns();
      trainStarting = true;
      try {
        await stopCurrentJob();
        const runId = prepareRun(store, id, settings);
        startJob('train', runId, async (ctx) => {
          const result = await trainModel(ctx, id, plan, { runId });
          return `P@${result.trained.k} ${result.baseline.precision_at_k.toFixed(3)} → ${result.trained.precision_at_k.toFixed(3)}`;
        });
        return { runId };
      } finally {
        trainStarting = false;
      }
    },

    async pauseTraining() {
      if (!job) return null;
      job.control.pause();
      setJobState({ ...job.state, state: 'paused' });
      return job.state;
    },

    async resumeTraining() {
      if (!job) return null;
      job.control.resume();
      setJobState({ ...job.state, state: 'running' });
      return job.state;
    },

    async stopTraining() {
      if (!job) {
        // Stop reaches a job of another process on this database too: it stops at its next heartbeat.
        const other = store.jobLock.requestStop();
        return other ? { kind: other.kind as JobKind, state: 'stopping', runId: null, message: `asked Lookalike process ${other.pid} to stop its ${other.kind} job` } : null;
      }
      const current = job;
      current.control.stop();
      setJobState({ ...current.state, state: 'stopping' });
      await current.done;
      return current.state;
    },

    async listRuns() {
      if (libraryId === null) return [];
      return store.runs(libraryId).map((run) => ({ ...toRunInfo(run), classes: runClasses(store, run.id), marksUsed: runMarks(store, run.id) }));
    },

    async runHistory({ runId }) {
      return { losses: liveLosses.history(runId, store.lossPoints(runId)), epochs: store.epochs(runId) };
    },

    async listModels() {
      if (libraryId === null) return [];
      return store.models(libraryId).map((m) => toModelInfo(store, m.id));
    },

    async findSimilar(query) {
      const id = requireLibrary();
      const k = Number(query.k);
      if ('imageBase64' in query && (typeof query.imageBase64 !== 'string' || query.imageBase64.length > Math.ceil(MAX_PHOTO_BYTES / 3) * 4)) {
        throw invalidInput(`${String(query.fileName || 'the image')}: larger than any photo Lookalike takes (limit ${formatBytes(MAX_PHOTO_BYTES)})`);
      }
      const result =
        'photoId' in query
          ? await findSimilar(store, id, { photoId: Number(query.photoId) }, k, query.modelId)
          : await findSimilar(store, id, { image: Buffer.from(query.imageBase64, 'base64'), label: String(query.fileName || 'dropped image') }, k, query.modelId);
      return result;
    },

    async labels() {
      return labelsState(store, requireLibrary());
    },

    async changeLabels(change) {
      const id = requireLibrary();
      refuseWhileAnyFilesMove();
      changeLabels(store, id, change);
      return labelsResult(id);
    },

    async previewLabelWrite() {
      return previewLabelWrite(store, requireLibrary());
    },

    async writeLabels(arg) {
      const fingerprint = checkFingerprint(arg);
      return moveInLibrary(LABEL_WRITE, (id) => writeLabels(store, id, fingerprint, moveOptions), (id) => labelsResult(id));
    },

    async undoLabelWrite() {
      return moveInLibrary(LABEL_WRITE_UNDO, (id) => undoLabelWrite(store, id, moveOptions), (id) => labelsResult(id));
    },

    async findDuplicates({ threshold }) {
      const id = requireLibrary();
      return groupDuplicates(store, id, await duplicatePairs(id), Number(threshold));
    },

    async movePhotos({ photoIds, folder }) {
      return moveInLibrary(
        PHOTOS_MOVE,
        (id) => movePhotosOut(store, id, photoIds, folder, moveOptions),
        (id, { moved }) => ({ moved, library: librarySummary(store, id) }),
      );
    },

    async undoMovePhotos() {
      return moveInLibrary(
        PHOTOS_MOVE_UNDO,
        (id) => undoMoveOut(store, id, moveOptions),
        (id, back) => ({ back, library: librarySummary(store, id) }),
      );
    },

    async exportModel({ modelId, folder }) {
      const id = requireLibrary();
      const model = store.model(Number(modelId));
      if (!model || model.libraryId !== id) throw notFound(`no model ${String(modelId)} in this library`);
      return exportModel(store, model.id, folder);
    },

    async importModel({ source }) {
      const id = requireLibrary();
      if (typeof source !== 'string' || source.trim() === '') throw invalidInput('choose an exported model folder (or its card.json)');
      // As typed in the app: ~ is the home folder; a relative path would mean the server's working folder.
      const { modelId } = await importModel(store, id, typedFolderPath(source));
      if (filesBusy) indexAfterMove = true;
      else if (!job) startQuietly(() => indexInBackground(id));
      else changedWhileBusy = true;
      return toModelInfo(store, modelId);
    },

    async removeModel({ modelId }) {
      const id = requireLibrary();
      // An index job may be embedding with it: stopped first, and brought up to date again after.
      const indexing = job?.state.kind === 'index';
      if (indexing) await stopCurrentJob();
      removeModel(store, id, Number(modelId));
      if (indexing) startQuietly(() => indexInBackground(id));
      return handlers.listModels();
    },

    async undoLabels() {
      const id = requireLibrary();
      refuseWhileAnyFilesMove();
      undoLabels(store, id);
      return labelsResult(id);
    },

    async listFolders(query) {
      const path = typeof query?.path === 'string' ? query.path : undefined;
      return listFolders(path, { recent: store.recentLibraryRoots(8) });
    },

    async marks(query) {
      const id = requireLibrary();
      return marksState(store, id, query?.queryPhotoId === undefined ? undefined : Number(query.queryPhotoId));
    },

    async markNotSimilar(change) {
      return markNotSimilar(store, requireLibrary(), change);
    },

    async startLabelAudit() {
      const id = requireLibrary();
      if (job?.state.kind === 'train' || trainStarting) throw conflict('a training run is going; look for mislabelled photos when it is done');
      refuseIfOtherProcessRuns();
      await stopCurrentJob();
      startJob('audit', null, async (ctx) => {
        const { ranked, seconds } = await auditLabels(ctx, id);
        const suspects = labelAuditState(store, id).suspects.length;
        return `${ranked.length} photos checked in ${Math.round(seconds)} s: ${suspects} may be in the wrong class`;
      });
      return job!.state;
    },

    async labelAudit() {
      return labelAuditState(store, requireLibrary());
    },

    async confirmLabel({ photoId }) {
      return confirmLabel(store, requireLibrary(), Number(photoId));
    },

    async suggestClasses(query) {
      const id = requireLibrary();
      return suggestClasses(store, id, { modelId: query?.modelId });
    },

    async rejectSuggestion(change) {
      const id = requireLibrary();
      rejectSuggestion(store, id, change);
      return suggestClasses(store, id, { modelId: change.modelId });
    },

    async libraryMap(query) {
      const id = requireLibrary();
      const modelId = query?.modelId === undefined ? undefined : Number(query.modelId);
      return libraryMap(store, id, modelId, (phase, done, total) => emit({ type: 'progress', kind: 'index', phase, done, total, etaSeconds: null }));
    },

    async evaluateModel({ modelId } = {}) {
      const id = requireLibrary();
      const model = modelId === undefined ? defaultModel(store, id) : store.model(Number(modelId));
      if (!model || model.libraryId !== id) throw notFound(modelId === undefined ? 'no model yet: open a library with photos first' : `no model ${modelId} in this library`);
      const settings = resolveSettings((model.config.settings ?? {}) as Partial<TrainSettings>);
      return evaluateModelInDetail(store, id, model.id, validationK(store.classes(id), settings.validationFraction));
    },
  };

  const service: EngineService = {
    handlers: inWords(handlers, store.path),
    subscribe(listener) {
      events.on('event', listener);
      return () => events.off('event', listener);
    },
    async photoFile(photoId: number, size: PhotoSize) {
      if (libraryId === null || libraryRoot === null || !Number.isInteger(photoId)) return null;
      const photo = store.photo(photoId);
      if (!photo || photo.libraryId !== libraryId) return null;
      const file = await realpath(resolve(libraryRoot, photo.relPath)).catch(() => null);
      if (!file || !isStrictlyInside(file, libraryRoot)) return null;
      return size === 'thumb' ? thumbnailFile(file, cacheDir) : file;
    },
    libraryRoot: () => libraryRoot,
    async close() {
      closing = true;
      clearTimeout(settle);
      stopWatching?.();
      await moving?.catch(() => undefined);
      await stopCurrentJob();
      events.removeAllListeners();
      store.close();
    },
  };

  const reopen = options.libraryRoot ?? (options.reopenLast === false ? null : store.recentLibraryRoot());
  if (reopen && existsSync(reopen)) {
    await handlers.openLibrary({ root: reopen }).catch((error: Error) => emit({ type: 'problem', problem: { path: reopen, reason: error.message } }));
  }
  return service;
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

function toRunInfo({ libraryId: _libraryId, settings, ...run }: RunRow): RunInfo {
  return { ...run, settings: settings as unknown as TrainSettings };
}
