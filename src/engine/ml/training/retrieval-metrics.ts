import type { DistanceProfile } from '../../../shared/api.js';

/**
 * Retrieval quality as the deep-ranking work measures it: each validation photo queries the
 * training photos; precision@k counts same-class results in the k nearest, mAP@R averages the
 * precision at each relevant hit within the first R results, R = the number of same-class photos
 * in the database (Musgrave et al., "A Metric Learning Reality Check").
 */
import type { RetrievalMetrics } from '../../../shared/api.js';
import { checkK } from '../../../shared/settings.js';
import { pairDistances, squaredDistance, type DistanceRuntime } from './pair-distances.js';

export type RetrievalScores = RetrievalMetrics;

export interface LabelledVectors {
  vectors: Float32Array[];
  classIds: number[];
}

/** Validation photos whose distances to the training photos are computed at once (about 80 MB of them at 80,000 training photos). */
const QUERY_BLOCK = 256;

export interface ScoringOptions {
  /** Where the distances are computed (default: ONNX Runtime where it is installed). */
  runtime?: DistanceRuntime;
}

export async function evaluateRetrieval(queries: LabelledVectors, database: LabelledVectors, k: number, options: ScoringOptions = {}): Promise<RetrievalScores> {
  return (await scoreQueries(queries, database, k, options, null)).scores;
}

export { squaredDistance };

/** Scores of one query: its precision@k, average precision within R, and the share of its k nearest from other classes. */
export interface QueryScores {
  /** Index into the queries. */
  index: number;
  classId: number;
  precision_at_k: number;
  average_precision: number;
  other_class_share: number;
  /** The class most often among its wrong neighbours, or null when none is wrong. */
  confused_with: number | null;
}

export interface ClassScores {
  classId: number;
  queries: number;
  precision_at_k: number;
  map_at_r: number;
}

export type { DistanceProfile };

export interface DetailedEvaluation {
  scores: RetrievalScores;
  perQuery: QueryScores[];
  perClass: ClassScores[];
  distances: DistanceProfile;
  /** Close-match threshold of each class with pairs enough, by class id. */
  classThresholds: Map<number, number>;
}

/** Same-class pairs a class needs for a threshold of its own. */
const MIN_CLASS_PAIRS = 10;

/** As evaluateRetrieval, with scores per query and per class and the distance profile. */
export async function evaluateDetailed(queries: LabelledVectors, database: LabelledVectors, k: number, options: ScoringOptions = {}): Promise<DetailedEvaluation> {
  const profiles = { all: new PairHistogram(), byClass: new Map<number, PairHistogram>(), nearest: [] as number[] };
  const { scores, perQuery } = await scoreQueries(queries, database, k, options, profiles);
  const profile = profiles.all.profile();
  // Each class's own cut where it has pairs enough to place one: a tight class gets a nearer cut than a spread one.
  const classThresholds = new Map<number, number>();
  for (const [classId, own] of profiles.byClass) {
    const cut = own.profile();
    if (cut.threshold !== null && own.sameCount >= MIN_CLASS_PAIRS) classThresholds.set(classId, cut.threshold);
  }
  const { nearest } = profiles;
  const closeMatches = profile.threshold === null ? 0 : nearest.filter((d) => d <= profile.threshold!).length;
  const distancesProfile = { ...profile, close_match_share: nearest.length ? closeMatches / nearest.length : 0, ...(nearest.length ? { nearest_limit: nearestLimit(nearest) } : {}) };
  return { scores, perQuery, perClass: scoresByClass(perQuery), distances: distancesProfile, classThresholds };
}

interface Profiles {
  all: PairHistogram;
  byClass: Map<number, PairHistogram>;
  /** Each scored query's distance to its nearest training photo. */
  nearest: number[];
}

/**
 * Each validation photo queries the training photos: its precision@k, its average precision within
 * R, and (with `profiles`) every pair's distance counted. Distances come a block of queries at a
 * time; only each query's max(k, R) nearest are put in order.
 */
async function scoreQueries(queries: LabelledVectors, database: LabelledVectors, k: number, options: ScoringOptions, profiles: Profiles | null): Promise<{ scores: RetrievalScores; perQuery: QueryScores[] }> {
  checkK(k);
  const n = database.vectors.length;
  if (n === 0) throw new Error('evaluation needs a non-empty database (training photos)');
  const classSize = new Map<number, number>();
  for (const classId of database.classIds) classSize.set(classId, (classSize.get(classId) ?? 0) + 1);
  const scored = queries.vectors.map((_, q) => q).filter((q) => classSize.has(queries.classIds[q]));
  const distances = await pairDistances(database.vectors, options.runtime);
  const perQuery: QueryScores[] = [];
  const scratch = new Float32Array(n);
  for (let start = 0; start < scored.length; start += QUERY_BLOCK) {
    const block = scored.slice(start, start + QUERY_BLOCK);
    const rows = await distances.rows(block.map((q) => queries.vectors[q]));
    block.forEach((q, b) => {
      const row = rows.subarray(b * n, (b + 1) * n);
      const queryClass = queries.classIds[q];
      const relevantCount = classSize.get(queryClass)!;
      const kEffective = Math.min(k, n);
      const order = nearestFirst(row, Math.max(kEffective, relevantCount), scratch);
      if (profiles) countPairs(profiles, row, database.classIds, queryClass, Math.sqrt(row[order[0]]));
      let hitsAtK = 0;
      const wrong = new Map<number, number>();
      for (let r = 0; r < kEffective; r++) {
        const classId = database.classIds[order[r]];
        if (classId === queryClass) hitsAtK++;
        else wrong.set(classId, (wrong.get(classId) ?? 0) + 1);
      }
      let hits = 0;
      let apSum = 0;
      for (let r = 0; r < relevantCount; r++) {
        if (database.classIds[order[r]] === queryClass) apSum += ++hits / (r + 1);
      }
      const confused = [...wrong].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
      perQuery.push({
        index: q,
        classId: queryClass,
        precision_at_k: hitsAtK / k,
        average_precision: apSum / relevantCount,
        other_class_share: (kEffective - hitsAtK) / kEffective,
        confused_with: confused ? confused[0] : null,
      });
    });
  }
  let [precisionSum, mapSum] = [0, 0];
  for (const q of perQuery) [precisionSum, mapSum] = [precisionSum + q.precision_at_k, mapSum + q.average_precision];
  const count = perQuery.length;
  const scores = { k, queries: count, database: n, precision_at_k: count ? precisionSum / count : 0, map_at_r: count ? mapSum / count : 0 };
  return { scores, perQuery };
}

function countPairs(profiles: Profiles, row: Float32Array, classIds: number[], queryClass: number, nearest: number): void {
  let own = profiles.byClass.get(queryClass);
  if (!own) profiles.byClass.set(queryClass, (own = new PairHistogram()));
  for (let i = 0; i < row.length; i++) {
    const distance = Math.sqrt(row[i]);
    const same = classIds[i] === queryClass;
    profiles.all.add(distance, same);
    own.add(distance, same);
  }
  profiles.nearest.push(nearest);
}

/**
 * Indices of the `count` smallest values of `row`, smallest first, ties by index: the order a full
 * sort gives, without sorting the rest (at 80,000 training photos a query needs a few thousand).
 */
export function nearestFirst(row: Float32Array, count: number, scratch: Float32Array): Uint32Array {
  const n = row.length;
  const wanted = Math.min(count, n);
  const within = scratch.subarray(0, n);
  within.set(row);
  const cut = wanted === n ? Infinity : kthSmallest(within, wanted - 1);
  let candidates = 0;
  for (let i = 0; i < n; i++) if (row[i] <= cut) candidates++;
  const chosen = new Uint32Array(candidates);
  for (let i = 0, c = 0; i < n; i++) if (row[i] <= cut) chosen[c++] = i;
  return inOrder(row, chosen).subarray(0, wanted);
}

const INDEX_BITS = 21;

/**
 * The candidates by value, then index. A non-negative float's bits grow with it, so (bits, index)
 * packed into one float64 sorts as a typed array, without a comparator: several times faster.
 */
function inOrder(row: Float32Array, candidates: Uint32Array): Uint32Array {
  let packable = row.length <= 2 ** INDEX_BITS;
  for (const i of candidates) packable &&= row[i] >= 0;
  if (!packable) return candidates.sort((a, b) => row[a] - row[b] || a - b);
  const bits = new Uint32Array(row.buffer, row.byteOffset, row.length);
  const keys = new Float64Array(candidates.length);
  for (let c = 0; c < candidates.length; c++) keys[c] = bits[candidates[c]] * 2 ** INDEX_BITS + candidates[c];
  keys.sort();
  for (let c = 0; c < keys.length; c++) candidates[c] = keys[c] % 2 ** INDEX_BITS;
  return candidates;
}

/** The value that would sit at index `k` were `values` sorted (Hoare's selection; reorders `values`). */
function kthSmallest(values: Float32Array, k: number): number {
  let [low, high] = [0, values.length - 1];
  while (low < high) {
    const pivot = values[(low + high) >>> 1];
    let [i, j] = [low, high];
    while (i <= j) {
      while (values[i] < pivot) i++;
      while (values[j] > pivot) j--;
      if (i <= j) {
        [values[i], values[j]] = [values[j], values[i]];
        i++;
        j--;
      }
    }
    if (k <= j) high = j;
    else if (k >= i) low = i;
    else return values[k];
  }
  return values[k];
}

/**
 * How far a photo's nearest neighbour may be for the photo to be like the library at all: the 90th
 * percentile of the validation photos' nearest distances. An image unlike every class (noise) lands
 * near no photo in particular, farther than that, even where it falls inside a class's threshold.
 */
function nearestLimit(nearest: number[]): number {
  const sorted = [...nearest].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.9))];
}

function scoresByClass(perQuery: QueryScores[]): ClassScores[] {
  const byClass = new Map<number, QueryScores[]>();
  for (const q of perQuery) byClass.set(q.classId, [...(byClass.get(q.classId) ?? []), q]);
  return [...byClass].map(([classId, list]) => ({
    classId,
    queries: list.length,
    precision_at_k: list.reduce((s, q) => s + q.precision_at_k, 0) / list.length,
    map_at_r: list.reduce((s, q) => s + q.average_precision, 0) / list.length,
  }));
}

/**
 * Pair distances counted in fine bins (embeddings here are L2-normalised, so distances lie in [0, 2]):
 * a library of thousands of photos has millions of pairs, too many to keep and sort.
 */
export class PairHistogram {
  static readonly BINS = 4000;
  static readonly MAX = 2;
  private readonly same = new Float64Array(PairHistogram.BINS);
  private readonly other = new Float64Array(PairHistogram.BINS);

  get sameCount(): number {
    return this.same.reduce((a, b) => a + b, 0);
  }

  add(distance: number, sameClass: boolean): void {
    const bin = Math.min(PairHistogram.BINS - 1, Math.floor((distance / PairHistogram.MAX) * PairHistogram.BINS));
    (sameClass ? this.same : this.other)[bin]++;
  }

  /**
   * Distances are reported at each bin's upper edge (0.0005 apart). The close-match threshold is where
   * same-class pairs best separate from other-class pairs: the distance with the fewest of each on the
   * wrong side (each counted as a share of its kind, so a big class count does not outweigh the other),
   * the nearest such distance when several tie (classes with a gap between them: just past the
   * same-class pairs, so an image unlike every class still lies beyond it).
   */
  profile(): Omit<DistanceProfile, 'close_match_share'> {
    const edge = (bin: number) => ((bin + 1) * PairHistogram.MAX) / PairHistogram.BINS;
    const sameTotal = this.same.reduce((a, b) => a + b, 0);
    const otherTotal = this.other.reduce((a, b) => a + b, 0);
    const ranges = { same_class: percentiles(this.same, edge), other_class: percentiles(this.other, edge) };
    if (sameTotal === 0) return { ...ranges, threshold: null, precision: 0, same_class_under: 0, other_class_under: 0 };
    let best = { error: Infinity, bin: PairHistogram.BINS - 1, sameUnder: sameTotal, otherUnder: otherTotal };
    let sameUnder = 0;
    let otherUnder = 0;
    for (let bin = 0; bin < PairHistogram.BINS; bin++) {
      sameUnder += this.same[bin];
      otherUnder += this.other[bin];
      const error = (sameTotal - sameUnder) / sameTotal + (otherTotal === 0 ? 0 : otherUnder / otherTotal);
      if (error < best.error - 1e-12) best = { error, bin, sameUnder, otherUnder };
    }
    return {
      ...ranges,
      threshold: edge(best.bin),
      precision: best.sameUnder / (best.sameUnder + best.otherUnder),
      same_class_under: best.sameUnder / sameTotal,
      other_class_under: otherTotal === 0 ? 0 : best.otherUnder / otherTotal,
    };
  }
}

function percentiles(counts: Float64Array, edge: (bin: number) => number): [number, number, number] {
  const total = counts.reduce((a, b) => a + b, 0);
  const at = (p: number) => {
    if (total === 0) return NaN;
    let seen = 0;
    for (let bin = 0; bin < counts.length; bin++) {
      seen += counts[bin];
      if (seen >= p * total) return edge(bin);
    }
    return edge(counts.length - 1);
  };
  return [at(0.1), at(0.5), at(0.9)];
}
