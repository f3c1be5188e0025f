import { describe, expect, it } from 'vitest';
import type { Suggestion } from '../../../shared/api';
import { atOrAbove, groupByClass, idsByClass, whyNone } from './suggestion-groups';

const suggestion = (photoId: number, className: string | null, confidence: number, distance = 1): Suggestion => ({
  photoId,
  path: `unsorted-${photoId}.jpg`,
  className,
  nearestClass: className ?? 'circles',
  confidence,
  distance,
  support: [],
  rejected: [],
  strangeness: null,
});

describe('the Sort view groups', () => {
  it('groups by class, most confident first, with "none of your classes" last', () => {
    const groups = groupByClass([suggestion(1, null, 0), suggestion(2, 'stripes', 0.6), suggestion(3, 'circles', 0.7), suggestion(4, 'stripes', 0.9), suggestion(5, 'stripes', 0.9, 0.5)]);
    expect(groups.map((g) => g.className)).toEqual(['circles', 'stripes', null]);
    expect(groups[1].suggestions.map((s) => s.photoId)).toEqual([5, 4, 2]);
  });

  it('takes the suggestions with a class at or above the confidence for "accept all above"', () => {
    const all = [suggestion(1, null, 0), suggestion(2, 'stripes', 0.7), suggestion(3, 'circles', 0.69)];
    expect(atOrAbove(all, 0.7).map((s) => s.photoId)).toEqual([2]);
    expect(atOrAbove(all, 0).map((s) => s.photoId)).toEqual([2, 3]);
  });

  it('makes one change per class', () => {
    expect([...idsByClass([{ photoId: 1, className: 'a' }, { photoId: 2, className: 'b' }, { photoId: 3, className: 'a' }])]).toEqual([
      ['a', [1, 3]],
      ['b', [2]],
    ]);
  });

  it('says what a "none of your classes" rests on: both shares where the novelty rule judged, "too far" where a threshold did', () => {
    expect(whyNone({ nearestClass: 'tulip', strangeness: { model: 0.934, untrained: 0.991, unsorted: { count: 9, usual: 2.14, of: 10 } } })).toBe(
      'nearest: tulip; stranger than 93% of held-out photos by the model, 99% in the untrained features; 9 of its 10 nearest photos unsorted (usually 2.1)',
    );
    expect(whyNone({ nearestClass: 'tulip', strangeness: { model: 0.5, untrained: null, unsorted: null } })).toBe('nearest: tulip; stranger than 50% of held-out photos by the model');
    expect(whyNone({ nearestClass: null, strangeness: null })).toBe('nearest: –, too far');
  });
});
