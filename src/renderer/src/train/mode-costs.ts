import type { CostPart, FineTuneMode, ModeCost } from '../../../shared/api';
import { formatCount } from '../common/format';

/** How the Train form names each mode (the options of its Fine-tune list). */
export const MODE_NAMES: Readonly<Record<FineTuneMode, string>> = {
  head: 'Head only',
  'last-blocks': 'Head + last blocks',
  full: 'Whole network',
};

/** What each mode trains and what its cost comes from, in one sentence (no claim of quality: none is measured here). */
export const MODE_HELP: Readonly<Record<FineTuneMode, string>> = {
  head: 'Trains a small head on the backbone’s cached features; the backbone stays as it is. The cheapest mode.',
  'last-blocks':
    'Trains the head first, as Head only does, then the backbone’s last blocks with it on activations cached at the cut. Measured on flowers17 (2 seeds): P@30 0.944 against the head’s 0.936, in about 6× the head’s time, and no better on an uneven library; so Head only stays the default.',
  full: 'Trains the head first, then the whole network from the decoded photos with random crops and mirroring: practical on a GPU only.',
};

/** "under 1 s", "40 s", "12 min", "2 h 05 min": an estimate, so no seconds past the first minute. */
export function formatSpan(seconds: number): string {
  if (seconds < 1) return 'under 1 s';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** A mode's time as the form shows it. */
export function costText(cost: ModeCost): string {
  if (cost.unavailable) return 'not here';
  if (cost.seconds === null) return 'not known yet';
  return cost.seconds < 1 ? formatSpan(cost.seconds) : `about ${formatSpan(cost.seconds)}`;
}

/** Where a mode's estimate comes from, in words. */
export function costSourceText(cost: ModeCost): string {
  if (cost.unavailable) return 'see below';
  if (cost.parts.some((p) => p.source === 'unknown')) return 'a first run measures it';
  if (cost.source === 'this-machine') return 'from your last run';
  return cost.source === 'reference' ? 'estimated' : 'partly estimated';
}

const PHASE_NAMES: Readonly<Record<CostPart['phase'], string>> = {
  features: 'features',
  'cut-maps': 'cut maps',
  head: 'head',
  blocks: 'blocks',
  embed: 'embedding',
};

/** One phase in words: "features cached", "head 96 triplets, 2 s", "blocks 24 triplets, not measured yet". */
export function partText(part: CostPart): string {
  const name = PHASE_NAMES[part.phase];
  if (part.source === 'cached') return `${name} cached`;
  const time = part.seconds === null ? 'not measured yet' : formatSpan(part.seconds);
  const cached = part.cached ? ` (${formatCount(part.cached)} cached)` : '';
  return `${name} ${formatCount(part.items)} ${part.unit}${cached}, ${time}${part.source === 'reference' ? '*' : ''}`;
}
