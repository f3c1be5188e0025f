import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The niceness background work runs at: the thread answering the person (Find similar, the UI) preempts it. */
export const BACKGROUND_NICENESS = 10;

/**
 * Lowers the calling thread's scheduling priority to `niceness`, and that of libvips' decoding
 * threads (sharp's, shared by the process), so long work on every core leaves the engine thread's
 * answers fast. Linux only: there each thread is a task with its own nice value; elsewhere
 * setpriority would reach the whole process, so nothing changes. A thread already lower stays so.
 * Returns the thread ids lowered.
 */
export function lowerThreadPriority(niceness = BACKGROUND_NICENESS): number[] {
  if (process.platform !== 'linux') return [];
  const lowered: number[] = [];
  const lower = (tid: number) => {
    try {
      if (getPriority(tid) < niceness) setPriority(tid, niceness);
      lowered.push(tid);
    } catch {
      // gone meanwhile, or not ours to change: it keeps its priority
    }
  };
  try {
    lower(Number(readlinkSync('/proc/thread-self').split('/').at(-1)));
    for (const task of readdirSync('/proc/self/task')) {
      if (threadName(task) === 'libvips worker') lower(Number(task));
    }
  } catch {
    // no /proc: priorities stay as they are
  }
  return lowered;
}

function threadName(task: string): string {
  try {
    return readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}
