import { describe, expect, it } from 'vitest';
import type { Suggestion } from '../../../shared/api';
import { atOrAbove, groupByClass, idsByClass } from './suggestion-groups';

const suggestion = (photoId: number, className: string | null, confidence: number, distance = 1): Suggestion => ({
  photoId,
  path: `unsorted-${photoId}.jpg`,
  className,
  nearestClass: className ?? 'circles',
  confidence,
  distance,
  support: [],
  rejected: [],
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
});
