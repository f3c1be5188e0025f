import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRng, shuffle } from '../src/engine/common/rng.js';
import { makeSampleLibrary, openLibrary, planTraining, trainModel } from '../src/engine/index.js';
import { suggestClasses } from '../src/engine/jobs/curation/suggest.js';
import { KEEP_SHARE } from '../src/engine/ml/curation/suggest.js';
import type { Suggestion } from '../src/shared/api.js';
import { resolveSettings } from '../src/shared/settings.js';
import { Store } from '../src/engine/store/store.js';
import { flag, type BenchReport } from './report.js';

const FLOWERS = resolve(import.meta.dirname, '../../shared/datasets/flowers17');
const CONFIDENCE_STEPS = [0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
const KEEP_SHARES = [0.97, 0.95, 0.93, 0.9, 0.85, 0.8];
/** "None of your classes": the app's rule, and the model's distance alone (per class, one for all) beside it. */
const RULES = ['novelty', 'per-class', 'global'] as const;

/**
 * suggest: how well "Sort the unsorted" suggests classes. A labelled library (flowers17 from ../shared,
 * else the drawn sample library at 40 per class) is copied with a share of each class's photos moved
 * to the root (their labels hidden); a model is trained on the rest (app defaults, seed 1 or --seed) and each
 * hidden photo's suggestion is scored against its folder:
 *   closed: 20% of every class hidden. coverage = share given a class (not "none of your classes"),
 *     accuracy = share of those that are right; per model (the untrained baseline in the same run, and
 *     the trained one), per rule (the app's novelty rule; the model's distance alone with a threshold
 *     per class or one for all), with the time each took; then accuracy/coverage when
 *     only suggestions at or above each confidence count.
 *   open: two whole classes moved to the root as well, never trained on: the share of their photos
 *     that get "none of your classes", against the share of the known classes' hidden photos that do.
 *   --hide 0.2  --epochs N  --unseen daisy,tigerlily  --seed 1 (the training's seed: its split and triplets)
 *   --library drawn: the drawn sample even where flowers17 is there
 *   --work DIR: keep the libraries and database there, and on a later run score them again without training
 * Features are computed once (one database) and reused by the second library.
 */
export async function run(args: string[]): Promise<BenchReport> {
  const hide = Number(flag(args, 'hide', '0.2'));
  const epochs = args.includes('--epochs') ? Number(flag(args, 'epochs', '5')) : undefined;
  const seed = Number(flag(args, 'seed', '1'));
  const kept = args.includes('--work');
  const work = kept ? resolve(flag(args, 'work', '')) : mkdtempSync(join(tmpdir(), 'lookalike-bench-suggest-'));
  mkdirSync(work, { recursive: true });
  const results: Array<Record<string, unknown>> = [];
  const notes: string[] = [];
  try {
    const sample = join(work, 'sample');
    const flowers = existsSync(FLOWERS) && flag(args, 'library', 'flowers17') !== 'drawn';
    const source = flowers ? FLOWERS : existsSync(sample) ? sample : await makeSampleLibrary(sample, { perClass: 40, unlabelled: 0 });
    const classes = readdirSync(source, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    const unseenClasses = flag(args, 'unseen', flowers ? 'daisy,tigerlily' : classes.slice(-1).join(',')).split(',');
    notes.push(`library: ${flowers ? 'flowers17' : 'the drawn sample library, 40 per class'}, ${classes.length} classes; hidden ${hide}; seed ${seed}; unseen in open set: ${unseenClasses.join(', ')}`);
    const store = Store.open(join(work, 'bench.db'));
    for (const scenario of ['closed', 'open'] as const) {
      const unseen = scenario === 'open' ? unseenClasses : [];
      const root = join(work, scenario);
      const fresh = !existsSync(root);
      const truth = fresh ? hideLabels(source, root, classes, hide, unseen) : hiddenIn(root);
      const { libraryId } = await openLibrary({ store }, root);
      let trainedId = [...store.models(libraryId)].reverse().find((m) => m.kind === 'trained')?.id;
      if (fresh || trainedId === undefined) {
        process.stderr.write(`suggest: ${scenario}: ${truth.size} photos hidden; training…\n`);
        const trained = await trainModel({ store }, libraryId, planTraining(store, libraryId, resolveSettings({ epochs, seed }), { k: 'fit' }));
        notes.push(`${scenario}: trained P@${trained.trained.k} ${trained.baseline.precision_at_k.toFixed(3)} → ${trained.trained.precision_at_k.toFixed(3)}`);
        trainedId = trained.modelId;
      }
      const baselineId = store.models(libraryId).find((m) => m.kind === 'baseline')!.id;
      const isUnseen = (s: Suggestion) => unseen.includes(truth.get(s.path)!);
      for (const [model, modelId] of [['baseline', baselineId], ['trained', trainedId]] as const) {
        for (const rule of RULES) {
          const t0 = performance.now();
          const { suggestions } = suggestClasses(store, libraryId, { modelId, rule });
          const seconds = (performance.now() - t0) / 1000;
          const row: Record<string, unknown> = { scenario, model, rule, keep_share: KEEP_SHARE, min_confidence: 0, ...score(suggestions.filter((s) => !isUnseen(s)), truth), seconds };
          if (scenario === 'open') Object.assign(row, openSet(suggestions, isUnseen));
          results.push(row);
        }
      }
      // The trade-offs, on the trained model with the app's rule: the confidence a suggestion must
      // reach (curve), and how much of the validation split the rule keeps.
      const shares = KEEP_SHARES;
      for (const keepShare of shares) {
        const { suggestions } = suggestClasses(store, libraryId, { modelId: trainedId, keepShare });
        for (const min of CONFIDENCE_STEPS) {
          if (keepShare === KEEP_SHARE && min === 0) continue; // the row above
          const row: Record<string, unknown> = { scenario, model: 'trained', rule: 'novelty', keep_share: keepShare, min_confidence: min, ...score(suggestions.filter((s) => !isUnseen(s)), truth, min) };
          if (scenario === 'open') Object.assign(row, openSet(suggestions, isUnseen, min));
          results.push(row);
        }
      }
    }
    store.close();
  } finally {
    if (!kept) rmSync(work, { recursive: true, force: true });
  }
  const base = (r: Record<string, unknown>) => results.find((b) => b.scenario === r.scenario && b.model === 'baseline' && b.rule === r.rule && b.min_confidence === 0);
  for (const r of results) r.accuracy_vs_baseline = (r.accuracy as number) / (base(r)?.accuracy as number);
  return { bench: 'suggest', results, notes };
}

/** Open set: the share of unseen classes' photos said "none" (or under `minConfidence`), against the known classes'. */
function openSet(suggestions: Suggestion[], isUnseen: (s: Suggestion) => boolean, minConfidence = 0) {
  const none = (list: Suggestion[]) => list.filter((s) => s.className === null || s.confidence < minConfidence).length / list.length;
  const strangers = suggestions.filter(isUnseen);
  return { unseen_photos: strangers.length, unseen_said_none: none(strangers), known_said_none: none(suggestions.filter((s) => !isUnseen(s))) };
}

/** The hidden photos of a library made by hideLabels, by their names. */
function hiddenIn(root: string): Map<string, string> {
  const names = readdirSync(root, { withFileTypes: true }).filter((d) => d.isFile() && d.name.includes('--'));
  return new Map(names.map((d) => [d.name, d.name.slice(0, d.name.indexOf('--'))]));
}

/** Coverage and accuracy over photos of known classes, counting suggestions at or above `minConfidence`. */
function score(suggestions: Suggestion[], truth: Map<string, string>, minConfidence = 0) {
  const given = suggestions.filter((s) => s.className !== null && s.confidence >= minConfidence);
  const right = given.filter((s) => s.className === truth.get(s.path)).length;
  return { photos: suggestions.length, suggested: given.length, coverage: given.length / suggestions.length, accuracy: given.length ? right / given.length : 0 };
}

/**
 * Copies `source` to `root`: `share` of every class's photos (seeded) and every photo of `unseen`
 * go to the root as "<class>--<file>"; the rest stay in their class folders. Returns the true class by root path.
 */
function hideLabels(source: string, root: string, classes: string[], share: number, unseen: string[]): Map<string, string> {
  const truth = new Map<string, string>();
  mkdirSync(root);
  for (const cls of classes) {
    const files = readdirSync(join(source, cls)).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
    const hidden = new Set(unseen.includes(cls) ? files : shuffle(createRng(cls.length * 7919 + files.length), [...files]).slice(0, Math.round(files.length * share)));
    for (const file of files) {
      if (!hidden.has(file)) {
        mkdirSync(join(root, cls), { recursive: true });
        copyFileSync(join(source, cls, file), join(root, cls, file));
        continue;
      }
      const name = `${cls}--${file}`;
      copyFileSync(join(source, cls, file), join(root, name));
      truth.set(name, cls);
    }
  }
  return truth;
}
