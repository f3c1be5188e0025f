import type { RetrievalMetrics } from './api.js';

/**
 * A fine-tuned run's score beside its head alone on the same split (the head after its head-first
 * phase, before the blocks trained), e.g. "P@30 0.951 — the head alone on the same split: 0.937 (+0.014)".
 * The CLI's summary and the Runs card say it in these words.
 */
export function comparedWithHeadAlone(trained: RetrievalMetrics, headAlone: RetrievalMetrics): string {
  const difference = trained.precision_at_k - headAlone.precision_at_k;
  const signed = `${difference >= 0 ? '+' : '−'}${Math.abs(difference).toFixed(3)}`;
  return `P@${trained.k} ${trained.precision_at_k.toFixed(3)} — the head alone on the same split: ${headAlone.precision_at_k.toFixed(3)} (${signed})`;
}
