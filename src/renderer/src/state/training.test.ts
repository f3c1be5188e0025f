import { describe, expect, it } from 'vitest';
import type { Api, ApiResult, RetrievalMetrics, RunInfo } from '../../../shared/api';
import { RunChart } from './training.svelte';

type History = ApiResult<'runHistory'>;

const metrics = (map: number): RetrievalMetrics => ({ k: 10, queries: 40, database: 160, precision_at_k: map, map_at_r: map });
const lossAt = (step: number, epoch = 1) => ({ step, epoch, loss: 1 / step });
const history = (...steps: number[]): History => ({ losses: steps.map((step) => lossAt(step)), epochs: [] });

/** The chart over a fake engine whose run histories wait until the test lets each one go; `runs` is the app's runs list. */
function chartOverFakeEngine() {
  const asked: Array<{ runId: number; answer(history: History): void }> = [];
  const state = { runs: [] as RunInfo[], runsRefreshed: 0, runsAfterRefresh: [] as RunInfo[] };
  const notices: unknown[] = [];
  const api: Partial<Api> = {
    runHistory: ({ runId }) => new Promise((answer) => asked.push({ runId, answer })),
  };
  const chart = new RunChart({
    api: api as Api,
    notify: (error) => notices.push(error),
    runs: () => state.runs,
    refreshRuns: async () => {
      state.runsRefreshed++;
      state.runs = state.runsAfterRefresh;
    },
  });
  return { chart, asked, state, notices };
}

const run = (id: number, baseline: RetrievalMetrics | null) => ({ id, baseline }) as RunInfo;
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const steps = (chart: RunChart) => chart.losses.map((p) => p.step);

describe('the Train view run chart', () => {
  it("shows a run's stored history with the live points that came while it loaded, none twice", async () => {
    const { chart, asked } = chartOverFakeEngine();
    const version = chart.lossVersion;
    void chart.showRun(7);
    chart.addLoss({ type: 'loss', runId: 7, ...lossAt(3) });
    chart.addLoss({ type: 'loss', runId: 7, ...lossAt(4) });
    asked[0].answer(history(1, 2, 3));
    await settle();
    expect(chart.runId).toBe(7);
    expect(steps(chart)).toEqual([1, 2, 3, 4]);
    expect(chart.lossVersion).toBeGreaterThan(version);
    chart.addLoss({ type: 'loss', runId: 7, ...lossAt(5) });
    chart.addLoss({ type: 'loss', runId: 6, ...lossAt(6) });
    expect(steps(chart)).toEqual([1, 2, 3, 4, 5]);
  });

  it("a run started while a past run's history loads keeps the chart", async () => {
    const { chart, asked } = chartOverFakeEngine();
    void chart.showRun(5);
    chart.followLiveRun(8);
    chart.addLoss({ type: 'loss', runId: 8, ...lossAt(1) });
    asked[0].answer(history(1, 2, 3, 4));
    await settle();
    expect(chart.runId).toBe(8);
    expect(steps(chart)).toEqual([1]);
  });

  it("the live run's untrained baseline shows as soon as the runs list has it", async () => {
    const { chart, state } = chartOverFakeEngine();
    state.runsAfterRefresh = [run(8, metrics(0.4))];
    chart.followLiveRun(8);
    expect(chart.baseline).toBeNull();
    await settle();
    expect(state.runsRefreshed).toBe(1);
    expect(chart.baseline).toEqual(metrics(0.4));
    // Known already: the runs are not asked for again.
    chart.followLiveRun(8);
    expect(state.runsRefreshed).toBe(1);
  });

  it("a point of a run the chart has nothing of (a window that came in mid-run) loads that run's history first", async () => {
    const { chart, asked } = chartOverFakeEngine();
    chart.addLoss({ type: 'loss', runId: 9, ...lossAt(5) });
    chart.addLoss({ type: 'loss', runId: 9, ...lossAt(6) });
    expect(asked.map((a) => a.runId)).toEqual([9]);
    asked[0].answer(history(1, 2, 3, 4, 5));
    await settle();
    expect(steps(chart)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("keeps an epoch's row once (the latest told), ignores another run's epochs, and a library change empties the chart", async () => {
    const { chart, asked } = chartOverFakeEngine();
    void chart.showRun(3);
    asked[0].answer(history(1));
    await settle();
    const epoch = { type: 'epoch', runId: 3, epoch: 1, epochs: 2, meanLoss: 0.5, validation: metrics(0.5), baseline: metrics(0.3) } as const;
    chart.addEpoch(epoch);
    chart.addEpoch({ ...epoch, meanLoss: 0.4, validation: metrics(0.6) });
    chart.addEpoch({ ...epoch, runId: 4, epoch: 2 });
    expect(chart.epochs).toEqual([{ epoch: 1, meanLoss: 0.4, validation: metrics(0.6) }]);
    expect(chart.baseline).toEqual(metrics(0.3));
    chart.clear();
    expect([chart.runId, chart.losses, chart.epochs, chart.baseline]).toEqual([null, [], [], null]);
  });

  it('after a reload shows the live run, else the one shown, else the newest; another library only its newest when none is shown', async () => {
    const { chart, asked, state } = chartOverFakeEngine();
    state.runs = [run(12, null), run(11, null)];
    void chart.showCurrent(null);
    void chart.showCurrent(13);
    expect(asked.map((a) => a.runId)).toEqual([12, 13]);
    asked[1].answer(history(1));
    await settle();
    void chart.showCurrent(null);
    void chart.showCurrent(14);
    void chart.showNewestIfNone();
    expect(asked.map((a) => a.runId)).toEqual([12, 13, 13, 14]);
    chart.clear();
    void chart.showNewestIfNone();
    expect(asked.map((a) => a.runId)).toEqual([12, 13, 13, 14, 12]);
  });
});
