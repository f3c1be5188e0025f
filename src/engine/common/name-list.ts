/** Up to five names, then how many more: a list that stays one readable line. */
export function summariseNames(names: string[], shown = 5): string {
  const quoted = names.slice(0, shown).map((n) => `"${n}"`);
  return names.length > shown ? `${quoted.join(', ')} and ${names.length - shown} more` : quoted.join(', ');
}
