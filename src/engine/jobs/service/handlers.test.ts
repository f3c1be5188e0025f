import { describe, expect, it } from 'vitest';
import type { BackendInfo, JobState } from '../../../shared/api.js';
import type { Store } from '../../store/store.js';
import { curationHandlers } from './handlers-curation.js';
import { libraryHandlers } from './handlers-library.js';
import { trainingHandlers } from './handlers-training.js';
import type { JobRunner } from './job-runner.js';
import type { LibraryFiles } from './library-files.js';
import { LiveLosses } from './live-losses.js';
import { OpenLibrary, type OpenedLibrary, type ServiceParts } from './service-parts.js';

/**
 * Handler groups on fakes: no database, no photos. What reaches the store or a job here is a
 * failure: each fake throws when used, so a refusal is seen to come before any work.
 */
function fakeParts(options: { libraryId?: number; training?: boolean; jobState?: JobState | null; backend?: BackendInfo } = {}) {
  const used: string[] = [];
  const untouchable = (name: string) =>
    new Proxy({}, { get: (_target, key) => (key === 'then' ? undefined : () => used.push(`${name}.${String(key)}`)) });
  const library = new OpenLibrary();
  if (options.libraryId !== undefined) library.id = options.libraryId;
  const runner = {
    state: options.jobState ?? null,
    training: options.training ?? false,
    refuseIfOtherProcessRuns: () => undefined,
    stop: async () => void used.push('runner.stop'),
  } as unknown as JobRunner;
  const parts: Pick<ServiceParts, 'store' | 'emit' | 'library' | 'runner' | 'files' | 'watcher' | 'index' | 'startJob' | 'backend'> = {
    store: untouchable('store') as Store,
    emit: () => used.push('emit'),
    library,
    runner,
    files: { refuseWhileBusy: () => undefined } as unknown as LibraryFiles<OpenedLibrary>,
    watcher: untouchable('watcher') as ServiceParts['watcher'],
    index: () => used.push('index'),
    startJob: () => {
      used.push('startJob');
      return { kind: 'audit', state: 'running', runId: null, message: null };
    },
    backend: async () => options.backend ?? null,
  };
  return { parts, used };
}

describe('handler groups (fakes for the store, the runner and the files)', () => {
  it('ask for a library first, with a clear message, and the status says there is none', async () => {
    const { parts, used } = fakeParts();
    const library = libraryHandlers(parts);
    await expect(library.listPhotos({ offset: 0, limit: 10 })).rejects.toMatchObject({ kind: 'conflict', message: 'open a library folder first' });
    await expect(library.findSimilar({ photoId: 1, k: 5 })).rejects.toThrow(/open a library folder first/);
    await expect(curationHandlers(parts).startLabelAudit()).rejects.toThrow(/open a library folder first/);
    await expect(trainingHandlers({ ...parts, liveLosses: new LiveLosses() }).trainingCost({})).rejects.toThrow(/open a library folder first/);
    expect(await library.status()).toMatchObject({ library: null, backend: null, job: null });
    expect(used).toEqual([]);
  });

  it('refuses bad training settings, and a second start while one is going, before touching anything', async () => {
    const { parts, used } = fakeParts({ libraryId: 1 });
    const training = trainingHandlers({ ...parts, liveLosses: new LiveLosses() });
    await expect(training.startTraining({ gap: 0 })).rejects.toThrow(/gap g must be a positive number/);
    await expect(training.startTraining({ epochs: -2 })).rejects.toThrow(/epochs must be a positive whole number/);
    await expect(training.trainingCost({ gap: 0 })).rejects.toMatchObject({ name: 'SettingsError', message: expect.stringMatching(/gap g must be a positive number/) });
    const going = fakeParts({ libraryId: 1, training: true });
    await expect(trainingHandlers({ ...going.parts, liveLosses: new LiveLosses() }).startTraining({})).rejects.toMatchObject({ kind: 'conflict', message: 'a training run is already going; stop it first' });
    expect([...used, ...going.used]).toEqual([]);
  });

  it('refuses at Start, as invalid input (a 400), a fine-tune mode this machine or backbone cannot train, before touching anything', async () => {
    const cpu: BackendInfo = { name: 'wasm', reason: 'no GPU', gpu: false, backboneRuntime: 'onnxruntime' };
    const { parts, used } = fakeParts({ libraryId: 1, backend: cpu });
    const training = trainingHandlers({ ...parts, liveLosses: new LiveLosses() });
    await expect(training.startTraining({ fineTune: 'full' })).rejects.toMatchObject({ kind: 'invalid-input', message: expect.stringMatching(/^full fine-tuning needs a GPU backend; this machine runs wasm/) });
    await expect(training.startTraining({ fineTune: 'last-blocks', backbone: '/models/elsewhere' })).rejects.toMatchObject({
      kind: 'invalid-input',
      message: expect.stringMatching(/^last-blocks fine-tuning is built for the built-in backbone .* only; \/models\/elsewhere can train its head/),
    });
    const none = fakeParts({ libraryId: 1 });
    await expect(trainingHandlers({ ...none.parts, liveLosses: new LiveLosses() }).startTraining({ fineTune: 'full' })).rejects.toMatchObject({
      kind: 'invalid-input',
      message: expect.stringMatching(/^full fine-tuning needs a GPU backend; this machine has no working compute backend/),
    });
    expect([...used, ...none.used]).toEqual([]);
  });

  it('refuses a label audit under a training run, and starts one otherwise after stopping the job in the way', async () => {
    const going = fakeParts({ libraryId: 1, training: true });
    await expect(curationHandlers(going.parts).startLabelAudit()).rejects.toThrow(/a training run is going; look for mislabelled photos when it is done/);
    expect(going.used).toEqual([]);
    const { parts, used } = fakeParts({ libraryId: 1, jobState: { kind: 'index', state: 'running', runId: null, message: null } });
    expect(await curationHandlers(parts).startLabelAudit()).toMatchObject({ kind: 'audit', state: 'running' });
    expect(used).toEqual(['runner.stop', 'startJob']);
  });
});
