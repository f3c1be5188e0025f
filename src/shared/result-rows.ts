import type { Neighbour } from './api.js';

/** One result as `lookalike similar --json` prints it and the app exports it: the same fields everywhere. */
export interface ResultRow {
  rank: number;
  /** Relative to the library root, '/'-separated. */
  path: string;
  class: string | null;
  distance: number;
}

export function resultRows(results: Neighbour[]): ResultRow[] {
  return results.map(({ rank, path, className, distance }) => ({ rank, path, class: className, distance }));
}

/** RFC 4180 CSV, header first: path, class, distance, rank. */
export function resultsCsv(rows: ResultRow[]): string {
  const lines = [['path', 'class', 'distance', 'rank'], ...rows.map((r) => [r.path, r.class ?? '', String(r.distance), String(r.rank)])];
  return lines.map((cells) => cells.map(csvCell).join(',')).join('\r\n') + '\r\n';
}

function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Absolute paths of results, in the root's own separator style. */
export function absolutePaths(root: string, rows: Array<{ path: string }>): string[] {
  const separator = root.includes('\\') && !root.includes('/') ? '\\' : '/';
  const base = root.endsWith(separator) ? root.slice(0, -1) : root;
  return rows.map((r) => `${base}${separator}${r.path.split('/').join(separator)}`);
}
