import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { realpath } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ApiHandlers, EngineEvent, JobKind, PhotoSize, RunInfo, TrainSettings } from '../../shared/api.js';
import { conflict, invalidInput, notFound } from '../../shared/errors.js';
import { selectBackend } from '../ml/compute-backend.js';
import { expectedRuntime } from '../ml/onnx-backbone.js';
import { defaultDbPath, isStrictlyInside, typedFolderPath, userCacheDir, userDataDir } from '../common/paths.js';
import { defaultModel, evaluateModelInDetail, findSimilar, indexAll, librarySummary, openLibrary, planTraining, prepareRun, trainModel, type JobContext } from './engine.js';
import type { EngineService, EngineServiceOptions } from './service-contract.js';
import { DEFAULT_SETTINGS, resolveSettings, validationK } from '../../shared/settings.js';
import { Store, type RunRow } from '../store/store.js';
import { thumbnailFile } from '../library/thumbnails.js';
import { JobRunner, jobClaimOf } from './job-runner.js';
import { LABEL_WRITE, LABEL_WRITE_UNDO, LibraryFiles, PHOTOS_MOVE, PHOTOS_MOVE_UNDO } from './library-files.js';
import { LibraryWatcher, systemClock } from './library-watcher.js';
import { watchFolder } from '../library/folder-watch.js';
import { changeLabels, labelsState, runClasses, undoLabels } from './labels.js';
import { checkFingerprint } from './label-change-input.js';
import { markNotSimilar, marksState, runMarks } from './marks.js';
import { previewLabelWrite, undoLabelWrite, writeLabels } from './write-labels.js';
import { duplicateEdges, groupDuplicates, type DuplicateEdges } from './duplicates.js';
import { auditLabels, confirmLabel, labelAuditState } from './label-audit.js';
import { movePhotosOut, undoMoveOut } from './move-out.js';
import { exportModel, importModel, removeModel, toModelInfo } from './model-transfer.js';
import { listFolders } from '../library/folders.js';
import { LiveLosses } from './live-losses.js';
import { MAX_PHOTO_BYTES } from '../library/photo-input.js';
import { errorInWords, formatBytes } from '../common/error-words.js';
import { rejectSuggestion, suggestClasses } from './suggest.js';
import { libraryMap } from './map.js';

export type { EngineService, EngineServiceOptions } from './service-contract.js';

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

  const requireLibrary = (): number => {
    if (libraryId === null) throw conflict('open a library folder first');
    return libraryId;
  };

  const runner = new JobRunner({ claim: jobClaimOf(store.jobLock), emit, describe: (error) => errorInWords(error, { dbPath: store.path }), mayStart: () => files.refuseWhileBusy() });
  const startJob = (kind: JobKind, runId: number | null, work: (ctx: JobContext) => Promise<string | null>) => runner.start(kind, runId, (control) => work({ store, emit, control }));
  const startQuietly = (start: () => void) => runner.startQuietly(start);
  const stopCurrentJob = () => runner.stop();

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

  const files = new LibraryFiles({
    claim: jobClaimOf(store.jobLock),
    runner,
    scan: (folder) => openLibrary({ store, emit }, folder, { appFolders }),
    libraryRoot: (id) => store.libraryRoot(id),
    onRescanned: () => watcher.forgetPending(),
    indexInBackground: (id) => startQuietly(() => indexInBackground(id)),
  });
  const moveOptions = files.moveOptions;
  const moveInLibrary = <T, R>(what: string, move: (id: number) => Promise<T>, reply: (id: number, value: T) => R): Promise<R> => files.move(requireLibrary(), what, move, reply);

  const watcher = new LibraryWatcher({
    watch: watchFolder,
    clock: systemClock,
    busy: () => runner.state !== null || files.busy,
    rescan: () => libraryId !== null && startQuietly(() => indexInBackground(libraryId!, true)),
    onError: (root, reason) => emit({ type: 'problem', problem: { path: root, reason } }),
  });
  events.on('event', (event: EngineEvent) => watcher.observe(event));

  /** After a label change: the new counts go out as a library event, and back to the caller. */
  const labelsResult = (id: number) => {
    const library = librarySummary(store, id);
    emit({ type: 'library', library });
    return { library, labels: labelsState(store, id) };
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
        job: runner.state,
        defaults: DEFAULT_SETTINGS,
      };
    },

    async openLibrary({ root }) {
      if (typeof root !== 'string') throw invalidInput('choose a folder to open');
      const folder = typedFolderPath(root);
      const opened = await files.scanToOpen(folder);
      libraryId = opened.libraryId;
      libraryRoot = opened.summary.root;
      watcher.watch(libraryRoot);
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
      // Checked and claimed before the first await: two starts arriving together cannot both pass.
      if (runner.training) throw conflict('a training run is already going; stop it first');
      files.refuseWhileBusy();
      const plan = planTraining(store, id, settings, { k: 'fit' });
      runner.refuseIfOtherProcessRuns();
      return runner.whileTrainingStarts(async () => {
        await stopCurrentJob();
        const runId = prepareRun(store, id, settings);
        startJob('train', runId, async (ctx) => {
          const result = await trainModel(ctx, id, plan, { runId });
          return `P@${result.trained.k} ${result.baseline.precision_at_k.toFixed(3)} → ${result.trained.precision_at_k.toFixed(3)}`;
        });
        return { runId };
      });
    },

    async pauseTraining() {
      return runner.pause();
    },

    async resumeTraining() {
      return runner.resume();
    },

    async stopTraining() {
      // Stop reaches a job of another process on this database too: it stops at its next heartbeat.
      return runner.stopAny();
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
      files.refuseWhileAnyMove();
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
      if (files.busy) files.indexWhenDone();
      else if (!runner.state) startQuietly(() => indexInBackground(id));
      else watcher.notePending();
      return toModelInfo(store, modelId);
    },

    async removeModel({ modelId }) {
      const id = requireLibrary();
      // An index job may be embedding with it: stopped first, and brought up to date again after.
      const indexing = runner.state?.kind === 'index';
      if (indexing) await stopCurrentJob();
      removeModel(store, id, Number(modelId));
      if (indexing) startQuietly(() => indexInBackground(id));
      return handlers.listModels();
    },

    async undoLabels() {
      const id = requireLibrary();
      files.refuseWhileAnyMove();
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
      if (runner.training) throw conflict('a training run is going; look for mislabelled photos when it is done');
      runner.refuseIfOtherProcessRuns();
      await stopCurrentJob();
      return startJob('audit', null, async (ctx) => {
        const { ranked, seconds } = await auditLabels(ctx, id);
        const suspects = labelAuditState(store, id).suspects.length;
        return `${ranked.length} photos checked in ${Math.round(seconds)} s: ${suspects} may be in the wrong class`;
      });
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
      watcher.close();
      await files.close();
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
