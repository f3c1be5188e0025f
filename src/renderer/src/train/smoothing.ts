/**
 * Exponential moving average with TensorBoard's debiasing: `weight` 0 returns the input, values
 * near 1 smooth heavily; the first points are not dragged towards zero.
 */
export function smooth(values: readonly number[], weight: number): number[] {
  if (weight <= 0) return values.slice();
  const out: number[] = [];
  let last = 0;
  let count = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) {
      out.push(v);
      continue;
    }
    last = last * weight + (1 - weight) * v;
    count++;
    out.push(last / (1 - weight ** count));
  }
  return out;
}
