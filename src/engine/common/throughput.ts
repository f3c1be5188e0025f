/**
 * Rate and time left of a long job, from the throughput measured after its first report: the first
 * batch also carries the start-up (workers starting, the backbone loading and compiling), which once
 * made 40 s of features look like 18 minutes. So the first report is the origin, and nothing is
 * estimated until a second one has measured the pace. `activeMs` leaves out paused time.
 */
export function createThroughput(activeMs: () => number) {
  let origin: { ms: number; done: number } | null = null;
  return (done: number, total: number): { etaSeconds: number | null; perSecond: number | null } => {
    const now = activeMs();
    if (origin === null || done < origin.done) {
      if (done > 0) origin = { ms: now, done };
      return { etaSeconds: null, perSecond: null };
    }
    const seconds = (now - origin.ms) / 1000;
    const measured = done - origin.done;
    if (measured === 0 || seconds <= 0) return { etaSeconds: null, perSecond: null };
    const perSecond = measured / seconds;
    return { etaSeconds: Math.max(0, total - done) / perSecond, perSecond };
  };
}
