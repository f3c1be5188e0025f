import type { SimilarResult } from '../shared/api.js';
import { resultRows } from '../shared/result-rows.js';

/**
 * `lookalike similar` as the app's Find similar says it: results past the model's close-match
 * threshold are "probably not similar", and when none is under it, "no close match" comes first.
 */
export function similarJson(result: SimilarResult, incomplete: string | null) {
  const threshold = result.distances?.threshold ?? null;
  const isClose = (distance: number) => threshold === null || distance <= threshold;
  return {
    query: result.query.path,
    model: result.modelId,
    threshold,
    no_close_match: threshold !== null && result.results.length > 0 && !result.results.some((r) => isClose(r.distance)),
    results: resultRows(result.results).map((row) => ({ ...row, close: isClose(row.distance) })),
    ...(incomplete ? { incomplete } : {}),
  };
}

export function similarText(json: ReturnType<typeof similarJson>): string {
  const { threshold } = json;
  const head = `nearest to ${json.query} (model ${json.model}${threshold === null ? '' : `; a close match is under ${threshold.toFixed(2)}`}):`;
  const lines = [head];
  if (json.no_close_match) lines.push(`No close match: nothing in the library is nearer than ${threshold!.toFixed(2)}; these are only the least far photos, probably not similar.`);
  json.results.forEach((row, i) => {
    if (!row.close && !json.no_close_match && (i === 0 || json.results[i - 1].close)) lines.push(`     probably not similar (farther than ${threshold!.toFixed(2)}):`);
    lines.push(`${String(row.rank).padStart(3)}. ${row.distance.toFixed(4)}  ${row.path}`);
  });
  return lines.join('\n');
}
