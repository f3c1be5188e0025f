import type { Neighbour } from './api.js';

/**
 * One result as `lookalike similar --json` prints it and the app exports it (CSV, Copy paths): the
 * same fields everywhere. The rule for paths: what leaves the app to be pasted somewhere is the
 * absolute path (`absolutePath`, what Copy paths copies); `path` stays library-relative, the
 * library's own name for the photo.
 */
export interface ResultRow {
  rank: number;
  /** Relative to the library root, '/'-separated. */
  path: string;
  /** The library root joined with `path`, in the root's own separator style. */
  absolutePath: string;
  class: string | null;
  /** Rounded to 4 significant digits: more says nothing about how alike two photos are. */
  distance: number;
}

export function resultRows(results: Neighbour[], root: string): ResultRow[] {
  const absolute = absolutePaths(root, results);
  return results.map(({ rank, path, className, distance }, i) => ({ rank, path, absolutePath: absolute[i], class: className, distance: roundDistance(distance) }));
}

export function roundDistance(distance: number): number {
  return Number(distance.toPrecision(4));
}

/** RFC 4180 CSV, header first, with the row's field names: path, absolutePath, class, distance, rank. */
export function resultsCsv(rows: ResultRow[]): string {
  const lines = [['path', 'absolutePath', 'class', 'distance', 'rank'], ...rows.map((r) => [r.path, r.absolutePath, r.class ?? '', String(r.distance), String(r.rank)])];
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
