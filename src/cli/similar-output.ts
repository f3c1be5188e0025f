import { closeMatches, type SimilarResult } from '../shared/api.js';
import { resultRows } from '../shared/result-rows.js';

/**
 * `lookalike similar` as the app's Find similar says it: results past the model's close-match
 * threshold are "probably not similar", and when none is under it, "no close match" comes first.
 */
export function similarJson(result: SimilarResult, incomplete: string | null, root: string) {
  const threshold = result.distances?.threshold ?? null;
  const close = closeMatches(result.distances, result.results);
  return {
    query: result.query.path,
    model: result.modelId,
    threshold,
    no_close_match: threshold !== null && close.length > 0 && !close.includes(true),
    // Rows as the app exports them; which of them are close matches, by rank.
    close_ranks: result.results.filter((_, i) => close[i]).map((r) => r.rank),
    results: resultRows(result.results, root),
    ...(incomplete ? { incomplete } : {}),
  };
}

export function similarText(json: ReturnType<typeof similarJson>): string {
  const { threshold } = json;
  const head = `nearest to ${json.query} (model ${json.model}${threshold === null ? '' : `; a close match is under ${threshold.toFixed(2)}`}):`;
  const lines = [head];
  if (json.no_close_match) lines.push('No close match: nothing in the library is as near as photos of one class usually are; these are only the least far photos, probably not similar.');
  const isClose = (row: { rank: number }) => json.close_ranks.includes(row.rank);
  json.results.forEach((row, i) => {
    if (!isClose(row) && !json.no_close_match && (i === 0 || isClose(json.results[i - 1]))) lines.push('     probably not similar (farther than a close match of its class):');
    lines.push(`${String(row.rank).padStart(3)}. ${row.distance.toFixed(4)}  ${row.path}`);
  });
  return lines.join('\n');
}
