import { describe, expect, it } from 'vitest';
import { fileName, formatDelta, formatDistance, formatEta, formatLoss, formatMetric } from './format';

describe('format', () => {
  it('says how long is left in words a person reads at a glance', () => {
    expect(formatEta(null)).toBe('');
    expect(formatEta(42.4)).toBe('42 s left');
    expect(formatEta(185)).toBe('3 min left');
    expect(formatEta(3 * 3600 + 5 * 60)).toBe('3 h 05 min left');
  });

  it('shows metrics, deltas, losses and distances with fixed, readable precision', () => {
    expect(formatMetric(0.83456)).toBe('0.835');
    expect(formatMetric(null)).toBe('–');
    expect(formatDelta(0.9, 0.6)).toBe('+0.300');
    expect(formatDelta(0.5, 0.6)).toBe('−0.100');
    expect(formatDelta(0.5, null)).toBe('');
    expect(formatLoss(0)).toBe('0');
    expect(formatLoss(0.00119)).toBe('0.00119');
    expect(formatLoss(Number.NaN)).toBe('–');
    expect(formatDistance(0.36789)).toBe('0.368');
    expect(formatDistance(12.34)).toBe('12.3');
  });

  it('takes the file name from either kind of path', () => {
    expect(fileName('daisy/image_0801.jpg')).toBe('image_0801.jpg');
    expect(fileName('C:\\photos\\a.png')).toBe('a.png');
  });
});
