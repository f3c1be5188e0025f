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
