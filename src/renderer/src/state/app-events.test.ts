import { describe, expect, it } from 'vitest';
import type { Api, EngineEvent, LabelsState, LibrarySummary, MarksState, RunInfo } from '../../../shared/api';
import type { AppTransport } from '../transport';
import { AppState } from './app.svelte';

const library = (libraryId: number): LibrarySummary => ({ libraryId, root: `/photos/${libraryId}`, photoCount: 3, unlabelledCount: 0, classes: [], problems: [], moveNotices: [] });
const baseline = { k: 10, queries: 4, database: 12, precision_at_k: 0.5, map_at_r: 0.4 };

/** The app over a fake engine that answers at once; `runs` is what it lists; `asked` names each call made. */
function appOverFakeEngine() {
  const engine = { runs: [] as RunInfo[], asked: [] as string[] };
  const api: Partial<Api> = {
    listRuns: async () => engine.runs,
    listModels: async () => [],
    labels: async () => ({ folders: [], photoLabels: 0, lastChange: null, undoSteps: [], lastWrite: null }) satisfies LabelsState,
    marks: async () => ({ marked: [], total: 0, usable: 0, standIn: 0, unused: [] }) satisfies MarksState,
    runHistory: async ({ runId }) => {
      engine.asked.push(`runHistory ${runId}`);
      return { losses: [{ step: 1, epoch: 1, loss: 0.9 }], epochs: [] };
    },
    findSimilar: async (query) => {
      engine.asked.push('findSimilar');
      return { query: { photoId: 'photoId' in query ? query.photoId : null, path: 'a.jpg', className: null }, modelId: 1, results: [], distances: null };
    },
  };
  const transport: AppTransport = { kind: 'bridge', api: api as Api, onEvent: () => () => undefined, photoUrl: () => '' };
  return { app: new AppState(transport), engine };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const send = async (app: AppState, event: EngineEvent) => {
  app.handleEvent(event);
  await settle();
};

describe('the app routes engine events to its feature stores', () => {
  it("a training job's events reach the run chart, and another library empties the chart and Find similar", async () => {
    const { app, engine } = appOverFakeEngine();
    await send(app, { type: 'library', library: library(1) });
    await app.similar.askAboutPhoto({ id: 2, path: 'a.jpg', className: null, split: null });
    expect(app.view).toBe('similar');
    expect(app.similar.result?.query.photoId).toBe(2);

    engine.runs = [{ id: 5, baseline } as RunInfo];
    await send(app, { type: 'job', job: { kind: 'train', state: 'running', runId: 5, message: null } });
    expect(app.chart.runId).toBe(5);
    expect(app.chart.baseline).toEqual(baseline);
    await send(app, { type: 'loss', runId: 5, step: 1, epoch: 1, loss: 0.8 });
    await send(app, { type: 'epoch', runId: 5, epoch: 1, epochs: 2, meanLoss: 0.8, validation: baseline, baseline });
    expect(app.chart.losses).toEqual([{ step: 1, epoch: 1, loss: 0.8 }]);
    expect(app.chart.epochs.map((e) => e.epoch)).toEqual([1]);

    // The same library again (a re-scan) keeps both.
    await send(app, { type: 'library', library: { ...library(1), photoCount: 4 } });
    expect(app.chart.runId).toBe(5);
    expect(app.similar.result).not.toBeNull();

    engine.runs = [];
    await send(app, { type: 'library', library: library(2) });
    expect([app.chart.runId, app.chart.losses, app.chart.epochs, app.chart.baseline]).toEqual([null, [], [], null]);
    expect([app.similar.source, app.similar.result]).toEqual([null, null]);
    expect(engine.asked).toEqual(['findSimilar']);
  });

  it('another library shows its newest run on the chart', async () => {
    const { app, engine } = appOverFakeEngine();
    engine.runs = [{ id: 9, baseline } as RunInfo, { id: 8, baseline: null } as RunInfo];
    await send(app, { type: 'library', library: library(3) });
    expect(engine.asked).toEqual(['runHistory 9']);
    expect(app.chart.runId).toBe(9);
    expect(app.chart.baseline).toEqual(baseline);
  });
});
