import type { EngineEvent } from '../shared/api.js';

/** Renders engine events on stderr: a redrawn bar on a terminal, a line now and then otherwise. */
export function createProgressPrinter(stream: NodeJS.WriteStream = process.stderr): (event: EngineEvent) => void {
  const tty = Boolean(stream.isTTY);
  let lastLine = 0;
  let barShown = false;
  const clearBar = () => {
    if (barShown) stream.write('\r\x1b[2K');
    barShown = false;
  };
  return (event) => {
    switch (event.type) {
      case 'progress': {
        // Nothing to do (every feature already cached): no "0/0" line.
        if (event.total === 0) break;
        const fraction = event.total ? event.done / event.total : 0;
        const text = `${event.phase} ${event.done}/${event.total}${event.etaSeconds !== null ? `, ${formatSeconds(event.etaSeconds)} left` : ''}`;
        if (tty) {
          const width = 24;
          const filled = Math.round(fraction * width);
          stream.write(`\r\x1b[2K[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}`);
          barShown = true;
        } else if (Date.now() - lastLine > 5000 || event.done === event.total) {
          stream.write(`${text}\n`);
          lastLine = Date.now();
        }
        break;
      }
      case 'epoch':
        clearBar();
        stream.write(
          `epoch ${event.epoch}/${event.epochs}: loss ${event.meanLoss.toFixed(4)}, validation P@${event.validation.k} ${event.validation.precision_at_k.toFixed(3)} ` +
            `(untrained ${event.baseline.precision_at_k.toFixed(3)}), mAP@R ${event.validation.map_at_r.toFixed(3)} (untrained ${event.baseline.map_at_r.toFixed(3)})\n`,
        );
        break;
      case 'problem':
        clearBar();
        stream.write(`skipped ${event.problem.path}: ${event.problem.reason}\n`);
        break;
      case 'job':
        if (event.job.message) {
          clearBar();
          stream.write(`${event.job.message}\n`);
        }
        break;
      default:
        break;
    }
  };
}

export function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
}
