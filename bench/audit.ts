import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRng, shuffle } from '../src/engine/common/rng.js';
import { openLibrary, planTraining, trainModel } from '../src/engine/index.js';
import { auditLabels, neighbourDisagreement } from '../src/engine/jobs/curation/label-audit.js';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { Store } from '../src/engine/store/store.js';
import { AUDIT_EPOCHS, AUDIT_FOLDS, resolveSettings } from '../src/shared/settings.js';
import { flag, printReport, type BenchReport } from './report.js';

const FLOWERS = resolve(import.meta.dirname, '../../shared/datasets/flowers17');

/**
 * audit: label noise planted in a temp copy of flowers17 (the drawn sample library where ../shared is
 * absent): `--noise` of the photos are put in a wrong class folder instead of their own. A model is
 * trained on the noisy library as the app would; then two rankings of the labelled photos, most
 * suspect first: the naive one (share of a photo's 10 nearest neighbours under that trained model
 * with another class) and the audit's (cross-fitted heads, jobs/label-audit.ts). Recall of the
 * planted photos in the top N for N = 1x, 1.5x, 2x, 3x the planted count, and the seconds each took.
 *   --noise 0.05   --folds 5   --epochs N (of each cross-fitted head)   --seed 1
 *   --model-epochs N (of the trained model the naive ranking uses; default: the app's)
 *   --sample: the drawn sample library even where flowers17 is present
 *   --db FILE: a database to keep (backbone features are cached by content, so a second run skips them)
 */
export async function run(args: string[]): Promise<BenchReport> {
  const noise = Number(flag(args, 'noise', '0.05'));
  const folds = Number(flag(args, 'folds', String(AUDIT_FOLDS)));
  const epochs = Number(flag(args, 'epochs', String(AUDIT_EPOCHS)));
  const seed = Number(flag(args, 'seed', '1'));
  const modelEpochs = args.includes('--model-epochs') ? Number(flag(args, 'model-epochs', '5')) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'lookalike-bench-audit-'));
  try {
    const source = existsSync(FLOWERS) && !args.includes('--sample') ? FLOWERS : await makeSampleLibrary(join(dir, 'sample'), { perClass: 40, unlabelled: 0 });
    const dataset = source === FLOWERS ? 'flowers17' : 'drawn sample (4 classes x 40)';
    const library = join(dir, 'library');
    const planted = plantNoise(source, library, noise, seed);
    const store = Store.open(args.includes('--db') ? resolve(flag(args, 'db', '')) : join(dir, 'bench.db'));
    try {
      process.stderr.write(`audit: ${dataset}, ${planted.size} photos planted in a wrong class; training the model…\n`);
      const { libraryId } = await openLibrary({ store }, library);
      const trainStarted = performance.now();
      const trained = await trainModel({ store }, libraryId, planTraining(store, libraryId, resolveSettings({ seed, epochs: modelEpochs }), { k: 'fit' }));
      const trainSeconds = (performance.now() - trainStarted) / 1000;
      const naiveStarted = performance.now();
      const naive = neighbourDisagreement(store, libraryId, trained.modelId).map((r) => store.photo(r.photoId)!.relPath);
      const naiveSeconds = (performance.now() - naiveStarted) / 1000;
      process.stderr.write(`audit: model trained (P@${trained.trained.k} ${trained.trained.precision_at_k.toFixed(3)}); cross-fitting ${folds} heads…\n`);
      const audit = await auditLabels({ store }, libraryId, { folds, epochs });
      const ours = audit.ranked.map((r) => r.path);
      const suggestedRight = audit.ranked.filter((r) => planted.get(r.path) === r.suggestedClass).length;
      const row = (ranking: string, paths: string[], seconds: number, extra: Record<string, unknown>): Record<string, unknown> => ({
        dataset,
        ranking,
        photos: paths.length,
        planted: planted.size,
        ...Object.fromEntries(LENGTHS.map((x) => [`recall_at_${x}x`, recall(paths, planted, Math.round(x * planted.size))])),
        seconds,
        ...extra,
      });
      const results = [
        row('naive: 10-NN disagreement, trained model', naive, naiveSeconds, { model_epochs: trained.epochsDone, model_p_at_k: trained.trained.precision_at_k, model_train_seconds: trainSeconds }),
        row(`audit: ${folds} cross-fitted heads x ${epochs} epochs`, ours, audit.seconds, {
          suggested_true_class: suggestedRight / planted.size,
          ratio_seconds_vs_model_training: audit.seconds / trainSeconds,
        }),
      ];
      results[1].ratio_recall_2x_vs_naive = (results[1].recall_at_2x as number) / Math.max(1e-9, results[0].recall_at_2x as number);
      return {
        bench: 'audit',
        results,
        notes: [`target: audit recall_at_2x >= 0.90; suggested_true_class: share of planted photos whose suggested class is the folder they came from`],
      };
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const LENGTHS = [1, 1.5, 2, 3];

function recall(ranking: string[], planted: Map<string, string>, top: number): number {
  return ranking.slice(0, top).filter((path) => planted.has(path)).length / planted.size;
}

/**
 * Copies a labelled library (class folders of photos) to `target`, a `share` of its photos (seeded)
 * into another class's folder than their own; returns their new paths with the class they came from.
 */
function plantNoise(source: string, target: string, share: number, seed: number): Map<string, string> {
  const classes = readdirSync(source, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const photos = classes.flatMap((name) => readdirSync(join(source, name)).sort().map((file) => ({ name, file })));
  const rng = createRng(seed);
  const wrong = new Set(shuffle(rng, photos.map((_, i) => i)).slice(0, Math.round(share * photos.length)));
  for (const name of classes) mkdirSync(join(target, name), { recursive: true });
  const planted = new Map<string, string>();
  photos.forEach(({ name, file }, i) => {
    let folder = name;
    if (wrong.has(i)) {
      const others = classes.filter((c) => c !== name);
      folder = others[Math.floor(rng() * others.length)];
      planted.set(`${folder}/${file}`, name);
    }
    copyFileSync(join(source, name, file), join(target, folder, file));
  });
  return planted;
}

if (import.meta.url === `file://${process.argv[1]}`) printReport(await run(process.argv.slice(2)), process.argv.includes('--json'));
