import { expect, it } from 'vitest';
import { createThroughput } from './throughput.js';

it('estimates from the pace after the first batch: a slow start-up does not make 1360 photos look like many minutes', () => {
  let now = 0;
  const rate = createThroughput(() => now);
  // 19 s of start-up (workers, backbone) before the first batch of 24, then 24 photos a second.
  now = 20_000;
  expect(rate(24, 1360)).toEqual({ etaSeconds: null, perSecond: null });
  now = 21_000;
  const second = rate(48, 1360);
  expect(second.perSecond).toBeCloseTo(24, 6);
  expect(second.etaSeconds).toBeCloseTo((1360 - 48) / 24, 6);
  now = 75_000;
  expect(rate(1344, 1360).etaSeconds).toBeCloseTo(16 / 24, 1);
});

it('says nothing until a batch is done, and nothing is left at the end', () => {
  let now = 5_000;
  const rate = createThroughput(() => now);
  expect(rate(0, 100)).toEqual({ etaSeconds: null, perSecond: null });
  now = 6_000;
  expect(rate(10, 100).etaSeconds).toBeNull();
  now = 7_000;
  expect(rate(100, 100)).toEqual({ etaSeconds: 0, perSecond: 90 });
});
