import { createRng } from '../common/rng.js';

/**
 * `count` vectors of `dim` values in `classes` clusters (photo i in cluster i mod classes): centres
 * drawn uniformly in [−1, 1]^dim, each vector its centre plus uniform noise of ±spread/2 per value.
 */
export function clusteredVectors(count: number, dim: number, classes: number, options: { seed?: number; spread?: number } = {}): { vectors: Float32Array[]; cluster: Int32Array } {
  const rng = createRng(options.seed ?? 1);
  const spread = options.spread ?? 0.8;
  const centres = Array.from({ length: classes }, () => Float32Array.from({ length: dim }, () => rng() * 2 - 1));
  const cluster = Int32Array.from({ length: count }, (_, i) => i % classes);
  const vectors = Array.from({ length: count }, (_, i) => Float32Array.from(centres[cluster[i]], (c) => c + (rng() - 0.5) * spread));
  return { vectors, cluster };
}

/** Share of each point's `k` nearest on the 2D map (x, y pairs) that are of its own cluster, over every `step`-th point. */
export function mapNeighbourAgreement(xy: ArrayLike<number>, cluster: ArrayLike<number>, k: number, step = 1): number {
  const count = cluster.length;
  let same = 0;
  let all = 0;
  for (let i = 0; i < count; i += step) {
    const nearest = Array.from({ length: count }, (_, j) => j)
      .filter((j) => j !== i)
      .map((j) => [(xy[2 * i] - xy[2 * j]) ** 2 + (xy[2 * i + 1] - xy[2 * j + 1]) ** 2, j] as const)
      .sort((a, b) => a[0] - b[0])
      .slice(0, k);
    for (const [, j] of nearest) {
      all++;
      if (cluster[j] === cluster[i]) same++;
    }
  }
  return same / all;
}
