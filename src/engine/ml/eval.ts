import type { DistanceProfile } from '../../shared/api.js';

/**
 * Retrieval quality as the deep-ranking work measures it: each validation photo queries the
 * training photos; precision@k counts same-class results in the k nearest, mAP@R averages the
 * precision at each relevant hit within the first R results, R = the number of same-class photos
 * in the database (Musgrave et al., "A Metric Learning Reality Check").
 */
import type { RetrievalMetrics } from '../../shared/api.js';
import { checkK } from '../../shared/settings.js';

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
}

/** As evaluateRetrieval, with scores per query and per class and the distance profile. */
export function evaluateDetailed(queries: LabelledVectors, database: LabelledVectors, k: number, thresholdPrecision = 0.9): DetailedEvaluation {
  const scores = evaluateRetrieval(queries, database, k);
  const classSize = new Map<number, number>();
  for (const classId of database.classIds) classSize.set(classId, (classSize.get(classId) ?? 0) + 1);
  const perQuery: QueryScores[] = [];
  const histogram = new PairHistogram();
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
    for (let i = 0; i < database.vectors.length; i++) histogram.add(Math.sqrt(distances[i]), database.classIds[i] === queryClass);
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
  const profile = histogram.profile(thresholdPrecision);
  const closeMatches = profile.threshold === null ? 0 : nearest.filter((d) => d <= profile.threshold!).length;
  return { scores, perQuery, perClass: scoresByClass(perQuery), distances: { ...profile, close_match_share: nearest.length ? closeMatches / nearest.length : 0 } };
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

  add(distance: number, sameClass: boolean): void {
    const bin = Math.min(PairHistogram.BINS - 1, Math.floor((distance / PairHistogram.MAX) * PairHistogram.BINS));
    (sameClass ? this.same : this.other)[bin]++;
  }

  /** Distances are reported at each bin's upper edge (0.0005 apart). */
  profile(precision: number): Omit<DistanceProfile, 'close_match_share'> {
    const edge = (bin: number) => ((bin + 1) * PairHistogram.MAX) / PairHistogram.BINS;
    let threshold: number | null = null;
    let same = 0;
    let all = 0;
    for (let bin = 0; bin < PairHistogram.BINS; bin++) {
      same += this.same[bin];
      all += this.same[bin] + this.other[bin];
      // Needs a few pairs behind it to mean anything.
      if (all >= 10 && same / all >= precision) threshold = edge(bin);
    }
    const sameClass = percentiles(this.same, edge);
    // A close match must also be nearer than the median same-class pair: with well separated classes the
    // precision cut alone lies far out, where an image unlike any class (noise) still lands.
    const median = Number.isNaN(sameClass[1]) ? null : sameClass[1];
    threshold = threshold === null ? median : median === null ? threshold : Math.min(threshold, median);
    return { same_class: sameClass, other_class: percentiles(this.other, edge), threshold, precision };
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
