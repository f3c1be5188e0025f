import { clusteredVectors } from '../src/engine/testing/clustered-vectors.js';
import { evaluateRetrieval, squaredDistance, type LabelledVectors } from '../src/engine/ml/training/retrieval-metrics.js';
import { flag, type BenchReport } from './report.js';

/**
 * evaluate: scoring a held-out split (P@30, mAP@R), as training and the eval view score it, at the
 * size of a 100,000-photo library: 80,000 training photos, 5,000 scored validation photos, 19
 * classes, at the untrained model's 1,792 values and a trained head's 128. Beside it in the same
 * run: the same scoring with the JavaScript loop (no ONNX Runtime), and the previous scorer (every
 * distance in JavaScript, every training photo sorted for each query) on a few queries, per query.
 *   --train 80000  --queries 5000  --dims 128,1792  --classes 19  --previous-queries 40
 */
export async function run(args: string[]): Promise<BenchReport> {
  const train = Number(flag(args, 'train', '80000'));
  const queries = Number(flag(args, 'queries', '5000'));
  const classes = Number(flag(args, 'classes', '19'));
  const previousQueries = Number(flag(args, 'previous-queries', '40'));
  const dims = flag(args, 'dims', '128,1792').split(',').map(Number);
  const results: Array<Record<string, unknown>> = [];
  for (const dim of dims) {
    process.stderr.write(`evaluate: ${train} + ${queries} vectors of ${dim} values…\n`);
    const all = clusteredVectors(train + queries, dim, classes, { seed: dim, spread: 6 });
    const set = (from: number, to: number): LabelledVectors => ({ vectors: all.vectors.slice(from, to), classIds: [...all.cluster.slice(from, to)] });
    const [database, validation] = [set(0, train), set(train, train + queries)];
    const onnx = await timed(() => evaluateRetrieval(validation, database, 30, { runtime: 'onnxruntime' }));
    results.push({ scorer: 'ONNX Runtime product + selection (the app)', dim, train, queries, seconds: onnx.seconds, ms_per_query: round((1000 * onnx.seconds) / queries, 3), p_at_30: onnx.value.precision_at_k, map_at_r: onnx.value.map_at_r });
    const loopQueries = Math.min(queries, 500);
    const loop = await timed(() => evaluateRetrieval(set(train, train + loopQueries), database, 30, { runtime: 'js' }));
    results.push({ scorer: 'JavaScript loop + selection (no ONNX Runtime)', dim, train, queries: loopQueries, seconds: loop.seconds, ms_per_query: round((1000 * loop.seconds) / loopQueries, 3), x_app: round(loop.seconds / loopQueries / (onnx.seconds / queries), 1) });
    const previous = await timed(async () => previousScorer(set(train, train + previousQueries), database, 30));
    results.push({ scorer: 'previous: JavaScript distances, full sort per query', dim, train, queries: previousQueries, seconds: previous.seconds, ms_per_query: round((1000 * previous.seconds) / previousQueries, 3), x_app: round(previous.seconds / previousQueries / (onnx.seconds / queries), 1) });
    const same = await evaluateRetrieval(set(train, train + previousQueries), database, 30);
    results.push({ scorer: 'check: the app and the previous scorer on the same queries', dim, queries: previousQueries, p_at_30: [same.precision_at_k, previous.value.precision], map_at_r: [same.map_at_r, previous.value.map] });
  }
  return {
    bench: 'evaluate',
    results,
    notes: [
      'clustered synthetic vectors (19 clusters, uniform noise of ±3 around centres in [−1, 1]: overlapping classes); the scorers rank every training photo for every query, exactly',
      `x_app: the scorer's time per query over the app's in the same run; the JavaScript loop and the previous scorer on ${Math.min(queries, 500)} and ${previousQueries} queries`,
    ],
  };
}

/** The scorer before this one (retrieval-metrics.ts until December 2026), kept here as the baseline. */
function previousScorer(queries: LabelledVectors, database: LabelledVectors, k: number): { precision: number; map: number } {
  const classSize = new Map<number, number>();
  for (const classId of database.classIds) classSize.set(classId, (classSize.get(classId) ?? 0) + 1);
  const distances = new Float64Array(database.vectors.length);
  const order = new Uint32Array(database.vectors.length);
  let [precision, map] = [0, 0];
  queries.vectors.forEach((query, q) => {
    for (let i = 0; i < database.vectors.length; i++) {
      distances[i] = squaredDistance(query, database.vectors[i]);
      order[i] = i;
    }
    order.sort((a, b) => distances[a] - distances[b] || a - b);
    const own = queries.classIds[q];
    let hits = 0;
    for (let r = 0; r < k; r++) if (database.classIds[order[r]] === own) hits++;
    precision += hits / k;
    const relevant = classSize.get(own) ?? 0;
    let [found, sum] = [0, 0];
    for (let r = 0; r < relevant; r++) if (database.classIds[order[r]] === own) sum += ++found / (r + 1);
    map += sum / relevant;
  });
  return { precision: precision / queries.vectors.length, map: map / queries.vectors.length };
}

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await work();
  return { value, seconds: round((performance.now() - started) / 1000, 2) };
}

const round = (value: number, places = 1) => Math.round(value * 10 ** places) / 10 ** places;
