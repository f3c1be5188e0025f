import { describe, expect, it } from 'vitest';
import type { EngineEvent, RetrievalMetrics } from '../../../shared/api.js';
import { LiveLosses } from './live-losses.js';

const loss = (runId: number, step: number, epoch: number): EngineEvent => ({ type: 'loss', runId, step, epoch, loss: 1 / step });
const metrics: RetrievalMetrics = { k: 5, queries: 4, database: 12, precision_at_k: 0.5, map_at_r: 0.4 };
const epochEnd = (runId: number, epoch: number): EngineEvent => ({ type: 'epoch', runId, epoch, epochs: 3, meanLoss: 0.5, validation: metrics, baseline: metrics });
const stored = (steps: number[], epoch: number) => steps.map((step) => ({ step, epoch, loss: 1 / step }));

describe('live loss points of the unfinished epoch', () => {
  it('adds the points past the stored ones, and drops an epoch once it is stored', () => {
    const live = new LiveLosses();
    for (const step of [1, 2]) live.observe(loss(7, step, 1));
    live.observe(epochEnd(7, 1));
    for (const step of [3, 4]) live.observe(loss(7, step, 2));
    expect(live.history(7, stored([1, 2], 1)).map((p) => [p.step, p.epoch])).toEqual([[1, 1], [2, 1], [3, 2], [4, 2]]);
    // Another run's history is only what is stored.
    expect(live.history(6, stored([1], 1))).toEqual(stored([1], 1));
  });

  it('forgets the unfinished epoch when the run ends, and starts over for the next run', () => {
    const live = new LiveLosses();
    live.observe(loss(7, 1, 1));
    live.observe({ type: 'job', job: { kind: 'train', state: 'stopped', runId: 7, message: null } });
    expect(live.history(7, [])).toEqual([]);
    live.observe(loss(7, 1, 1));
    live.observe(loss(8, 1, 1));
    expect(live.history(7, [])).toEqual([]);
    expect(live.history(8, [])).toHaveLength(1);
  });
});
