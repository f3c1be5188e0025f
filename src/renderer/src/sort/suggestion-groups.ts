import type { Suggestion } from '../../../shared/api';

export interface SuggestionGroup {
  /** null: "none of your classes". */
  className: string | null;
  suggestions: Suggestion[];
}

/** Suggestions by class, classes by name, each most confident first; "none of your classes" last. */
export function groupByClass(suggestions: Suggestion[]): SuggestionGroup[] {
  const byClass = new Map<string | null, Suggestion[]>();
  for (const s of suggestions) byClass.set(s.className, [...(byClass.get(s.className) ?? []), s]);
  const order = (name: string | null) => (name === null ? '\uffff' : name);
  return [...byClass]
    .sort(([a], [b]) => order(a).localeCompare(order(b)))
    .map(([className, group]) => ({ className, suggestions: [...group].sort((a, b) => b.confidence - a.confidence || a.distance - b.distance) }));
}

/** The suggestions "accept all above" takes at this confidence: those with a class, at or above it. */
export function atOrAbove(suggestions: Suggestion[], confidence: number): Suggestion[] {
  // The slider moves in hundredths; a share like 0.7 must count at 0.70.
  return suggestions.filter((s) => s.className !== null && s.confidence >= confidence - 1e-9);
}

/** Photo ids by the class they go to: one label change per class. */
export function idsByClass(suggestions: Array<{ photoId: number; className: string }>): Map<string, number[]> {
  const byClass = new Map<string, number[]>();
  for (const { photoId, className } of suggestions) byClass.set(className, [...(byClass.get(className) ?? []), photoId]);
  return byClass;
}

/**
 * Why a photo got "none of your classes", in words: how unusual it is for its nearest class (each the
 * share of held-out labelled photos more usual for their own class) by the model's distance and in the
 * untrained features, and how many of its nearest photos are unsorted against the class's usual count;
 * or "too far" where a plain distance threshold decided.
 */
export function whyNone(suggestion: Pick<Suggestion, 'nearestClass' | 'strangeness'>): string {
  const nearest = `nearest: ${suggestion.nearestClass ?? '–'}`;
  const { strangeness } = suggestion;
  if (!strangeness) return `${nearest}, too far`;
  const percent = (share: number) => `${Math.round(share * 100)}%`;
  const parts = [`${percent(strangeness.model)} of held-out photos by the model`];
  if (strangeness.untrained !== null) parts.push(`${percent(strangeness.untrained)} in the untrained features`);
  const { unsorted } = strangeness;
  const neighbours = unsorted ? `; ${unsorted.count} of its ${unsorted.of} nearest photos unsorted (usually ${unsorted.usual.toFixed(1)})` : '';
  return `${nearest}; stranger than ${parts.join(', ')}${neighbours}`;
}
