import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../common/rng.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';
import { selectBackend } from '../runtime/compute-backend.js';
import { crossFitScores, stratifiedFolds } from './cross-fit.js';
import type { LabelledVectors } from '../training/retrieval-metrics.js';
import { normalizeVector, type HeadConfig } from '../training/head.js';
import type { TrainerSettings } from '../training/trainer.js';

/** Classes that differ in a few of many noisy dimensions; the last photo is drawn from class 0 but labelled class 1. */
function withOneMislabelled(seed: number, classes = 3, perClass = 15, dim = 32): LabelledVectors {
  const rng = createRng(seed);
  const centres = Array.from({ length: classes }, () => Float32Array.from({ length: dim }, (_, j) => (j < 8 ? rng() * 4 - 2 : 0)));
  const draw = (c: number) => normalizeVector(centres[c].map((v) => v + (rng() - 0.5) * 2));
  const vectors: Float32Array[] = [];
  const classIds: number[] = [];
  for (let c = 0; c < classes; c++) {
    for (let i = 0; i < perClass; i++) {
      vectors.push(draw(c));
      classIds.push(c);
    }
  }
  vectors.push(draw(0));
  classIds.push(1);
  return { vectors, classIds };
}

const head: HeadConfig = { inputDim: 32, dim: 8, hidden: 0, normalize: true };
const trainer: TrainerSettings = { epochs: 2, batchSize: 16, learningRate: 0.01, gap: 1, seed: 3, tripletsPerEpoch: 128, k: 5 };

expectNoTensorLeaks();

beforeAll(async () => {
  await selectBackend();
});

describe('cross-fitted label scores', () => {
  it('ranks the mislabelled photo first and suggests the class it was drawn from', async () => {
    const data = withOneMislabelled(1);
    const planted = data.vectors.length - 1;
    const scores = await crossFitScores(data, head, trainer, { folds: 4, neighbours: 5, seed: 1 });
    expect(scores).toHaveLength(data.vectors.length);
    expect(scores[0]).toMatchObject({ index: planted, classId: 1, suggestedClassId: 0 });
    expect(scores[0].suspicion).toBeGreaterThan(0.7);
    // The rightly labelled photos mostly agree with their neighbours.
    const agreeing = scores.filter((s) => s.index !== planted && s.suggestedClassId === s.classId).length;
    expect(agreeing / (scores.length - 1)).toBeGreaterThan(0.9);
  });

  it('scores each photo by a head trained without it: its neighbours all come from the other folds', async () => {
    const data = withOneMislabelled(2);
    const foldOf = stratifiedFolds(data.classIds, 3, 5);
    const scores = await crossFitScores(data, head, { ...trainer, epochs: 1 }, { folds: 3, neighbours: 5, seed: 5 });
    for (const score of scores) {
      expect(score.neighbours).toHaveLength(5);
      for (const n of score.neighbours) expect(foldOf[n.index], `photo ${score.index}'s neighbour ${n.index}`).not.toBe(foldOf[score.index]);
    }
  });

  it('asks a photo of a small class no more neighbours than its class has trained photos, so its size alone does not make it suspect', async () => {
    const big = withOneMislabelled(3, 3, 15);
    const small = withOneMislabelled(4, 3, 4);
    // Class 3: four photos drawn from the second set's class 0.
    const data = { vectors: [...big.vectors, ...small.vectors.slice(0, 4)], classIds: [...big.classIds, 3, 3, 3, 3] };
    const foldOf = stratifiedFolds(data.classIds, 4, 1);
    const scores = await crossFitScores(data, head, trainer, { folds: 4, neighbours: 10, seed: 1 });
    for (const score of scores.filter((s) => s.classId === 3)) {
      const trainedOfClass = data.classIds.filter((c, i) => c === 3 && foldOf[i] !== foldOf[score.index]).length;
      expect(score.neighbours).toHaveLength(trainedOfClass);
      expect(score.suggestedClassId).toBe(3);
    }
    expect(scores[0].index).toBe(big.vectors.length - 1);
  });

  it('deals each class evenly over the folds, and refuses fewer than two folds', () => {
    const classIds = [...Array<number>(10).fill(0), ...Array<number>(7).fill(1)];
    const foldOf = stratifiedFolds(classIds, 5, 1);
    for (const classId of [0, 1]) {
      const counts = [0, 1, 2, 3, 4].map((f) => foldOf.filter((fold, i) => fold === f && classIds[i] === classId).length);
      expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    }
    expect(() => stratifiedFolds(classIds, 1, 1)).toThrow(/at least 2 folds/);
  });
});
