import { afterEach, describe, expect, it, vi } from 'vitest';
import { activeClock, JobControl } from './job-control.js';

describe('JobControl', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds a checkpoint while paused and lets it go on resume', async () => {
    const control = new JobControl();
    control.pause();
    let passed = false;
    const waiting = control.checkpoint().then(() => (passed = true));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(passed).toBe(false);
    control.resume();
    await waiting;
    expect(passed).toBe(true);
  });

  it('lets every checkpoint waiting while paused go on resume, as the threads of one job each wait at their own', async () => {
    const control = new JobControl();
    control.pause();
    const passed: string[] = [];
    const first = control.checkpoint().then(() => passed.push('first'));
    await control.held();
    const second = control.checkpoint().then(() => passed.push('second'));
    await new Promise((resolve) => setImmediate(resolve));
    control.resume();
    await Promise.all([first, second]);
    expect(passed.sort()).toEqual(['first', 'second']);
  });

  it('held() resolves once the job waits at a checkpoint while paused, not before, and at once while it waits', async () => {
    const control = new JobControl();
    let held = false;
    const heldNow = control.held().then(() => (held = true));
    await control.checkpoint(); // not paused: goes straight on, and is not held
    expect(held).toBe(false);
    control.pause();
    const waiting = control.checkpoint();
    await heldNow;
    expect(held).toBe(true);
    await control.held();
    control.resume();
    await waiting;
  });

  it('stop releases a paused checkpoint and cannot be paused again', async () => {
    const control = new JobControl();
    control.pause();
    const waiting = control.checkpoint();
    control.stop();
    await waiting;
    control.pause();
    expect(control.isPaused).toBe(false);
    expect(control.isStopped).toBe(true);
  });

  it('activeClock leaves out the time spent paused, but only the pauses after it started', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const control = new JobControl();
    const pauseFor = async (ms: number) => {
      control.pause();
      const waiting = control.checkpoint();
      await new Promise((resolve) => setImmediate(resolve));
      vi.setSystemTime(Date.now() + ms);
      control.resume();
      await waiting;
    };
    await pauseFor(60_000);
    const active = activeClock(control);
    vi.setSystemTime(Date.now() + 2_000);
    await pauseFor(10_000);
    vi.setSystemTime(Date.now() + 3_000);
    expect(active()).toBe(5_000);
    expect(control.pausedMs).toBe(70_000);
  });
});
