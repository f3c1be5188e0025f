import { expect, it } from 'vitest';
import { closeMatches, type DistanceProfile } from './api.js';

// As the drawn sample library trained: circles typically 0.23-0.50 apart, other classes 1.51-1.71.
const profile: DistanceProfile = {
  same_class: [0.23, 0.35, 0.5],
  other_class: [1.51, 1.6, 1.71],
  threshold: 0.52,
  precision: 1,
  same_class_under: 1,
  other_class_under: 0,
  class_thresholds: { circles: 0.52, stripes: 0.4 },
  nearest_limit: 0.5,
  close_match_share: 1,
};

it('calls each result close under its own class threshold: circles at 0.356 and 0.426 are close, a stripe at 0.45 is not', () => {
  const results = [
    { distance: 0.3, className: 'circles' },
    { distance: 0.356, className: 'circles' },
    { distance: 0.426, className: 'circles' },
    { distance: 0.45, className: 'stripes' },
    { distance: 1.55, className: 'squares' },
  ];
  expect(closeMatches(profile, results)).toEqual([true, true, true, false, false]);
});

it('calls nothing close when even the nearest is farther than validation photos\' nearest neighbours are (an image like nothing here)', () => {
  expect(closeMatches(profile, [{ distance: 0.51, className: 'circles' }, { distance: 0.52, className: 'circles' }])).toEqual([false, false]);
  expect(closeMatches(null, [{ distance: 3, className: null }])).toEqual([true]);
});
