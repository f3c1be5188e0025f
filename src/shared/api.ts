/**
 * The one contract between the UI and the engine. Both transports (Electron IPC through the
 * preload bridge, and the local HTTP/WebSocket bridge) serve exactly these calls and events.
 * Plain data only: everything here must survive structured clone and JSON.
 */

export interface ClassSummary {
  id: number;
  name: string;
  photoCount: number;
}

export interface Problem {
  /** Path relative to the library root (or absolute for files from outside it). */
  path: string;
  reason: string;
  /** A file counted among the library's photos that cannot be read as an image (a text file named .jpg). */
  unreadablePhoto?: true;
}

export interface LibrarySummary {
  libraryId: number;
  root: string;
  photoCount: number;
  unlabelledCount: number;
  classes: ClassSummary[];
  problems: Problem[];
  /** What became of file moves that stopped part way (a crash, a close, an error), in words, until they are undone or finished. */
  moveNotices: string[];
}

export interface PhotoItem {
  id: number;
  /** Relative to the library root, '/'-separated. */
  path: string;
  className: string | null;
  split: 'train' | 'validation' | null;
}

export interface PhotoPage {
  total: number;
  offset: number;
  items: PhotoItem[];
}

export interface PhotoQuery {
  classId?: number;
  offset: number;
  limit: number;
}

/** What trains: the head only; the last backbone blocks and the head (CPU too); or the whole network (GPU only). */
export type FineTuneMode = 'head' | 'last-blocks' | 'full';

/** How training draws its triplets (engine/ml/triplets.ts says what each does). */
export const TRIPLET_METHODS = ['random', 'balanced', 'semi-hard', 'in-class'] as const;
export type TripletMethod = (typeof TRIPLET_METHODS)[number];

/** Which backbone layers feed the head: its final pooled features, or earlier ones pooled beside them (engine/ml/backbone.ts). */
export const FEATURE_LAYERS = ['final', 'multi-scale'] as const;
export type FeatureLayers = (typeof FEATURE_LAYERS)[number];

export interface TrainSettings {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** The gap g of the deep-ranking loss; must be > 0. */
  gap: number;
  /** Embedding size. */
  dim: number;
  validationFraction: number;
  seed: number;
  /** 'nsfwjs-mobilenetv2-1.4' (built in) or a TF.js model folder. */
  backbone: string;
  fineTune: FineTuneMode;
  /** last-blocks: how many inverted-residual blocks from the end train (with the final 1×1 conv); 0 = that conv only. */
  fineTuneBlocks: number;
  /** Triplets sampled per epoch; 0 means one per training photo times 8. */
  tripletsPerEpoch: number;
  /** How triplets are drawn; absent in runs stored before this setting existed (they used 'random'). */
  sampling: TripletMethod;
  /** Backbone layers the head reads; absent in runs stored before this setting existed (they used 'final'). */
  features: FeatureLayers;
}

export interface RetrievalMetrics {
  k: number;
  queries: number;
  database: number;
  precision_at_k: number;
  map_at_r: number;
}

/**
 * What a distance means for one model, measured on its validation split (all validation-training
 * pairs): 10th/50th/90th percentile distance between photos of one class and of different classes;
 * `threshold`: a close match lies below it, where same-class pairs best separate from other-class
 * pairs ("no close match" past it; null only without same-class pairs); `same_class_under` and
 * `other_class_under`: the shares of each kind of pair under it, and `precision` the share of pairs
 * under it that share a class; `close_match_share`: validation photos with a match under it.
 */
export interface DistanceProfile {
  same_class: [number, number, number];
  other_class: [number, number, number];
  threshold: number | null;
  precision: number;
  /** Absent in profiles stored before the threshold came from the separation (they are measured again). */
  same_class_under?: number;
  other_class_under?: number;
  /** Each class's own threshold, by class name, where its validation photos give it one (a result of it is close under it). */
  class_thresholds?: Record<string, number>;
  /** 90th percentile of the validation photos' nearest-neighbour distances: a query whose nearest result lies farther is like nothing here. */
  nearest_limit?: number;
  close_match_share: number;
}

/** The distance under which a result of `className` is a close match: its class's own, else the model's. */
export function closeMatchThreshold(profile: DistanceProfile | null, className: string | null): number | null {
  if (!profile) return null;
  return (className !== null ? profile.class_thresholds?.[className] : undefined) ?? profile.threshold;
}

/**
 * Which results (nearest first) are close matches: each under its class's threshold, and none when
 * even the nearest lies past `nearest_limit` (the query is like nothing in the library, as noise is).
 */
export function closeMatches(profile: DistanceProfile | null, results: Array<{ distance: number; className: string | null }>): boolean[] {
  const likeNothing = profile?.nearest_limit !== undefined && results.length > 0 && results[0].distance > profile.nearest_limit;
  return results.map((r) => {
    const cut = closeMatchThreshold(profile, r.className);
    return !likeNothing && (cut === null || r.distance <= cut);
  });
}

export interface ClassQuality {
  classId: number;
  name: string;
  /** Validation photos of the class. */
  queries: number;
  baseline: { precision_at_k: number; map_at_r: number };
  trained: { precision_at_k: number; map_at_r: number } | null;
}

/** A validation photo whose nearest training photos are most often of another class. */
export interface WorstQuery {
  photoId: number;
  path: string;
  className: string;
  /** Share of its k nearest training photos that are of another class. */
  otherClassShare: number;
  /** The class most of those come from. */
  confusedWith: string | null;
}

export interface ModelEvaluation {
  modelId: number;
  modelName: string;
  k: number;
  baseline: RetrievalMetrics;
  trained: RetrievalMetrics | null;
  /** Worst first (by the model's mAP@R). */
  classes: ClassQuality[];
  /** Per class, up to three, worst first. */
  worstQueries: WorstQuery[];
  distances: DistanceProfile;
}

export interface ModelInfo {
  id: number;
  name: string;
  kind: 'baseline' | 'trained';
  backbone: string;
  dim: number;
  createdAt: string;
  runId: number | null;
  /** The run's number within the library (what the app shows as "Run N"). */
  runNumber?: number | null;
  metrics: RetrievalMetrics | null;
  indexedCount: number;
  /** Brought in from an exported model folder (not trained in this library). */
  imported: boolean;
  /** Why the model could not run at its last indexing (shown as broken); null when it ran. */
  problem: string | null;
  /** For an imported model whose classes are not this library's: what it was trained on, in words. */
  classNote: string | null;
}

export type RunStatus = 'running' | 'paused' | 'stopped' | 'done' | 'failed';

export interface RunInfo {
  id: number;
  /** "Run 1" is a library's first run: ids count across libraries, numbers within one. */
  number: number;
  modelId: number | null;
  status: RunStatus;
  settings: TrainSettings;
  startedAt: string;
  finishedAt: string | null;
  epochsDone: number;
  finalLoss: number | null;
  baseline: RetrievalMetrics | null;
  trained: RetrievalMetrics | null;
  error: string | null;
  /** The epoch whose weights the model keeps (the best validation mAP@R); null before it ends. */
  keptEpoch: number | null;
  /** The classes the run trained on, with their photo counts (absent for runs from before labels in the app). */
  classes?: Array<{ name: string; photoCount: number }> | null;
  /** How many "not similar" marks it trained on as hard negatives (null for runs from before marks). */
  marksUsed?: number | null;
  /**
   * A fine-tuning run's head after its head-first phase, scored on the same split before the blocks
   * trained: what the head alone gives. Null for head runs (and runs from before it was kept).
   */
  headAlone: RetrievalMetrics | null;
}

export interface Neighbour {
  rank: number;
  photoId: number;
  path: string;
  className: string | null;
  distance: number;
}

export type SimilarQuery =
  | { photoId: number; k: number; modelId?: number }
  /** An image from outside the library, as bytes (base64) with its file name for messages. */
  | { imageBase64: string; fileName: string; k: number; modelId?: number };

export interface SimilarResult {
  query: { photoId: number | null; path: string; className: string | null };
  modelId: number;
  results: Neighbour[];
  /** What distances mean for this model; results past its threshold are "probably not similar". */
  distances: DistanceProfile | null;
}

/**
 * Results marked "not similar to this query" in Find similar, used as hard negatives by the next
 * training (engine/jobs/marks.ts says which marks it can use, and why not the others).
 */
export interface MarksState {
  /** Photos marked "not similar" to the query asked about (none when no query was named). */
  marked: number[];
  /** All marks of the library. */
  total: number;
  /** Those the next training will use. */
  usable: number;
  /**
   * Of the usable ones, those with a validation photo (a worst query of the Per-class table is one):
   * the validation photo is never trained on; its partner is trained against the training photo of
   * the validation photo's class nearest to it.
   */
  standIn: number;
  /** The others, counted by the reason they wait. */
  unused: Array<{ reason: string; count: number }>;
}

export interface BackendInfo {
  /** The TF.js backend (training, the head). */
  name: string;
  reason: string;
  gpu: boolean;
  /** What runs the backbone: "onnxruntime", or "tfjs-" and the TF.js backend. */
  backboneRuntime: string;
  /** The WebGPU adapter, when the backend is "webgpu". */
  adapter?: GpuAdapterInfo | null;
}

/** A WebGPU adapter as dawn.node describes it. */
export interface GpuAdapterInfo {
  vendor: string;
  architecture: string;
  description: string;
  /** A CPU rasteriser (SwiftShader, llvmpipe): correct but slow, so only used when forced. */
  software: boolean;
}

/** A phase of training whose speed is measured and estimated (features and cut maps, embedding: photos; head and blocks: triplets). */
export type CostPhase = 'features' | 'cut-maps' | 'head' | 'blocks' | 'embed';

/**
 * Where a phase's speed comes from: a run on this machine, the figures measured on the 2-core
 * reference machine (docs/measurements.md), nothing known yet, or nothing to do (all cached).
 */
export type CostSource = 'this-machine' | 'reference' | 'unknown' | 'cached';

export interface CostPart {
  phase: CostPhase;
  /** Photos or triplets still to do; photos already cached are left out. */
  items: number;
  unit: 'photos' | 'triplets';
  /** Items already cached (features, cut maps), for the words. */
  cached?: number;
  perSecond: number | null;
  seconds: number | null;
  source: CostSource;
}

/** What one fine-tune mode would cost on the open library with the form's settings. */
export interface ModeCost {
  mode: FineTuneMode;
  /** Why the mode cannot run here (the form's disabled sentence); null when it can. */
  unavailable: string | null;
  /** The whole training, from the start to an indexed model; null when a part's speed is not known yet. */
  seconds: number | null;
  /** 'this-machine': every part from runs here; 'reference': none; 'mixed': some of each. */
  source: 'this-machine' | 'reference' | 'mixed';
  parts: CostPart[];
}

export interface TrainingCost {
  modes: ModeCost[];
  /** What the reference figures are, in words. */
  reference: string;
}

export interface AppStatus {
  library: LibrarySummary | null;
  backend: BackendInfo | null;
  job: JobState | null;
  defaults: TrainSettings;
}

export type JobKind = 'scan' | 'features' | 'train' | 'index' | 'audit';

export interface JobState {
  kind: JobKind;
  state: 'running' | 'paused' | 'stopping' | 'done' | 'failed' | 'stopped';
  runId: number | null;
  message: string | null;
}

/** A first-level folder of the library and the class its photos go to (null: excluded). */
export interface FolderLabel {
  folder: string;
  className: string | null;
  photoCount: number;
}

/** The labels chosen in the app, on top of the folders (which stay untouched). */
export interface LabelsState {
  folders: FolderLabel[];
  /** Photos given a class one by one (from a selection). */
  photoLabels: number;
  /** What the last change did, for its Undo; null: nothing to undo. */
  lastChange: string | null;
  /** What each change that Undo can still take back did, newest first (lastChange is the first). */
  undoSteps: string[];
  /** The last "write labels to folders" that can still be undone (finished, or interrupted: then `notice` says how far it got); null: none. */
  lastWrite: { id: number; writtenAt: string; moved: number; notice: string | null } | null;
}

export type LabelChange =
  | { kind: 'exclude-folder'; folder: string }
  | { kind: 'include-folder'; folder: string }
  | { kind: 'rename-class'; from: string; to: string }
  | { kind: 'merge-classes'; from: string; into: string }
  /** Puts photos in a class, creating it when new; photos in the root become trainable this way. */
  | { kind: 'assign-photos'; photoIds: number[]; className: string }
  /** Gives photos back the class of their folder. */
  | { kind: 'unassign-photos'; photoIds: number[] };

export interface LabelsResult {
  library: LibrarySummary;
  labels: LabelsState;
}

export interface DuplicatePhoto {
  photoId: number;
  path: string;
  className: string | null;
  /** Another photo of the library has the very same content (same hash). */
  exactCopy: boolean;
  /** Distance to the group's first photo under the untrained backbone; null when they are joined only through others. */
  distance: number | null;
}

export interface DuplicateGroup {
  photos: DuplicatePhoto[];
  /** Every photo of the group has the same content. */
  exact: boolean;
}

export interface DuplicatesResult {
  threshold: number;
  maxThreshold: number;
  modelId: number;
  groups: DuplicateGroup[];
  /** How many groups each threshold gives, for the slider to show as it moves. */
  groupCounts: Array<{ threshold: number; groups: number }>;
}

/** A photo near one under review, of another class than its label. */
export interface AuditNeighbour {
  photoId: number;
  path: string;
  className: string;
  distance: number;
}

/** A photo whose folder (or label) says one class while heads that never trained on it say another. */
export interface MislabelSuspect {
  photoId: number;
  path: string;
  className: string;
  suggestedClass: string;
  /** 0-1: how sure the audit is that the label is wrong (the list is sorted by it). */
  suspicion: number;
  /** Its nearest neighbours of another class, nearest first. */
  neighbours: AuditNeighbour[];
}

/** The last "find the mislabelled" of the open library, less what was relabelled or confirmed since. */
export interface LabelAudit {
  /** null: never audited. */
  auditedAt: string | null;
  /** Labelled photos scored. */
  scored: number;
  folds: number;
  seconds: number;
  suspects: MislabelSuspect[];
  /** Photos marked "this one is right" (not shown again while they keep that class). */
  confirmed: number;
  /** Photos of the list or among their neighbours whose class changed since the check: its verdicts may be stale. */
  changedSince: number;
}

/** A labelled photo near an unlabelled one, backing the class suggested for it. */
export interface SuggestionSupport {
  photoId: number;
  path: string;
  distance: number;
}

/** The class the model suggests for a photo without one (engine/ml/suggest.ts says how). */
export interface Suggestion {
  photoId: number;
  path: string;
  /** null: "none of your classes" (too unlike even the class it is nearest: `strangeness` says how). */
  className: string | null;
  /** The class the vote went to, also when it is too far to suggest. */
  nearestClass: string | null;
  /** Share of its 10 nearest labelled photos in the suggested class (0 for none). */
  confidence: number;
  /** Distance to the nearest labelled photo of `nearestClass`. */
  distance: number;
  /** The nearest labelled photos of `nearestClass`, nearest first. */
  support: SuggestionSupport[];
  /** Classes the person rejected for this photo (not suggested again). */
  rejected: string[];
  /**
   * What "none of your classes" was judged on (engine/ml/suggest.ts noveltyRule): how unusual the photo
   * is for `nearestClass`: the share of held-out labelled photos more usual for their own class by the
   * model's distance, and by the distance to every class in the untrained features; and how many of its
   * nearest photos (untrained features) are unsorted against how many usually are for the class's labelled
   * photos (the last two null without untrained features). Null when a plain distance threshold judged
   * (no validation split yet).
   */
  strangeness: { model: number; untrained: number | null; unsorted: { count: number; usual: number; of: number } | null } | null;
}

export interface SuggestionsResult {
  modelId: number;
  modelName: string;
  /** One per unlabelled photo the model has indexed; most confident first. */
  suggestions: Suggestion[];
  /** Unlabelled photos not indexed by the model yet (no suggestion until they are). */
  notIndexed: number;
}

/** One file "write labels to folders" would move (paths relative to the library root). */
export interface LabelMove {
  photoId: number;
  from: string;
  to: string;
  className: string;
  /** The class folder already holds a file of that name (or another move takes it): " (2)" added. */
  renamed: boolean;
  /** Source and class folder on different devices: copied, checked by SHA-256, then removed. */
  copy: boolean;
}

export interface LabelWritePreview {
  moves: LabelMove[];
  /** Class folders that do not exist yet and will be made. */
  newFolders: string[];
  /** Names this plan; writeLabels refuses when the library changed since the preview. */
  fingerprint: string;
}

export interface MoveResult {
  moved: Array<{ from: string; to: string }>;
  library: LibrarySummary;
}

/** Events the engine pushes while work runs. */
export type EngineEvent =
  | { type: 'job'; job: JobState }
  | {
      type: 'progress';
      kind: JobKind;
      phase: string;
      done: number;
      total: number;
      etaSeconds: number | null;
      /** Photos through the backbone per second (features), or 3 per triplet trained per second (train). */
      imagesPerSecond?: number | null;
    }
  | { type: 'loss'; runId: number; step: number; epoch: number; loss: number }
  | {
      type: 'epoch';
      runId: number;
      epoch: number;
      epochs: number;
      meanLoss: number;
      validation: RetrievalMetrics;
      baseline: RetrievalMetrics;
    }
  | { type: 'problem'; problem: Problem }
  | { type: 'library'; library: LibrarySummary };

export interface FolderEntry {
  name: string;
  /** Absolute. */
  path: string;
}

/** One folder's sub-folders, for the browser's folder picker (Electron uses the system dialog). */
export interface FolderListing {
  /** Absolute; the home folder when none was asked for. */
  path: string;
  parent: string | null;
  /** From the file-system root down to `path`, for a breadcrumb. */
  crumbs: FolderEntry[];
  /** Sub-folders, hidden ones left out, sorted by name. */
  folders: FolderEntry[];
  /** How many sub-folders were left out past the listing's limit. */
  more: number;
  home: string;
  /** Libraries opened before whose folders still exist, most recent first. */
  recent: FolderEntry[];
}

/**
 * A library laid out in 2D by one model (engine/ml/map-projection.ts): photos it places near each
 * other are near under that model. Parallel arrays, one entry per photo on the map.
 */
export interface LibraryMap {
  modelId: number;
  modelName: string;
  kind: 'baseline' | 'trained';
  photoIds: number[];
  /** In [0, 1], one scale for both axes; y grows downwards. */
  x: number[];
  y: number[];
  paths: string[];
  /** Position of the photo's class in `classes` (-1: no class); classes oldest first (a new class comes last, so the others keep their colours), the same list for every model of a library. */
  classOf: number[];
  classes: string[];
  /** Photos of the library not on the map: not analysed under this model yet. */
  missing: number;
}

/** Every call: name -> [argument, result]. */
export interface ApiCalls {
  status: [void, AppStatus];
  openLibrary: [{ root: string }, LibrarySummary];
  listPhotos: [PhotoQuery, PhotoPage];
  startTraining: [Partial<TrainSettings>, { runId: number }];
  pauseTraining: [void, JobState | null];
  resumeTraining: [void, JobState | null];
  stopTraining: [void, JobState | null];
  listRuns: [void, RunInfo[]];
  /** What each fine-tune mode would cost on the open library with these settings: from this machine's runs, else the reference machine's figures. */
  trainingCost: [Partial<TrainSettings>, TrainingCost];
  runHistory: [{ runId: number }, { losses: Array<{ step: number; epoch: number; loss: number }>; epochs: Array<{ epoch: number; meanLoss: number; validation: RetrievalMetrics }> }];
  listModels: [void, ModelInfo[]];
  findSimilar: [SimilarQuery, SimilarResult];
  /** Per-class quality and worst validation queries of a model (default: the newest trained, else the baseline). */
  evaluateModel: [{ modelId?: number }, ModelEvaluation];
  labels: [void, LabelsState];
  changeLabels: [LabelChange, LabelsResult];
  undoLabels: [void, LabelsResult];
  /** Every move "write labels to folders" would make, nothing moved yet. */
  previewLabelWrite: [void, LabelWritePreview];
  /** Moves labelled photos into their class folders inside the library, exactly as previewed (never overwriting); logged. */
  writeLabels: [{ fingerprint: string }, LabelsResult];
  /** Moves the files of the last write back where they were. */
  undoLabelWrite: [void, LabelsResult];
  findDuplicates: [{ threshold: number }, DuplicatesResult];
  /** Moves photos out of the library into a folder outside it (never deleting, never overwriting). */
  movePhotos: [{ photoIds: number[]; folder: string }, MoveResult];
  /** Puts the photos of the last move out of the library back where they were (finished or interrupted). */
  undoMovePhotos: [void, { back: number; library: LibrarySummary }];
  /** Writes a trained model to a new folder: TF.js head, ONNX head, card.json (fine-tuned: also the backbone graph model and network.onnx). */
  exportModel: [{ modelId: number; folder: string }, { folder: string; files: string[] }];
  /** Adds an exported model (folder or card.json) to the open library and indexes the library with it. */
  importModel: [{ source: string }, ModelInfo];
  /** Removes a trained or imported model of the open library, with its index (photos and runs stay); the models left. */
  removeModel: [{ modelId: number }, ModelInfo[]];
  /** Sub-folders of a folder (`~` and absolute paths; none: home). */
  listFolders: [{ path?: string }, FolderListing];
  /** The library's marks, and those against one query photo. */
  marks: [{ queryPhotoId?: number }, MarksState];
  /** Marks (or, with marked false, unmarks) a result as not similar to a query photo of the library. */
  markNotSimilar: [{ queryPhotoId: number; photoId: number; marked: boolean }, MarksState];
  /** Starts "find the mislabelled" as a job (kind 'audit'): cross-fitted heads score every labelled photo. */
  startLabelAudit: [void, JobState];
  /** The last audit's suspects, less those relabelled or confirmed since. */
  labelAudit: [void, LabelAudit];
  /** "This one is right": the photo keeps its class and leaves the list for good (until its class changes). */
  confirmLabel: [{ photoId: number }, LabelAudit];
  /** A class (or "none of your classes") for each unlabelled photo, from the newest trained model unless one is named. */
  suggestClasses: [{ modelId?: number }, SuggestionsResult];
  /** Remembers (or, with rejected false, forgets) that a photo is not of a class: that class is not suggested for it again. */
  rejectSuggestion: [{ photoId: number; className: string; rejected: boolean; modelId?: number }, SuggestionsResult];
  /** The library's map under a model (default: the untrained one); made on a worker thread the first time (progress events), then kept. */
  libraryMap: [{ modelId?: number }, LibraryMap];
}

export type ApiName = keyof ApiCalls;
export type ApiArg<N extends ApiName> = ApiCalls[N][0];
export type ApiResult<N extends ApiName> = ApiCalls[N][1];

/** The same shape on every side: what the renderer calls, what each transport serves. */
export type Api = { [N in ApiName]: (arg: ApiArg<N>) => Promise<ApiResult<N>> };

export type ApiHandlers = Api;

export const API_NAMES: readonly ApiName[] = [
  'status',
  'openLibrary',
  'listPhotos',
  'startTraining',
  'pauseTraining',
  'resumeTraining',
  'stopTraining',
  'listRuns',
  'trainingCost',
  'runHistory',
  'listModels',
  'findSimilar',
  'evaluateModel',
  'labels',
  'changeLabels',
  'undoLabels',
  'previewLabelWrite',
  'writeLabels',
  'undoLabelWrite',
  'findDuplicates',
  'movePhotos',
  'undoMovePhotos',
  'exportModel',
  'importModel',
  'removeModel',
  'listFolders',
  'marks',
  'markNotSimilar',
  'startLabelAudit',
  'labelAudit',
  'confirmLabel',
  'suggestClasses',
  'rejectSuggestion',
  'libraryMap',
] as const;

/**
 * One function per API call, each handing its name and argument to `call`: the engine thread's proxy,
 * the preload bridge and both renderer transports are made here. `T` is the shape the caller promises
 * (the API itself unless a transport wraps results, as Electron IPC does).
 */
export function forwardCalls<T = Api>(call: (name: ApiName, arg: unknown) => Promise<unknown>): T {
  return Object.fromEntries(API_NAMES.map((name) => [name, (arg: unknown) => call(name, arg)])) as T;
}

/** Electron IPC channel names, one per call plus one for events. */
export const ipcChannel = (name: ApiName): string => `lookalike:${name}`;
export const EVENT_CHANNEL = 'lookalike:event';

/** URL of a photo's image: thumbnails are made once by sharp and cached on disk. */
export type PhotoSize = 'thumb' | 'full';

/** A transport: the API plus an event subscription and a way to turn a photo into an image URL. */
export interface Transport {
  api: Api;
  onEvent(listener: (event: EngineEvent) => void): () => void;
  photoUrl(photoId: number, size: PhotoSize): string;
  kind: 'electron' | 'bridge';
}
