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
  return neighbourAgreement(cluster, k, step, (i, j) => (xy[2 * i] - xy[2 * j]) ** 2 + (xy[2 * i + 1] - xy[2 * j + 1]) ** 2);
}

/** Share of each point's `k` nearest (by `distance`) that are of its own cluster, over every `step`-th point. */
export function neighbourAgreement(cluster: ArrayLike<number>, k: number, step: number, distance: (i: number, j: number) => number): number {
  const count = cluster.length;
  let same = 0;
  let all = 0;
  const nearest = new Float64Array(k);
  const nearestId = new Int32Array(k);
  for (let i = 0; i < count; i += step) {
    nearest.fill(Infinity);
    nearestId.fill(-1);
    for (let j = 0; j < count; j++) {
      if (j === i) continue;
      const d = distance(i, j);
      if (d >= nearest[k - 1]) continue;
      let at = k - 1;
      while (at > 0 && nearest[at - 1] > d) {
        nearest[at] = nearest[at - 1];
        nearestId[at] = nearestId[at - 1];
        at--;
      }
      nearest[at] = d;
      nearestId[at] = j;
    }
    for (const j of nearestId) {
      if (j < 0) continue;
      all++;
      if (cluster[j] === cluster[i]) same++;
    }
  }
  return same / all;
}
