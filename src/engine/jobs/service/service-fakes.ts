/** Fakes for the service's parts in tests: a job claim and a clock. */
import type { LockHolder } from '../../store/job-lock.js';
import type { JobClaim } from './job-runner.js';
import type { Clock } from './library-watcher.js';

/** For tests: a claim on a database that one process can hold at a time; `other` plays another process's job. */
export function fakeClaim() {
  let holder: LockHolder | null = null;
  let askedToStop: (() => void) | null = null;
  const ours = (kind: string): LockHolder => ({ owner: 'us', pid: 1, host: 'here', kind, startedAt: 0, heartbeatAt: 0, stopRequested: false });
  const claim: JobClaim & { other: (kind: string) => void; askOurJobToStop: () => void; released: number } = {
    owner: 'us',
    released: 0,
    claim(kind) {
      if (holder && holder.owner !== 'us') return holder;
      holder = ours(kind);
      return null;
    },
    liveHolder: () => holder,
    requestStop: () => (holder && holder.owner !== 'us' ? holder : null),
    hold(onStop) {
      askedToStop = onStop;
      return () => {
        claim.released++;
        holder = null;
      };
    },
    other(kind) {
      holder = { ...ours(kind), owner: 'them', pid: 4242 };
    },
    askOurJobToStop: () => askedToStop?.(),
  };
  return claim;
}

/** Timers that run only when the test moves time on. */
export function fakeClock() {
  let now = 0;
  let nextId = 1;
  const timers = new Map<number, { at: number; run: () => void }>();
  const clock: Clock & { advance: (ms: number) => void; pending: () => number } = {
    setTimeout(run, ms) {
      timers.set(nextId, { at: now + ms, run });
      return nextId++;
    },
    clearTimeout: (timer) => void timers.delete(timer as number),
    advance(ms) {
      now += ms;
      for (const [id, timer] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (timer.at > now) continue;
        timers.delete(id);
        timer.run();
      }
    },
    pending: () => timers.size,
  };
  return clock;
}
