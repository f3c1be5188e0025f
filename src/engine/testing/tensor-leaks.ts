import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeEach, expect } from 'vitest';

/**
 * Every test of the calling suite must leave as many TF.js tensors as it found (tfjs-models' rule).
 * `release` first frees what the engine keeps on purpose between calls (the backbones kept for
 * queries), so that only what nobody holds counts as a leak.
 */
export function expectNoTensorLeaks(release?: () => unknown): void {
  let before = 0;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });
  afterEach(async () => {
    await release?.();
    expect(tf.memory().numTensors, 'TF.js tensors left behind by this test').toBe(before);
  });
}
