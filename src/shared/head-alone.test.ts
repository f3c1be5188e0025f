import { describe, expect, it } from 'vitest';
import { comparedWithHeadAlone } from './head-alone.js';

const scores = (precision_at_k: number) => ({ k: 30, queries: 272, database: 1088, precision_at_k, map_at_r: 0.8 });

describe('a fine-tuned run beside its head alone', () => {
  it('says both P@k and the signed difference, rounded as shown', () => {
    expect(comparedWithHeadAlone(scores(0.9512), scores(0.9371))).toBe('P@30 0.951 — the head alone on the same split: 0.937 (+0.014)');
    expect(comparedWithHeadAlone(scores(0.9), scores(0.937))).toBe('P@30 0.900 — the head alone on the same split: 0.937 (−0.037)');
  });
});
