import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../runtime/compute-backend.js';
import { JobControl } from '../../common/job-control.js';
import { createRng } from '../../common/rng.js';
import { evaluateHead, trainHead, type TrainData, type TrainerSettings } from './trainer.js';
import { squaredDistance } from './retrieval-metrics.js';
import { TRIPLET_METHODS } from './triplets.js';
import { normalizeVector, unpackTensors, type HeadConfig } from './head.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';

/** Classes that differ in a few of many noisy dimensions: the untrained distance is dominated by noise. */
function clusteredData(seed: number, classes = 4, perClass = 24, dim = 64): TrainData {
  const rng = createRng(seed);
  const centres = Array.from({ length: classes }, () => Float32Array.from({ length: dim }, (_, j) => (j < 8 ? rng() * 4 - 2 : 0)));
  const make = (count: number) => {
    const vectors: Float32Array[] = [];
    const classIds: number[] = [];
    for (let c = 0; c < classes; c++) {
      for (let i = 0; i < count; i++) {
        vectors.push(normalizeVector(centres[c].map((v) => v + (rng() - 0.5) * 3)));
        classIds.push(c);
      }
    }
    return { vectors, classIds };
  };
  return { train: make(perClass), validation: make(perClass / 4) };
}

const head: HeadConfig = { inputDim: 64, dim: 16, hidden: 0, normalize: true };
const settings: TrainerSettings = { epochs: 3, batchSize: 16, learningRate: 0.01, gap: 1, seed: 3, tripletsPerEpoch: 256, k: 5 };

expectNoTensorLeaks();

beforeAll(async () => {
  await selectBackend();
});

describe('trainer', () => {
  it('lowers the loss and raises validation precision over the untrained head, streaming steps and epochs', async () => {
    const data = clusteredData(1);
    const steps: number[] = [];
    const epochs: Array<{ loss: number; p: number }> = [];
    const outcome = await trainHead(data, head, settings, {
      onStep: (s) => steps.push(s.loss),
      onEpoch: (e) => void epochs.push({ loss: e.meanLoss, p: e.validation.precision_at_k }),
    });
    expect(steps).toHaveLength(3 * 16);
    expect(epochs).toHaveLength(3);
    expect(epochs[2].loss).toBeLessThan(epochs[0].loss);
    const untrained = await trainHead(data, head, { ...settings, epochs: 1, learningRate: 1e-9 }, { onEpoch: (e) => void epochs.push({ loss: e.meanLoss, p: e.validation.precision_at_k }) });
    expect(epochs[2].p).toBeGreaterThan(epochs[3].p);
    outcome.head.dispose();
    untrained.head.dispose();
  });

  it('trains marked pairs apart: a marked negative ends farther from its query than without the mark', async () => {
    const data = clusteredData(5);
    // The nearest other-class photo to query 0 under the untrained features: a true wrong neighbour.
    const query = 0;
    const others = data.train.vectors.map((v, i) => ({ i, d: data.train.classIds[i] === data.train.classIds[query] ? Infinity : squaredDistance(v, data.train.vectors[query]) }));
    const negative = others.sort((a, b) => a.d - b.d)[0].i;
    const distanceAfter = async (marked: TrainData['marked']) => {
      const outcome = await trainHead({ ...data, marked }, head, { ...settings, sampling: 'semi-hard' });
      const [q, n] = await outcome.head.embed([data.train.vectors[query], data.train.vectors[negative]]);
      outcome.head.dispose();
      return Math.sqrt(squaredDistance(q, n));
    };
    const without = await distanceAfter(undefined);
    expect(await distanceAfter([])).toBe(without); // no marks: the very same run
    const withMark = await distanceAfter([{ query, negative }]);
    expect(withMark).toBeGreaterThan(without);
    await expect(trainHead({ ...data, marked: [{ query, negative: data.train.vectors.length }] }, head, settings)).rejects.toThrow(/not among the 96 training photos/);
  });

  it('resumes from a checkpoint to exactly the weights of an uninterrupted run', async () => {
    const data = clusteredData(2);
    const straight = await trainHead(data, head, settings);
    const straightWeights = straight.head.variables.map((v) => Array.from(v.dataSync()));
    straight.head.dispose();

    let saved: { epoch: number; state: Buffer } | undefined;
    const control = new JobControl();
    const first = await trainHead(data, head, settings, {
      control,
      onEpoch: async (e) => {
        saved = { epoch: e.epoch, state: await e.checkpoint() };
        if (e.epoch === 1) control.stop(); // as if killed after the first checkpoint
      },
    });
    expect(first.stopped).toBe(true);
    expect(first.epochsDone).toBe(1);
    first.head.dispose();

    const resumed = await trainHead(data, head, settings, { resumeFrom: saved });
    expect(resumed.epochsDone).toBe(3);
    resumed.head.variables.forEach((v, i) => {
      const values = v.dataSync();
      straightWeights[i].forEach((w, j) => expect(values[j]).toBeCloseTo(w, 5));
    });
    resumed.head.dispose();
  });

  it('pauses and resumes between steps', async () => {
    const data = clusteredData(3);
    const control = new JobControl();
    let stepsWhilePaused = -1;
    let steps = 0;
    const run = trainHead(data, head, { ...settings, epochs: 1 }, {
      control,
      onStep: () => {
        steps++;
        if (steps === 2) {
          control.pause();
          // Held: the loop waits before step 3, so the steps counted then are all it took paused.
          void control.held().then(() => {
            stepsWhilePaused = steps;
            control.resume();
          });
        }
      },
    });
    const outcome = await run;
    expect(stepsWhilePaused).toBe(2);
    expect(steps).toBe(16);
    outcome.head.dispose();
  });

  it('refuses bad settings before training', async () => {
    const data = clusteredData(4);
    await expect(trainHead(data, head, { ...settings, gap: 0 })).rejects.toThrow(/gap g must be a positive number/);
    await expect(trainHead(data, head, { ...settings, epochs: 0 })).rejects.toThrow(/epochs must be a positive whole number/);
    await expect(trainHead(data, head, { ...settings, learningRate: -1 })).rejects.toThrow(/learning rate/);
  });

  it('is reproducible from its seed: two runs with one seed give identical weights and scores, another seed differs', async () => {
    const data = clusteredData(6);
    const run = async (seed: number) => {
      const scores: number[] = [];
      const outcome = await trainHead(data, head, { ...settings, seed, sampling: 'semi-hard' }, { onEpoch: (e) => void scores.push(e.validation.map_at_r, e.meanLoss) });
      const weights = outcome.head.variables.map((v) => Array.from(v.dataSync()));
      outcome.head.dispose();
      return { weights, scores };
    };
    const first = await run(21);
    expect(await run(21)).toEqual(first);
    expect((await run(22)).weights).not.toEqual(first.weights);
  });

  it('with keepBest, ends on the weights of the epoch with the best validation mAP@R and says which', async () => {
    // Eight training photos a class: the head overfits, and later epochs score worse than an earlier one.
    const data = clusteredData(7, 4, 8);
    const wild = { ...settings, epochs: 6, learningRate: 0.05, keepBest: true };
    const perEpoch: Array<{ epoch: number; map: number; weights: number[][] }> = [];
    const outcome = await trainHead(data, head, wild, {
      onEpoch: async (e) => {
        const tensors = unpackTensors(await e.checkpoint());
        perEpoch.push({ epoch: e.epoch, map: e.validation.map_at_r, weights: Object.keys(tensors).filter((n) => n.startsWith('head_')).map((n) => Array.from(tensors[n].dataSync())) });
        tf.dispose(Object.values(tensors));
      },
    });
    const best = perEpoch.reduce((a, b) => (b.map > a.map ? b : a));
    expect(best.epoch).toBeLessThan(6); // else this test would not show the restore
    expect(outcome.keptEpoch).toBe(best.epoch);
    expect(outcome.epochsDone).toBe(6);
    expect(outcome.head.variables.map((v) => Array.from(v.dataSync()))).toEqual(best.weights);
    const kept = await evaluateHead(outcome.head, data, settings.k);
    expect(kept.map_at_r).toBeCloseTo(best.map, 6);
    outcome.head.dispose();
    const last = await trainHead(data, head, { ...wild, keepBest: false });
    expect(last.keptEpoch).toBe(6);
    last.head.dispose();
  });

  it('trains with every triplet method and refuses an unknown one', async () => {
    const data = clusteredData(8);
    for (const sampling of TRIPLET_METHODS) {
      const before = tf.memory().numTensors;
      const outcome = await trainHead(data, head, { ...settings, epochs: 1, sampling });
      expect(outcome.finalLoss).toBeGreaterThan(0);
      outcome.head.dispose();
      expect(tf.memory().numTensors - before).toBeLessThanOrEqual(2);
    }
    await expect(trainHead(data, head, { ...settings, sampling: 'hardest' as never })).rejects.toThrow(/sampling must be one of random, balanced, semi-hard, in-class/);
  });

  it('leaves no tensor behind: a run, its checkpoints and a resume from one free all they made', async () => {
    const before = tf.memory().numTensors;
    const checkpoints: Buffer[] = [];
    const outcome = await trainHead(clusteredData(5), head, { ...settings, epochs: 2 }, { onEpoch: async (epoch) => void checkpoints.push(await epoch.checkpoint()) });
    outcome.head.dispose();
    expect(tf.memory().numTensors - before).toBe(0);
    const resumed = await trainHead(clusteredData(5), head, { ...settings, epochs: 3 }, { resumeFrom: { epoch: 2, state: checkpoints[1] } });
    resumed.head.dispose();
    expect(tf.memory().numTensors - before).toBe(0);
  });
});
