import { closeMatches, type SimilarResult } from '../shared/api.js';
import { resultRows } from '../shared/result-rows.js';

/**
 * `lookalike similar` as the app's Find similar says it: results past the model's close-match
 * threshold are "probably not similar", and when none is under it, "no close match" comes first.
 */
export function similarJson(result: SimilarResult, incomplete: string | null) {
  const threshold = result.distances?.threshold ?? null;
  const close = closeMatches(result.distances, result.results);
  const rows = resultRows(result.results).map((row, i) => ({ ...row, close: close[i] }));
  return {
    query: result.query.path,
    model: result.modelId,
    threshold,
    no_close_match: threshold !== null && rows.length > 0 && !rows.some((r) => r.close),
    results: rows,
    ...(incomplete ? { incomplete } : {}),
  };
}

export function similarText(json: ReturnType<typeof similarJson>): string {
  const { threshold } = json;
  const head = `nearest to ${json.query} (model ${json.model}${threshold === null ? '' : `; a close match is under ${threshold.toFixed(2)}`}):`;
  const lines = [head];
  if (json.no_close_match) lines.push('No close match: nothing in the library is as near as photos of one class usually are; these are only the least far photos, probably not similar.');
  json.results.forEach((row, i) => {
    if (!row.close && !json.no_close_match && (i === 0 || json.results[i - 1].close)) lines.push('     probably not similar (farther than a close match of its class):');
    lines.push(`${String(row.rank).padStart(3)}. ${row.distance.toFixed(4)}  ${row.path}`);
  });
  return lines.join('\n');
}
