import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRng, shuffle } from '../src/engine/common/rng.js';
import { makeSampleLibrary, openLibrary, planTraining, trainModel } from '../src/engine/jobs/engine.js';
import { suggestClasses } from '../src/engine/jobs/suggest.js';
import type { Suggestion } from '../src/shared/api.js';
import { resolveSettings } from '../src/shared/settings.js';
import { Store } from '../src/engine/store/store.js';
import { flag, type BenchReport } from './report.js';

const FLOWERS = resolve(import.meta.dirname, '../../shared/datasets/flowers17');
const CONFIDENCE_STEPS = [0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

/**
 * suggest: how well "Sort the unsorted" suggests classes. A labelled library (flowers17 from ../shared,
 * else the drawn sample library at 40 per class) is copied with a share of each class's photos moved
 * to the root (their labels hidden); a model is trained on the rest (app defaults, seed 1) and each
 * hidden photo's suggestion is scored against its folder:
 *   closed: 20% of every class hidden. coverage = share given a class (not "none of your classes"),
 *     accuracy = share of those that are right; per model (the untrained baseline in the same run, and
 *     the trained one), per threshold kind (one per class, one for all); then accuracy/coverage when
 *     only suggestions at or above each confidence count.
 *   open: two whole classes moved to the root as well, never trained on: the share of their photos
 *     that get "none of your classes", against the share of the known classes' hidden photos that do.
 *   --hide 0.2  --epochs N  --unseen daisy,tigerlily
 * Features are computed once (one database) and reused by the second library.
 */
export async function run(args: string[]): Promise<BenchReport> {
  const hide = Number(flag(args, 'hide', '0.2'));
  const epochs = args.includes('--epochs') ? Number(flag(args, 'epochs', '5')) : undefined;
  const work = mkdtempSync(join(tmpdir(), 'lookalike-bench-suggest-'));
  const results: Array<Record<string, unknown>> = [];
  const notes: string[] = [];
  try {
    const source = existsSync(FLOWERS) ? FLOWERS : await makeSampleLibrary(join(work, 'sample'), { perClass: 40, unlabelled: 0 });
    const classes = readdirSync(source, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    const unseen = flag(args, 'unseen', existsSync(FLOWERS) ? 'daisy,tigerlily' : classes.slice(-1).join(',')).split(',');
    notes.push(`library: ${source === FLOWERS ? 'flowers17' : 'drawn sample (../shared absent)'}, ${classes.length} classes; hidden ${hide}; unseen in open set: ${unseen.join(', ')}`);
    const store = Store.open(join(work, 'bench.db'));
    for (const scenario of ['closed', 'open'] as const) {
      const root = join(work, scenario);
      const truth = hideLabels(source, root, classes, hide, scenario === 'open' ? unseen : []);
      process.stderr.write(`suggest: ${scenario}: ${truth.size} photos hidden; training…\n`);
      const { libraryId } = await openLibrary({ store }, root);
      const trained = await trainModel({ store }, libraryId, planTraining(store, libraryId, resolveSettings({ epochs, seed: 1 }), { k: 'fit' }));
      notes.push(`${scenario}: trained P@${trained.trained.k} ${trained.baseline.precision_at_k.toFixed(3)} → ${trained.trained.precision_at_k.toFixed(3)}`);
      const baselineId = store.models(libraryId).find((m) => m.kind === 'baseline')!.id;
      for (const [model, modelId] of [['baseline', baselineId], ['trained', trained.modelId]] as const) {
        for (const threshold of ['per class', 'global'] as const) {
          const t0 = performance.now();
          const { suggestions } = suggestClasses(store, libraryId, { modelId, globalThreshold: threshold === 'global' });
          const seconds = (performance.now() - t0) / 1000;
          const known = suggestions.filter((s) => !unseen.includes(truth.get(s.path)!));
          const row: Record<string, unknown> = { scenario, model, threshold, min_confidence: 0, ...score(known, truth), seconds };
          if (scenario === 'open') {
            const strangers = suggestions.filter((s) => unseen.includes(truth.get(s.path)!));
            row.unseen_photos = strangers.length;
            row.unseen_said_none = strangers.filter((s) => s.className === null).length / strangers.length;
            row.known_said_none = known.filter((s) => s.className === null).length / known.length;
          }
          results.push(row);
          if (scenario === 'closed' && model === 'trained' && threshold === 'per class') {
            for (const min of CONFIDENCE_STEPS.slice(1)) results.push({ scenario, model, threshold, min_confidence: min, ...score(known, truth, min) });
          }
        }
      }
    }
    store.close();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const base = (r: Record<string, unknown>) => results.find((b) => b.scenario === r.scenario && b.model === 'baseline' && b.threshold === r.threshold && b.min_confidence === 0);
  for (const r of results) r.accuracy_vs_baseline = (r.accuracy as number) / (base(r)?.accuracy as number);
  return { bench: 'suggest', results, notes };
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
