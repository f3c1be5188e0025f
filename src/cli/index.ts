import { existsSync, lstatSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { RetrievalMetrics, TrainSettings } from '../shared/api.js';
import {
  SAMPLE_CLASSES,
  auditLabels,
  labelAuditState,
  Store,
  checkPhotoStats,
  defaultDbPath,
  defaultModel,
  describeHolder,
  errorInWords,
  holdJobLock,
  JobControl,
  userCacheDir,
  userDataDir,
  evaluateModelInDetail,
  findSimilar,
  indexAll,
  indexLibrary,
  importModel,
  removeModel,
  toModelInfo,
  expectedRuntime,
  libraryMap,
  mapPng,
  locateFile,
  makeSampleLibrary,
  openLibrary,
  photoIn,
  planTraining,
  readPhoto,
  requireLibrary,
  selectBackend,
  trainModel,
  suggestClasses,
  type JobContext,
} from '../engine/index.js';
import { DEFAULT_BACKBONE_PRECISION, DEFAULT_K, DEFAULT_SETTINGS, INT8_CALIBRATION_PHOTOS, SettingsError, checkK, parseBackbonePrecision, resolveSettings, trainingProblem } from '../shared/settings.js';
import { comparedWithHeadAlone } from '../shared/head-alone.js';
import { createProgressPrinter } from './progress.js';
import { similarJson, similarText } from './similar-output.js';

class UsageError extends Error {}

const USAGE = `lookalike: learn what "similar" means in a labelled photo folder

  lookalike scan <folder> [--db F] [--json]
  lookalike index <folder> [--db F] [--backbone B] [--precision int8|fp32] [--retry] [--json]   (--retry: try photos that failed before again)
  lookalike train <folder> [--db F] [--epochs N] [--batch N] [--lr X] [--gap G] [--dim D] [--seed S]
                  [--validation F] [--triplets N] [--sampling random|balanced|semi-hard|in-class]
                  [--features multi-scale|final] [--backbone B] [--fine-tune head|last-blocks|full] [--blocks N]
                  [--workers N] [-k N] [--precision int8|fp32] [--json]
  lookalike eval <folder> [--db F] [-k N] [--model ID] [--json]
  lookalike audit <folder> [--db F] [--folds N] [--epochs N] [--json]   photos whose class the model doubts, most doubtful first
  lookalike similar <photo-or-image> [--db F] [-k N] [--model ID|EXPORTED-FOLDER] [--library <folder>] [--precision int8|fp32] [--json]
  lookalike models <folder> [--db F] [--remove ID] [--json]   the library's models (imported, broken and why); --remove drops one
  lookalike suggest <folder> [--db F] [--model ID] [--json]   a class (or none) for each unlabelled photo
  lookalike map <folder> --out FILE.png [--db F] [--model ID] [--size N] [--json]   (2D map of the photos under a model; default: the newest trained)
  lookalike serve [<folder>] [--db F] [--port N] [--precision int8|fp32]
  lookalike bench <name> [--json]
  lookalike sample <folder>          draw a small labelled sample library to try the app on

Sub-folders of <folder> are classes; photos directly in it are searchable but not trained on.
--backbone: ${DEFAULT_SETTINGS.backbone} (built in), FOLDER[#LAYER][@RANGE] for a TF.js model folder,
            e.g. models/mobilenetv2-0.35#out_relu@-1,1, or URL[#LAYER][@RANGE]=sha256:HEX to download
            one on first use (cached, checked against the checksum)
--precision: how the built-in backbone runs on the CPU: ${DEFAULT_BACKBONE_PRECISION} (default; calibrated once on
            ${INT8_CALIBRATION_PHOTOS} photos of the library, cached) or fp32 (the float graph)
--verbose: also the GPU probe's driver warnings (quiet otherwise)
Database: --db, else ${defaultDbPath()}`;

const COMMON = { db: { type: 'string' }, json: { type: 'boolean' }, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

/** --verbose: what is quiet otherwise (the GPU probe's driver warnings) is shown; the engine reads it from the environment. */
function applyVerbose(values: { verbose?: boolean }): void {
  if (values.verbose) process.env.LOOKALIKE_VERBOSE = '1';
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'scan':
        return await scanCommand(rest);
      case 'index':
        return await indexCommand(rest);
      case 'train':
        return await trainCommand(rest);
      case 'eval':
        return await evalCommand(rest);
      case 'audit':
        return await auditCommand(rest);
      case 'similar':
        return await similarCommand(rest);
      case 'models':
        return await modelsCommand(rest);
      case 'suggest':
        return await suggestCommand(rest);
      case 'map':
        return await mapCommand(rest);
      case 'serve':
        return await serveCommand(rest);
      case 'bench':
        return await benchCommand(rest);
      case 'sample':
        return await sampleCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof RangeError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`lookalike: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`lookalike: ${errorInWords(error, { dbPath: dbInUse })}`);
    if (process.env.LOOKALIKE_DEBUG) console.error(error);
    return 1;
  }
}

/** --precision int8|fp32: how the built-in backbone computes features here (see settings.ts). */
const PRECISION = { precision: { type: 'string' } } as const;

/** The feature threads read the precision from the environment, which they inherit. */
function usePrecision(text: string | undefined): void {
  if (text !== undefined) process.env.LOOKALIKE_BACKBONE_PRECISION = parseBackbonePrecision(text);
}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, positionals: number) {
  const parsed = parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
  applyVerbose(parsed.values as { verbose?: boolean });
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(`expected ${positionals} argument${positionals === 1 ? '' : 's'}, got ${parsed.positionals.length}`);
  }
  return parsed;
}

/** Lookalike's own folders: never indexed, even inside a library. */
const APP_FOLDERS = () => [userCacheDir(), userDataDir()];

/** The database the command works on: SQLite's own errors do not say which file they are about. */
let dbInUse: string | undefined;

function openStore(db: string | undefined): Store {
  dbInUse = db ? resolve(db) : defaultDbPath();
  return Store.open(dbInUse);
}

function context(store: Store): JobContext {
  return { store, emit: createProgressPrinter(process.stderr) };
}

/**
 * Claims the database for this command's job (see JobLock): refused in words when another process
 * runs one; Stop in the app (another process) reaches it through the claim's heartbeat. Returns the
 * function that gives the claim back.
 */
function claimTheJob(store: Store, kind: string, ctx: JobContext): () => void {
  const holder = store.jobLock.claim(kind);
  if (holder) throw new Error(describeHolder(holder));
  const control = new JobControl();
  ctx.control = control;
  return holdJobLock(store.jobLock, () => {
    console.error('lookalike: stop asked from another Lookalike process; stopping');
    control.stop();
  });
}

function output(json: boolean | undefined, value: unknown, text: string): void {
  console.log(json ? JSON.stringify(value) : text);
}

/** Opens the library; file moves found part way (the app was killed while moving) are settled then, and said here. */
async function openLibrarySaying(ctx: Parameters<typeof openLibrary>[0], folder: string): ReturnType<typeof openLibrary> {
  const opened = await openLibrary(ctx, folder, { appFolders: APP_FOLDERS() });
  for (const notice of opened.recovered) console.error(`lookalike: ${notice}`);
  return opened;
}

/** Problems as --json has always printed them: path and reason. */
function pathsAndReasons(problems: Array<{ path: string; reason: string }>): Array<{ path: string; reason: string }> {
  return problems.map(({ path, reason }) => ({ path, reason }));
}

async function scanCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {}, 1);
  const store = openStore(values.db);
  const ctx = context(store);
  let endJob: (() => void) | undefined;
  try {
    endJob = claimTheJob(store, 'scan', ctx);
    const opened = await openLibrarySaying(ctx, positionals[0]);
    const { summary, sync } = opened;
    output(values.json, { ...summary, problems: pathsAndReasons(summary.problems), sync }, [
      `${summary.root}: ${summary.photoCount} photos in ${summary.classes.length} classes, ${summary.unlabelledCount} unlabelled`,
      ...summary.classes.map((c) => `  ${c.name}: ${c.photoCount}`),
      `changes: ${sync.added} added, ${sync.changed} changed, ${sync.removed} removed`,
      ...(summary.problems.length ? [`${summary.problems.length} files skipped:`, ...summary.problems.map((p) => `  ${p.path}: ${p.reason}`)] : []),
    ].join('\n'));
    return 0;
  } finally {
    endJob?.();
    store.close();
  }
}

async function indexCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { backbone: { type: 'string' }, workers: { type: 'string' }, retry: { type: 'boolean' }, ...PRECISION }, 1);
  usePrecision(values.precision);
  const store = openStore(values.db);
  const ctx = context(store);
  let endJob: (() => void) | undefined;
  try {
    endJob = claimTheJob(store, 'index', ctx);
    const { libraryId } = await openLibrarySaying(ctx, positionals[0]);
    const outcome = await indexAll(ctx, libraryId, { backbone: values.backbone ?? DEFAULT_SETTINGS.backbone, workers: intOption(values.workers, 'workers'), retry: values.retry });
    if (outcome.baselineId === null) throw new Error('no photo of this library could be read by the backbone yet; nothing to index');
    const indexed = outcome.indexed.map(({ modelId, missingFeatures }) => ({ modelId, embedded: store.embeddingCount(modelId), unreadable: missingFeatures }));
    const skipped = store.problems(libraryId);
    output(
      values.json,
      { features: outcome.features, indexed, broken: outcome.broken, problems: pathsAndReasons(skipped) },
      [
        ...indexed.map((i) => `model ${i.modelId}: ${i.embedded} photos indexed${i.unreadable ? `, ${i.unreadable} unreadable` : ''}`),
        ...outcome.broken.map((b) => `model ${b.modelId}: could not run: ${b.reason}`),
        ...(skipped.length ? [`${skipped.length} files skipped:`, ...skipped.map((p) => `  ${p.path}: ${p.reason}`)] : []),
      ].join('\n'),
    );
    return 0;
  } finally {
    endJob?.();
    store.close();
  }
}

async function modelsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { remove: { type: 'string' } }, 1);
  const removing = intOption(values.remove, 'remove');
  const store = openStore(values.db);
  let endJob: (() => void) | undefined;
  try {
    const libraryId = requireLibrary(store, realFolder(positionals[0]));
    if (removing !== undefined) {
      // Not while another process indexes with it: claimed like any job.
      endJob = claimTheJob(store, 'remove model', context(store));
      removeModel(store, libraryId, removing);
    }
    const models = store.models(libraryId).map((m) => toModelInfo(store, m.id));
    const describe = (m: (typeof models)[number]) =>
      [
        `model ${m.id}: ${m.name} (${m.kind}${m.imported ? ', imported' : ''}), ${m.indexedCount} photos indexed`,
        ...(m.problem ? [`  broken: ${m.problem}`] : []),
        ...(m.classNote ? [`  ${m.classNote}`] : []),
      ].join('\n');
    output(values.json, { removed: removing ?? null, models }, [...(removing !== undefined ? [`removed model ${removing}`] : []), ...models.map(describe)].join('\n'));
    return 0;
  } finally {
    endJob?.();
    store.close();
  }
}

async function trainCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      epochs: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      gap: { type: 'string' },
      dim: { type: 'string' },
      seed: { type: 'string' },
      validation: { type: 'string' },
      triplets: { type: 'string' },
      sampling: { type: 'string' },
      features: { type: 'string' },
      backbone: { type: 'string' },
      'fine-tune': { type: 'string' },
      blocks: { type: 'string' },
      workers: { type: 'string' },
      k: { type: 'string', short: 'k' },
      ...PRECISION,
    },
    1,
  );
  usePrecision(values.precision);
  const given: Partial<TrainSettings> = {
    epochs: intOption(values.epochs, 'epochs'),
    batchSize: intOption(values.batch, 'batch'),
    learningRate: numberOption(values.lr, 'lr'),
    gap: numberOption(values.gap, 'gap'),
    dim: intOption(values.dim, 'dim'),
    seed: intOption(values.seed, 'seed'),
    validationFraction: numberOption(values.validation, 'validation'),
    tripletsPerEpoch: intOption(values.triplets, 'triplets'),
    backbone: values.backbone,
    fineTune: values['fine-tune'] as TrainSettings['fineTune'] | undefined,
    fineTuneBlocks: intOption(values.blocks, 'blocks'),
    sampling: values.sampling as TrainSettings['sampling'] | undefined,
    features: values.features as TrainSettings['features'] | undefined,
  };
  const k = checkK(intOption(values.k, 'k') ?? DEFAULT_K);
  const settings = resolveSettings(given); // bad settings are refused before any work starts
  const refused = trainingProblem(settings, { backend: await selectBackend() });
  if (refused) throw new SettingsError(refused);
  const store = openStore(values.db);
  const ctx = context(store);
  let endJob: (() => void) | undefined;
  try {
    endJob = claimTheJob(store, 'train', ctx);
    const backend = await selectBackend();
    const backboneRuntime = await expectedRuntime(backend);
    console.error(`TF.js backend: ${backend.name} (${backend.reason}); backbone on ${backboneRuntime}`);
    const { libraryId } = await openLibrarySaying(ctx, positionals[0]);
    const result = await trainModel(ctx, libraryId, planTraining(store, libraryId, settings, { k }), { workers: intOption(values.workers, 'workers') });
    const summary = {
      run: result.runId,
      run_number: result.runNumber,
      model: result.modelId,
      backbone: result.backbone,
      backend: backend.name,
      ...(backend.adapter ? { adapter: backend.adapter } : {}),
      backbone_runtime: backboneRuntime,
      epochs: result.epochsDone,
      resumed: result.resumed,
      final_loss: result.finalLoss,
      seconds: Math.round(result.seconds * 10) / 10,
      marks_used: result.marksUsed,
      eval: evalObject(result.baseline, result.trained),
      // Fine-tuning only: the head after its head-first phase, on the same split, before the blocks trained.
      head_alone: result.headAlone ? roundedScores(result.headAlone) : null,
    };
    output(values.json, summary, [
      `run ${result.runNumber} of this library: ${result.epochsDone} epochs in ${summary.seconds}s, final loss ${result.finalLoss?.toFixed(4)}`,
      formatEval(summary.eval),
      ...(result.headAlone ? [`  ${comparedWithHeadAlone(result.trained, result.headAlone)}`] : []),
    ].join('\n'));
    return 0;
  } finally {
    endJob?.();
    store.close();
  }
}

async function evalCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { k: { type: 'string', short: 'k' }, model: { type: 'string' } }, 1);
  const k = checkK(intOption(values.k, 'k') ?? DEFAULT_K);
  const store = openStore(values.db);
  try {
    const libraryId = requireLibrary(store, realFolder(positionals[0]));
    const modelId = intOption(values.model, 'model') ?? defaultModel(store, libraryId)?.id;
    if (modelId === undefined) throw new Error('no model stored for this library: run `lookalike train` first');
    const detail = await evaluateModelInDetail(store, libraryId, modelId, k);
    const result = {
      model: detail.modelId,
      ...evalObject(detail.baseline, detail.trained),
      classes: detail.classes.map((c) => ({
        class: c.name,
        queries: c.queries,
        baseline: { precision_at_k: round(c.baseline.precision_at_k), map_at_r: round(c.baseline.map_at_r) },
        trained: c.trained ? { precision_at_k: round(c.trained.precision_at_k), map_at_r: round(c.trained.map_at_r) } : null,
      })),
      worst_queries: detail.worstQueries.map((q) => ({ path: q.path, class: q.className, other_class_share: round(q.otherClassShare), confused_with: q.confusedWith })),
      distances: detail.distances,
    };
    output(values.json, result, [formatEval(result), formatClasses(result.classes, result.k)].join('\n'));
    return 0;
  } finally {
    store.close();
  }
}

/** Find the mislabelled: every labelled photo scored by heads that never trained on it; nothing is moved or relabelled. */
async function auditCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { folds: { type: 'string' }, epochs: { type: 'string' } }, 1);
  const store = openStore(values.db);
  const ctx = context(store);
  let endJob: (() => void) | undefined;
  try {
    endJob = claimTheJob(store, 'audit', ctx);
    const { libraryId } = await openLibrary(ctx, positionals[0], { appFolders: APP_FOLDERS() });
    const { ranked, seconds } = await auditLabels(ctx, libraryId, { folds: intOption(values.folds, 'folds'), epochs: intOption(values.epochs, 'epochs') });
    const audit = labelAuditState(store, libraryId);
    const suspects = audit.suspects.map((s) => ({
      path: s.path,
      class: s.className,
      suggested: s.suggestedClass,
      suspicion: round(s.suspicion),
      neighbours: s.neighbours.map((n) => ({ path: n.path, class: n.className, distance: round(n.distance) })),
    }));
    output(
      values.json,
      { scored: ranked.length, folds: audit.folds, seconds: round(seconds), confirmed: audit.confirmed, suspects },
      [
        `${ranked.length} labelled photos checked by ${audit.folds} cross-fitted heads in ${seconds.toFixed(1)} s: ${suspects.length} may be in the wrong class${audit.confirmed ? ` (${audit.confirmed} confirmed right left out)` : ''}`,
        ...suspects.map((s) => `  ${s.suspicion.toFixed(2)}  ${s.path}: in "${s.class}", looks like "${s.suggested}"`),
      ].join('\n'),
    );
    return 0;
  } finally {
    endJob?.();
    store.close();
  }
}

async function similarCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { k: { type: 'string', short: 'k' }, model: { type: 'string' }, library: { type: 'string' }, ...PRECISION }, 1);
  usePrecision(values.precision);
  const k = checkK(intOption(values.k, 'k') ?? 10);
  const store = openStore(values.db);
  try {
    const file = resolve(positionals[0]);
    let real: string;
    try {
      real = realpathSync(file);
    } catch {
      throw new Error(`${file}: file not found`);
    }
    // Before anything else: a FIFO or device must not be waited on or read without end.
    checkPhotoStats(statSync(real), real);
    const located = values.library ? libraryNamed(store, values.library, real) : locateFile(store, real);
    if (!located) {
      if (store.libraries().length === 0) throw new Error('the database holds no library yet: run `lookalike train <folder>` first');
      // The one line that fixes it, not the whole usage text.
      throw new Error(`${real} is outside every library; say which library to search: lookalike similar "${positionals[0]}" --library <folder>`);
    }
    const { libraryId, photoId } = located;
    const modelId = await modelOption(store, libraryId, values.model);
    const result = photoId !== null
      ? await findSimilar(store, libraryId, { photoId }, k, modelId)
      : await findSimilar(store, libraryId, { image: await readPhoto(real), label: real }, k, modelId);
    // Answers from a partial index would look complete: say so, and fail.
    const model = store.model(result.modelId)!;
    const missing = store.unindexedCount(libraryId, model.id, model.backbone);
    const incomplete = missing > 0 ? `the index of model ${model.id} is incomplete (${missing} of ${store.countPhotos(libraryId)} photos not indexed; was indexing stopped?); run \`lookalike index ${store.libraryRoot(libraryId)}\`` : null;
    const json = similarJson(result, incomplete, store.libraryRoot(libraryId));
    output(values.json, json, similarText(json));
    if (incomplete) {
      console.error(`lookalike: ${incomplete}`);
      return 1;
    }
    return 0;
  } finally {
    store.close();
  }
}

/** One row per unlabelled photo: its suggested class or "none of your classes", the confidence, the nearest labelled photo of that class. */
async function suggestCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { model: { type: 'string' } }, 1);
  const store = openStore(values.db);
  try {
    const libraryId = requireLibrary(store, realFolder(positionals[0]));
    const result = suggestClasses(store, libraryId, { modelId: intOption(values.model, 'model') });
    const rows = result.suggestions.map((s) => ({
      path: s.path,
      class: s.className,
      nearest_class: s.nearestClass,
      confidence: round(s.confidence),
      nearest_labelled: s.support[0]?.path ?? null,
      distance: round(s.distance),
      // What "none of your classes" is judged on (null where a plain distance threshold judged).
      strangeness: s.strangeness && {
        model: round(s.strangeness.model),
        untrained: s.strangeness.untrained === null ? null : round(s.strangeness.untrained),
        unsorted_neighbours: s.strangeness.unsorted && { ...s.strangeness.unsorted, usual: round(s.strangeness.unsorted.usual) },
      },
    }));
    const table = rows.map((r) => `${r.confidence.toFixed(2)}  ${(r.class ?? `none of your classes (nearest: ${r.nearest_class ?? '-'})`).padEnd(24)}  ${r.path}  ~ ${r.nearest_labelled ?? '-'}`);
    const pending = result.notIndexed > 0 ? `${result.notIndexed} unlabelled photos are not indexed by model ${result.modelId} yet; run \`lookalike index ${store.libraryRoot(libraryId)}\`` : null;
    output(
      values.json,
      { model: result.modelId, suggestions: rows, ...(pending ? { not_indexed: result.notIndexed } : {}) },
      [`suggestions from model ${result.modelId} (${result.modelName}), most confident first:`, ...(rows.length ? table : ['no unlabelled photos'])].join('\n'),
    );
    if (pending) console.error(`lookalike: ${pending}`);
    return 0;
  } finally {
    store.close();
  }
}

/** Sides of the map image, in pixels. */
const MAP_SIZES = { default: 1600, min: 200, max: 8000 };

async function mapCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { out: { type: 'string' }, model: { type: 'string' }, size: { type: 'string' } }, 1);
  if (!values.out) throw new UsageError('map needs --out FILE.png, the image to write');
  if (!/\.png$/i.test(values.out)) throw new UsageError(`--out must name a .png file (got "${values.out}")`);
  const size = intOption(values.size, 'size') ?? MAP_SIZES.default;
  if (size < MAP_SIZES.min || size > MAP_SIZES.max) throw new UsageError(`--size must be between ${MAP_SIZES.min} and ${MAP_SIZES.max} pixels (got ${size})`);
  const out = resolve(values.out);
  const existing = lstatSync(out, { throwIfNoEntry: false });
  if (existing && !existing.isFile()) throw new Error(`${out}: ${existing.isSymbolicLink() ? 'is a symbolic link' : 'not a regular file'}; name a new .png file`);
  if (!statSync(dirname(out), { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${dirname(out)}: folder not found; the map is written into an existing folder`);
  const store = openStore(values.db);
  try {
    const libraryId = requireLibrary(store, realFolder(positionals[0]));
    const modelId = intOption(values.model, 'model') ?? defaultModel(store, libraryId)?.id;
    if (modelId === undefined) throw new Error('no model stored for this library: run `lookalike index` or `lookalike train` first');
    const emit = createProgressPrinter(process.stderr);
    const map = await libraryMap(store, libraryId, modelId, (phase, done, total) => emit({ type: 'progress', kind: 'index', phase, done, total, etaSeconds: null }));
    writeFileSync(out, await mapPng(map, size));
    output(values.json, { out, model: map.modelId, photos: map.photoIds.length, missing: map.missing, classes: map.classes }, `${out}: ${map.photoIds.length} photos mapped under ${map.modelName}${map.missing ? ` (${map.missing} not analysed yet)` : ''}`);
    return 0;
  } finally {
    store.close();
  }
}

async function serveCommand(args: string[]): Promise<number> {
  const parsed = parseArgs({ args, options: { ...COMMON, port: { type: 'string' }, ...PRECISION }, allowPositionals: true, strict: true });
  applyVerbose(parsed.values);
  usePrecision(parsed.values.precision);
  if (parsed.positionals.length > 1) throw new UsageError('serve takes at most one folder');
  const folder = parsed.positionals[0] ? resolve(parsed.positionals[0]) : undefined;
  // Said before serving: otherwise the page opens on no library and the reason is never shown.
  if (folder !== undefined && !statSync(folder, { throwIfNoEntry: false })?.isDirectory()) {
    throw new Error(`${folder}: ${existsSync(folder) ? 'not a folder' : 'folder not found'}; give a folder of photos (or none to reopen the last library)`);
  }
  // A computed specifier: the bridge is optional for the engine's own build.
  const bridgeModule = '../bridge/serve.js';
  const { serve } = (await import(bridgeModule)) as { serve: (options: { dbPath?: string; port?: number; libraryRoot?: string }) => Promise<{ url: string; close: () => Promise<void> }> };
  const server = await serve({
    dbPath: parsed.values.db ? resolve(parsed.values.db) : undefined,
    port: intOption(parsed.values.port, 'port'),
    libraryRoot: folder,
  });
  await new Promise<void>((resolveStop) => {
    const stop = () => void server.close().then(resolveStop);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

async function benchCommand(args: string[]): Promise<number> {
  const { spawnSync } = await import('node:child_process');
  const root = resolve(new URL('../../..', import.meta.url).pathname);
  const result = spawnSync(process.execPath, ['--import', 'tsx', resolve(root, 'bench/index.ts'), ...args], { stdio: 'inherit', cwd: root });
  return result.status ?? 1;
}

async function sampleCommand(args: string[]): Promise<number> {
  const { positionals } = parse(args, {}, 1);
  const root = await makeSampleLibrary(resolve(positionals[0]));
  console.log(`${root}: sample library with classes ${SAMPLE_CLASSES.join(', ')}`);
  return 0;
}

function realFolder(folder: string): string {
  try {
    return realpathSync(resolve(folder));
  } catch {
    throw new Error(`${resolve(folder)}: folder not found`);
  }
}

function libraryNamed(store: Store, folder: string, file: string): { libraryId: number; photoId: number | null } {
  const root = realFolder(folder);
  const libraryId = requireLibrary(store, root);
  return { libraryId, photoId: photoIn(store, libraryId, root, file) };
}

function evalObject(baseline: RetrievalMetrics, trained: RetrievalMetrics | null) {
  return {
    k: baseline.k,
    queries: baseline.queries,
    database: baseline.database,
    baseline: roundedScores(baseline),
    trained: trained ? roundedScores(trained) : null,
  };
}

function roundedScores(scores: RetrievalMetrics) {
  return { precision_at_k: round(scores.precision_at_k), map_at_r: round(scores.map_at_r) };
}

function formatEval(e: ReturnType<typeof evalObject>): string {
  const line = (name: string, m: { precision_at_k: number; map_at_r: number }) => `  ${name.padEnd(9)} P@${e.k} ${m.precision_at_k.toFixed(3)}   mAP@R ${m.map_at_r.toFixed(3)}`;
  return [`${e.queries} validation queries against ${e.database} training photos:`, line('untrained', e.baseline), ...(e.trained ? [line('trained', e.trained)] : [])].join('\n');
}

function formatClasses(classes: Array<{ class: string; queries: number; baseline: { precision_at_k: number; map_at_r: number }; trained: { precision_at_k: number; map_at_r: number } | null }>, k: number): string {
  const width = Math.max(5, ...classes.map((c) => c.class.length));
  const cell = (m: { precision_at_k: number; map_at_r: number } | null) => (m ? `${m.precision_at_k.toFixed(3)}  ${m.map_at_r.toFixed(3)}` : '    -      -');
  return [
    `per class, worst first (P@${k}, mAP@R):`,
    `  ${'class'.padEnd(width)}  untrained     trained`,
    ...classes.map((c) => `  ${c.class.padEnd(width)}  ${cell(c.baseline)}  ${cell(c.trained)}`),
  ].join('\n');
}

function round(value: number): number {
  return Math.round(value * 10000) / 10000;
}

/** --model: a stored model's id, or an exported model (folder or card.json), imported into the library and indexed on first use. */
async function modelOption(store: Store, libraryId: number, value: string | undefined): Promise<number | undefined> {
  if (value === undefined || /^-?[0-9]+$/.test(value)) return intOption(value, 'model');
  const { modelId, created } = await importModel(store, libraryId, value);
  if (created) process.stderr.write(`imported ${resolve(value)} as model ${modelId}; indexing the library with it\n`);
  await indexLibrary({ store }, libraryId, modelId);
  return modelId;
}

function intOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be a whole number (got "${value}")`);
  return n;
}

function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got "${value}")`);
  return n;
}
