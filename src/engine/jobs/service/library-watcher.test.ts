import { describe, expect, it } from 'vitest';
import type { JobState } from '../../../shared/api.js';
import type { FolderWatchEvents } from '../../library/folder-watch.js';
import { LibraryWatcher, WATCH_SETTLE_MS } from './library-watcher.js';
import { fakeClock } from './service-fakes.js';

function watcherWithFakes() {
  const clock = fakeClock();
  const folder: { events: FolderWatchEvents | null; root: string | null; stopped: number } = { events: null, root: null, stopped: 0 };
  const rescans: number[] = [];
  const problems: string[] = [];
  let busy = false;
  const watcher = new LibraryWatcher({
    watch(root, events) {
      folder.root = root;
      folder.events = events;
      return () => folder.stopped++;
    },
    clock,
    busy: () => busy,
    rescan: () => rescans.push(rescans.length + 1),
    onError: (root, reason) => problems.push(`${root}: ${reason}`),
  });
  const change = () => folder.events!.onChange();
  const jobEvent = (state: JobState['state']) => watcher.observe({ type: 'job', job: { kind: 'index', state, runId: null, message: null } });
  return { watcher, clock, folder, rescans, problems, change, jobEvent, setBusy: (value: boolean) => (busy = value) };
}

describe('library watcher (fake clock, fake folder watch)', () => {
  it('rescans once after a burst of changes has settled, not before', () => {
    const { watcher, clock, rescans, change } = watcherWithFakes();
    watcher.watch('/photos');
    change();
    clock.advance(WATCH_SETTLE_MS - 1);
    change(); // the quiet time starts again
    clock.advance(WATCH_SETTLE_MS - 1);
    change();
    expect(rescans).toHaveLength(0);
    clock.advance(WATCH_SETTLE_MS);
    expect(rescans).toHaveLength(1);
    clock.advance(10 * WATCH_SETTLE_MS);
    expect(rescans).toHaveLength(1);
  });

  it('holds a change that settles while a job runs until the job ends, and then rescans once', () => {
    const { watcher, clock, rescans, change, jobEvent, setBusy } = watcherWithFakes();
    watcher.watch('/photos');
    setBusy(true);
    change();
    clock.advance(WATCH_SETTLE_MS);
    expect(rescans).toHaveLength(0);
    jobEvent('paused'); // not an end
    clock.advance(1);
    expect(rescans).toHaveLength(0);
    jobEvent('done');
    setBusy(false);
    clock.advance(0);
    expect(rescans).toHaveLength(1);
    jobEvent('done'); // nothing waits any more
    clock.advance(1);
    expect(rescans).toHaveLength(1);
  });

  it('drops a waiting change that a rescan already saw, and one still busy after the job ends waits no more', () => {
    const { watcher, clock, rescans, change, jobEvent, setBusy } = watcherWithFakes();
    watcher.watch('/photos');
    setBusy(true);
    change();
    clock.advance(WATCH_SETTLE_MS);
    watcher.forgetPending();
    jobEvent('done');
    clock.advance(1);
    expect(rescans).toHaveLength(0);
    watcher.notePending();
    jobEvent('failed');
    clock.advance(1); // still busy (files moving): the move's own rescan sees the change
    expect(rescans).toHaveLength(0);
  });

  it('watches one folder at a time, says why watching stopped, and close stops the timers and the watch', () => {
    const { watcher, clock, folder, rescans, problems, change, jobEvent } = watcherWithFakes();
    watcher.watch('/photos');
    watcher.watch('/other');
    expect(folder.stopped).toBe(1);
    folder.events!.onError('the folder was removed');
    expect(problems).toEqual(['/other: the folder was removed']);
    change();
    watcher.close();
    expect(folder.stopped).toBe(2);
    expect(clock.pending()).toBe(0);
    clock.advance(WATCH_SETTLE_MS);
    expect(rescans).toHaveLength(0);
    watcher.notePending();
    jobEvent('stopped'); // the job that closing stops
    clock.advance(1);
    expect(rescans).toHaveLength(0);
  });
});
