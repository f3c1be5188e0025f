import type { DistanceProfile } from '../../../shared/api.js';

/**
 * Retrieval quality as the deep-ranking work measures it: each validation photo queries the
 * training photos; precision@k counts same-class results in the k nearest, mAP@R averages the
 * precision at each relevant hit within the first R results, R = the number of same-class photos
 * in the database (Musgrave et al., "A Metric Learning Reality Check").
 */
import type { RetrievalMetrics } from '../../../shared/api.js';
import { checkK } from '../../../shared/settings.js';

export type RetrievalScores = RetrievalMetrics;

export interface LabelledVectors {
  vectors: Float32Array[];
  classIds: number[];
}

export function evaluateRetrieval(queries: LabelledVectors, database: LabelledVectors, k: number): RetrievalScores {
  checkK(k);
  if (database.vectors.length === 0) throw new Error('evaluation needs a non-empty database (training photos)');
  const classSize = new Map<number, number>();
  for (const classId of database.classIds) classSize.set(classId, (classSize.get(classId) ?? 0) + 1);

  let precisionSum = 0;
  let mapSum = 0;
  let scored = 0;
  const distances = new Float64Array(database.vectors.length);
  const order = new Uint32Array(database.vectors.length);
  for (let q = 0; q < queries.vectors.length; q++) {
    const relevantCount = classSize.get(queries.classIds[q]) ?? 0;
    if (relevantCount === 0) continue;
    for (let i = 0; i < database.vectors.length; i++) {
      distances[i] = squaredDistance(queries.vectors[q], database.vectors[i]);
      order[i] = i;
    }
    // Ties broken by database index, so the score never depends on sort stability.
    order.sort((a, b) => distances[a] - distances[b] || a - b);
    const queryClass = queries.classIds[q];
    let hitsAtK = 0;
    const kEffective = Math.min(k, order.length);
    for (let r = 0; r < kEffective; r++) if (database.classIds[order[r]] === queryClass) hitsAtK++;
    precisionSum += hitsAtK / k;
    let hits = 0;
    let apSum = 0;
    for (let r = 0; r < relevantCount; r++) {
      if (database.classIds[order[r]] === queryClass) {
        hits++;
        apSum += hits / (r + 1);
      }
    }
    mapSum += apSum / relevantCount;
    scored++;
  }
  return {
    k,
    queries: scored,
    database: database.vectors.length,
    precision_at_k: scored ? precisionSum / scored : 0,
    map_at_r: scored ? mapSum / scored : 0,
  };
}

export function squaredDistance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

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
export function evaluateDetailed(queries: LabelledVectors, database: LabelledVectors, k: number): DetailedEvaluation {
  checkK(k);
  if (database.vectors.length === 0) throw new Error('evaluation needs a non-empty database (training photos)');
  const classSize = new Map<number, number>();
  for (const classId of database.classIds) classSize.set(classId, (classSize.get(classId) ?? 0) + 1);
  const perQuery: QueryScores[] = [];
  const histogram = new PairHistogram();
  const byClass = new Map<number, PairHistogram>();
  const nearest: number[] = [];
  const distances = new Float64Array(database.vectors.length);
  const order = new Uint32Array(database.vectors.length);
  for (let q = 0; q < queries.vectors.length; q++) {
    const queryClass = queries.classIds[q];
    const relevantCount = classSize.get(queryClass) ?? 0;
    if (relevantCount === 0) continue;
    for (let i = 0; i < database.vectors.length; i++) {
      distances[i] = squaredDistance(queries.vectors[q], database.vectors[i]);
      order[i] = i;
    }
    const own = byClass.get(queryClass) ?? new PairHistogram();
    byClass.set(queryClass, own);
    for (let i = 0; i < database.vectors.length; i++) {
      const distance = Math.sqrt(distances[i]);
      const same = database.classIds[i] === queryClass;
      histogram.add(distance, same);
      own.add(distance, same);
    }
    order.sort((a, b) => distances[a] - distances[b] || a - b);
    nearest.push(Math.sqrt(distances[order[0]]));
    const kEffective = Math.min(k, order.length);
    let hitsAtK = 0;
    const wrong = new Map<number, number>();
    for (let r = 0; r < kEffective; r++) {
      const classId = database.classIds[order[r]];
      const same = classId === queryClass;
      if (same) hitsAtK++;
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
  }
  // The same sums, in the same order, as evaluateRetrieval: the same scores to the bit, one pass instead of two.
  let [precisionSum, mapSum] = [0, 0];
  for (const q of perQuery) [precisionSum, mapSum] = [precisionSum + q.precision_at_k, mapSum + q.average_precision];
  const scored = perQuery.length;
  const scores = { k, queries: scored, database: database.vectors.length, precision_at_k: scored ? precisionSum / scored : 0, map_at_r: scored ? mapSum / scored : 0 };
  const profile = histogram.profile();
  // Each class's own cut where it has pairs enough to place one: a tight class gets a nearer cut than a spread one.
  const classThresholds = new Map<number, number>();
  for (const [classId, own] of byClass) {
    const cut = own.profile();
    if (cut.threshold !== null && own.sameCount >= MIN_CLASS_PAIRS) classThresholds.set(classId, cut.threshold);
  }
  const closeMatches = profile.threshold === null ? 0 : nearest.filter((d) => d <= profile.threshold!).length;
  const distancesProfile = { ...profile, close_match_share: nearest.length ? closeMatches / nearest.length : 0, ...(nearest.length ? { nearest_limit: nearestLimit(nearest) } : {}) };
  return { scores, perQuery, perClass: scoresByClass(perQuery), distances: distancesProfile, classThresholds };
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
