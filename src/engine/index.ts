/**
 * The engine's entry point: the CLI comes in here only (see LAYERS in eslint.config.js). The bridge
 * and the Electron shell start the engine through jobs/service/service-thread.ts instead, so that the
 * ML stack loads on the engine's own thread, not on theirs.
 */
export { indexAll, locateFile, photoIn, planTraining, requireLibrary, type IndexOutcome } from './jobs/door.js';
export { evaluateModel, evaluateModelInDetail } from './jobs/training/evaluation.js';
export { findSimilar } from './jobs/library/search.js';
export { defaultModel } from './jobs/models/model-lookup.js';
export { librarySummary, openLibrary } from './jobs/library/library-sync.js';
export { prepareRun, trainModel, type TrainResult } from './jobs/training/training.js';
export type { JobContext } from './jobs/job-context.js';
export type { TrainingPlan } from './jobs/training/training-plan.js';
export { indexLibrary } from './jobs/library/indexing.js';
export { exportModel, importModel, removeModel, toModelInfo } from './jobs/models/model-transfer.js';
export { auditLabels, labelAuditState } from './jobs/curation/label-audit.js';
export { suggestClasses } from './jobs/curation/suggest.js';
export { libraryMap } from './jobs/curation/map.js';
export { mapPng } from './jobs/curation/map-image.js';
export { Store } from './store/store.js';
export { selectBackend } from './ml/runtime/compute-backend.js';
export { expectedRuntime } from './ml/backbone/onnx-backbone.js';
export { defaultDbPath } from './common/paths.js';
export { makeSampleLibrary, SAMPLE_CLASSES } from './library/sample-library.js';
export { checkPhotoStats, readPhoto } from './library/photo-gate.js';
export { describeHolder, holdJobLock } from './store/job-lock.js';
export { JobControl } from './common/job-control.js';
export { errorInWords } from './common/error-words.js';
export { userCacheDir, userDataDir } from './common/paths.js';
