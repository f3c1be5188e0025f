import { describe, expect, it } from 'vitest';
import type { CostPart, ModeCost } from '../../../shared/api';
import { costSourceText, costText, formatSpan, partText } from './mode-costs';

const part = (over: Partial<CostPart>): CostPart => ({ phase: 'head', items: 96, unit: 'triplets', perSecond: 48, seconds: 2, source: 'this-machine', ...over });
const mode = (over: Partial<ModeCost>): ModeCost => ({ mode: 'head', unavailable: null, seconds: 2, source: 'this-machine', parts: [part({})], ...over });

describe('the Train form’s words for what a mode costs', () => {
  it('rounds an estimate to what it can honestly say', () => {
    expect(formatSpan(0.4)).toBe('under 1 s');
    expect(formatSpan(41.6)).toBe('42 s');
    expect(formatSpan(12 * 60 + 20)).toBe('12 min');
    expect(formatSpan(2 * 3600 + 5 * 60)).toBe('2 h 05 min');
  });

  it('says where the time comes from: this machine, the reference machine, both, or nowhere yet', () => {
    expect([costText(mode({})), costSourceText(mode({}))]).toEqual(['about 2 s', 'from your last run']);
    expect(costSourceText(mode({ source: 'reference' }))).toBe('estimated');
    expect(costSourceText(mode({ source: 'mixed' }))).toBe('partly estimated');
    const unknown = mode({ seconds: null, source: 'reference', parts: [part({ source: 'unknown', seconds: null, perSecond: null })] });
    expect([costText(unknown), costSourceText(unknown)]).toEqual(['not known yet', 'a first run measures it']);
    expect(costText(mode({ seconds: 0.3 }))).toBe('under 1 s');
    expect(costText(mode({ unavailable: 'full fine-tuning needs a GPU backend', seconds: null, parts: [] }))).toBe('not here');
  });

  it('names each phase with its work, what is cached, and marks reference figures', () => {
    expect(partText(part({ phase: 'features', source: 'cached', items: 0, cached: 14, seconds: 0 }))).toBe('features cached');
    expect(partText(part({ phase: 'cut-maps', unit: 'photos', items: 1200, cached: 160, seconds: 133, source: 'reference' }))).toBe('cut maps 1,200 photos (160 cached), 2 min*');
    expect(partText(part({ phase: 'blocks', seconds: null, source: 'unknown' }))).toBe('blocks 96 triplets, not measured yet');
  });
});
