import { describe, expect, it } from 'vitest';
import type { EngineEvent, JobState } from '../../../shared/api.js';
import { fakeClaim } from './service-fakes.js';
import { JobRunner } from './job-runner.js';

/** A job that runs until `finish` is called or it is stopped. */
function gatedWork() {
  let finish: (message: string) => void = () => undefined;
  const work = (control: { isStopped: boolean }) =>
    new Promise<string>((resolve) => {
      finish = resolve;
      const poll = setInterval(() => {
        if (control.isStopped) {
          clearInterval(poll);
          resolve('stopped part way');
        }
      }, 1);
    });
  return { work, finish: (message: string) => finish(message) };
}

/** Until the runner has no job (without stopping it). */
async function ended(runner: JobRunner): Promise<void> {
  while (runner.state) await new Promise((resolve) => setImmediate(resolve));
}

function runnerWithFakes(mayStart?: () => void) {
  const claim = fakeClaim();
  const events: JobState[] = [];
  const runner = new JobRunner({ claim, emit: (e: EngineEvent) => e.type === 'job' && events.push(e.job), describe: (error) => `said: ${(error as Error).message}`, mayStart });
  return { runner, claim, events, states: () => events.map((e) => `${e.kind} ${e.state}`) };
}

describe('job runner (with a fake job claim)', () => {
  it('runs one job, says its states, and gives the claim back when it ends', async () => {
    const { runner, claim, states } = runnerWithFakes();
    const job = gatedWork();
    runner.start('index', null, job.work);
    expect(runner.state).toMatchObject({ kind: 'index', state: 'running' });
    job.finish('18 photos analysed');
    await ended(runner);
    expect(states()).toEqual(['index running', 'index done']);
    expect(runner.state).toBeNull();
    expect(claim.released).toBe(1);
  });

  it('refuses a second job while another process holds the claim, and tells that process to stop', async () => {
    const { runner, claim, states } = runnerWithFakes();
    claim.other('train');
    expect(() => runner.start('index', null, async () => null)).toThrow(expect.objectContaining({ kind: 'conflict', message: expect.stringMatching(/pid 4242.*a train job/) }));
    expect(() => runner.refuseIfOtherProcessRuns()).toThrow(/pid 4242/);
    expect(runner.state).toBeNull();
    expect(await runner.stopAny()).toMatchObject({ kind: 'train', state: 'stopping', message: 'asked Lookalike process 4242 to stop its train job' });
    expect(states()).toEqual([]);
  });

  it('stops the running job and waits for it; pause and resume are said as job events', async () => {
    const { runner, states } = runnerWithFakes();
    const job = gatedWork();
    runner.start('train', 7, job.work);
    expect(runner.training).toBe(true);
    expect(runner.pause()).toMatchObject({ state: 'paused', runId: 7 });
    expect(runner.resume()).toMatchObject({ state: 'running' });
    const stopped = await runner.stopAny();
    expect(stopped).toMatchObject({ kind: 'train', state: 'stopped', message: 'stopped part way' });
    expect(states()).toEqual(['train running', 'train paused', 'train running', 'train stopping', 'train stopped']);
    expect(runner.training).toBe(false);
  });

  it('says a failure in words as a failed job, never as an unhandled rejection', async () => {
    const { runner, events } = runnerWithFakes();
    runner.start('audit', null, async () => {
      throw new Error('no labelled photos');
    });
    await ended(runner);
    expect(events.at(-1)).toEqual({ kind: 'audit', state: 'failed', runId: null, message: 'said: no labelled photos' });
  });

  it('asks its guard first, and a quiet start says a refusal as a failed index job instead of throwing', () => {
    const { runner, states } = runnerWithFakes(() => {
      throw new Error('the label write is going; wait for it to finish');
    });
    expect(() => runner.start('index', null, async () => null)).toThrow(/label write is going/);
    runner.startQuietly(() => runner.start('index', null, async () => null));
    expect(states()).toEqual(['index failed']);
  });

  it('stops its job when another process asks through the claim', async () => {
    const { runner, claim, events } = runnerWithFakes();
    const job = gatedWork();
    runner.start('index', null, job.work);
    claim.askOurJobToStop();
    expect(runner.state).toMatchObject({ state: 'stopping', message: 'stop asked from another Lookalike process' });
    await runner.stop();
    expect(events.at(-1)).toMatchObject({ kind: 'index', state: 'stopped' });
  });

  it('counts a training start being prepared as training, until it is done', async () => {
    const { runner } = runnerWithFakes();
    let during = false;
    await runner.whileTrainingStarts(async () => {
      during = runner.training;
    });
    expect(during).toBe(true);
    expect(runner.training).toBe(false);
  });
});
