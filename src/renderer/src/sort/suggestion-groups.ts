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
