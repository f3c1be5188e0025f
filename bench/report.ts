/** Shared output for the engine benches: a readable table, and with --json one JSON object as the last line. */
export interface BenchReport {
  bench: string;
  results: Array<Record<string, unknown>>;
  notes?: string[];
}

export function printReport(report: BenchReport, json: boolean): void {
  const columns = [...new Set(report.results.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v ?? ''));
  const widths = columns.map((c) => Math.max(c.length, ...report.results.map((r) => cell(r[c]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  const out = json ? process.stderr : process.stdout;
  out.write(`${report.bench}\n${line(columns)}\n${report.results.map((r) => line(columns.map((c) => cell(r[c])))).join('\n')}\n`);
  for (const note of report.notes ?? []) out.write(`note: ${note}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ bench: report.bench, results: report.results })}\n`);
}

export function flag(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
