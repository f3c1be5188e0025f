import type { JobControl } from '../../common/job-control.js';
import { createRng, shuffle } from '../../common/rng.js';
import { squaredDistance, type LabelledVectors } from '../training/retrieval-metrics.js';
import type { HeadConfig } from '../training/head.js';
import { trainHead, type TrainerSettings } from '../training/trainer.js';

/** A photo's out-of-fold verdict: what a head that never trained on it says of its label. */
export interface OutOfFoldScore {
  /** Index into the scored vectors. */
  index: number;
  classId: number;
  /** 0 (its neighbours all share its class) to 1 (none does, and it lies nearer another class's centre). */
  suspicion: number;
  /** The class the held-out head puts it in (the most weight among its neighbours; its own when it agrees). */
  suggestedClassId: number;
  /** Its nearest neighbours among the photos that head trained on, nearest first (indices into the vectors). */
  neighbours: Array<{ index: number; distance: number }>;
}

export interface CrossFitOptions {
  folds: number;
  /** Neighbours that vote on each held-out photo (fewer for a class with fewer trained photos). */
  neighbours: number;
  seed: number;
  control?: JobControl;
  onFold?: (done: number, folds: number) => void;
}

/**
 * Cross-fitting: the labelled photos fall into `folds` class-stratified folds; a head is trained on
 * all folds but one (on cached features, so each costs a head training) and scores the fold it left
 * out. A head trained on a photo has pulled it toward its (maybe wrong) class; these never saw theirs.
 */
export async function crossFitScores(data: LabelledVectors, headConfig: HeadConfig, trainer: TrainerSettings, options: CrossFitOptions): Promise<OutOfFoldScore[]> {
  const foldOf = stratifiedFolds(data.classIds, options.folds, options.seed);
  const scores: OutOfFoldScore[] = [];
  for (let fold = 0; fold < options.folds; fold++) {
    if (options.control?.isStopped) break;
    const heldOut = indicesWhere(foldOf, (f) => f === fold);
    const training = indicesWhere(foldOf, (f) => f !== fold);
    if (heldOut.length === 0) continue;
    const pick = (indices: number[]): LabelledVectors => ({ vectors: indices.map((i) => data.vectors[i]), classIds: indices.map((i) => data.classIds[i]) });
    // The held-out fold stands in as the trainer's validation set: its scores are only reported (keepBest off), never chosen by.
    const outcome = await trainHead({ train: pick(training), validation: pick(heldOut) }, headConfig, { ...trainer, keepBest: false, seed: trainer.seed + fold }, { control: options.control });
    try {
      const trained = await outcome.head.embed(training.map((i) => data.vectors[i]));
      const held = await outcome.head.embed(heldOut.map((i) => data.vectors[i]));
      const classes = classCentres(trained, training.map((i) => data.classIds[i]));
      const trainedCount = new Map<number, number>();
      for (const i of training) trainedCount.set(data.classIds[i], (trainedCount.get(data.classIds[i]) ?? 0) + 1);
      held.forEach((vector, h) => {
        const index = heldOut[h];
        const classId = data.classIds[index];
        // A class with fewer trained photos than `neighbours` cannot fill them: the rest would be other classes whatever the label.
        const k = Math.max(1, Math.min(options.neighbours, trainedCount.get(classId) ?? 0));
        scores.push(scoreOne(index, classId, vector, trained, training, data.classIds, classes, k));
      });
    } finally {
      outcome.head.dispose();
    }
    options.onFold?.(fold + 1, options.folds);
  }
  return scores.sort((a, b) => b.suspicion - a.suspicion || a.index - b.index);
}

/** Within each class a seeded shuffle, then folds dealt in turn, so every fold holds about 1/K of each class. */
export function stratifiedFolds(classIds: number[], folds: number, seed: number): number[] {
  checkFolds(folds);
  const foldOf = new Array<number>(classIds.length).fill(0);
  const byClass = new Map<number, number[]>();
  classIds.forEach((classId, i) => byClass.set(classId, [...(byClass.get(classId) ?? []), i]));
  const rng = createRng(seed);
  let dealt = 0;
  for (const classId of [...byClass.keys()].sort((a, b) => a - b)) {
    // Each class starts where the last one stopped, so small classes do not all crowd fold 0.
    for (const i of shuffle(rng, byClass.get(classId)!)) foldOf[i] = dealt++ % folds;
  }
  return foldOf;
}

export function checkFolds(folds: number): void {
  if (!(Number.isInteger(folds) && folds >= 2)) throw new RangeError(`cross-fitting needs at least 2 folds (got ${folds})`);
}

function indicesWhere(values: number[], test: (value: number) => boolean): number[] {
  const out: number[] = [];
  values.forEach((value, i) => test(value) && out.push(i));
  return out;
}

function classCentres(vectors: Float32Array[], classIds: number[]): Map<number, Float32Array> {
  const sums = new Map<number, { sum: Float64Array; count: number }>();
  vectors.forEach((vector, i) => {
    const entry = sums.get(classIds[i]) ?? { sum: new Float64Array(vector.length), count: 0 };
    vector.forEach((v, j) => (entry.sum[j] += v));
    entry.count++;
    sums.set(classIds[i], entry);
  });
  return new Map([...sums].map(([classId, { sum, count }]) => [classId, Float32Array.from(sum, (v) => v / count)]));
}

/**
 * Half the verdict is the neighbours' vote (each weighted by closeness rank), half how much nearer
 * the photo lies to the closest other class's centre than to its own (the embedding is unit-length,
 * so squared distances are at most 4 and the difference is scaled into 0-1).
 */
function scoreOne(
  index: number,
  classId: number,
  vector: Float32Array,
  trained: Float32Array[],
  training: number[],
  classIds: number[],
  centres: Map<number, Float32Array>,
  k: number,
): OutOfFoldScore {
  const distances = trained.map((other, i) => ({ i, d: squaredDistance(vector, other) }));
  distances.sort((a, b) => a.d - b.d || a.i - b.i);
  const nearest = distances.slice(0, k);
  const votes = new Map<number, number>();
  let total = 0;
  nearest.forEach(({ i }, rank) => {
    const weight = 1 / (rank + 1);
    const neighbourClass = classIds[training[i]];
    votes.set(neighbourClass, (votes.get(neighbourClass) ?? 0) + weight);
    total += weight;
  });
  const otherVote = total > 0 ? 1 - (votes.get(classId) ?? 0) / total : 0;
  const own = centres.get(classId);
  let nearestOther: { classId: number; d: number } | null = null;
  for (const [other, centre] of centres) {
    if (other === classId) continue;
    const d = squaredDistance(vector, centre);
    if (!nearestOther || d < nearestOther.d) nearestOther = { classId: other, d };
  }
  const margin = own && nearestOther ? (squaredDistance(vector, own) - nearestOther.d) / 4 : 0;
  const suspicion = Math.max(0, Math.min(1, 0.5 * otherVote + 0.5 * (0.5 + margin)));
  const topVote = [...votes].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0];
  const suggestedClassId = topVote && topVote[0] !== classId ? topVote[0] : (nearestOther && margin > 0 ? nearestOther.classId : classId);
  return { index, classId, suspicion, suggestedClassId, neighbours: nearest.map(({ i, d }) => ({ index: training[i], distance: Math.sqrt(d) })) };
}
