import { applyPca, fitPca, symmetricEigen } from './pca.js';

/**
 * How unlike every labelled class a photo is in the untrained backbone's features: the relative
 * Mahalanobis distance (Ren et al. 2021). The features are reduced by PCA, each class is a Gaussian
 * with one shared within-class covariance, and the score is the squared Mahalanobis distance to the
 * nearest class centre minus that to one Gaussian fitted to all the photos: a photo far from every
 * class but typical of photos in general (a flower of an unlabelled kind) scores high, one that is
 * simply unusual in every way less so. The untrained features are used because training pulls photos
 * of unseen classes into the known clusters; here they keep their own place.
 */
export interface ClassGaussians {
  score(vector: Float32Array): number;
  /** The vector in the PCA space the Gaussians live in (unwhitened): distances there approximate the features'. */
  project(vector: Float32Array): Float64Array;
}

export interface GaussianOptions {
  /** PCA dimensions kept (measured on flowers17: 128 beat 64, 96, 192 and 256). */
  dims?: number;
  /** Added to every eigenvalue, as a share of their mean, so thin directions do not dominate. */
  shrink?: number;
  /** At most this many photos fit the PCA (evenly spaced), which keeps it cheap in a large library. */
  maxRows?: number;
}

export const GAUSSIAN_DIMS = 128;
const SHRINK = 0.01;
const MAX_ROWS = 4000;

export function fitClassGaussians(photos: Array<{ classId: number; vector: Float32Array }>, options: GaussianOptions = {}): ClassGaussians | null {
  if (photos.length < 2) return null;
  const dim = photos[0].vector.length;
  const step = Math.max(1, photos.length / (options.maxRows ?? MAX_ROWS));
  const sample = Array.from({ length: Math.min(photos.length, options.maxRows ?? MAX_ROWS) }, (_, i) => photos[Math.floor(i * step)]);
  const rows = new Float32Array(sample.length * dim);
  sample.forEach((p, i) => rows.set(p.vector, i * dim));
  const basis = fitPca(rows, sample.length, dim, options.dims ?? GAUSSIAN_DIMS);
  const k = basis.outputDim;
  const project = (vector: Float32Array) => {
    const out = new Float32Array(k);
    applyPca(basis, vector, 1, out, 0);
    return Float64Array.from(out);
  };
  const projected = photos.map((p) => project(p.vector));
  const classMeans = meansBy(projected, photos.map((p) => p.classId), k);
  const overall = meansBy(projected, projected.map(() => 0), k).get(0)!;
  const shrink = options.shrink ?? SHRINK;
  const within = whitener(projected, (i) => classMeans.get(photos[i].classId)!, k, shrink);
  const total = whitener(projected, () => overall, k, shrink);
  const centres = [...classMeans.values()].map(within);
  const background = total(overall);
  return {
    project,
    score(vector) {
      const x = project(vector);
      const w = within(x);
      let nearest = Infinity;
      for (const centre of centres) nearest = Math.min(nearest, squaredDistance(w, centre));
      return nearest - squaredDistance(total(x), background);
    },
  };
}

function meansBy(rows: Float64Array[], keys: number[], k: number): Map<number, Float64Array> {
  const sums = new Map<number, { sum: Float64Array; count: number }>();
  rows.forEach((row, i) => {
    const entry = sums.get(keys[i]) ?? { sum: new Float64Array(k), count: 0 };
    for (let d = 0; d < k; d++) entry.sum[d] += row[d];
    entry.count++;
    sums.set(keys[i], entry);
  });
  return new Map([...sums].map(([key, { sum, count }]) => [key, sum.map((v) => v / count)]));
}

/** x → Λ^-½ Vᵀ x for the covariance of the rows about `centreOf(i)`, its eigenvalues lifted by `shrink` × their mean. */
function whitener(rows: Float64Array[], centreOf: (i: number) => Float64Array, k: number, shrink: number): (x: Float64Array) => Float64Array {
  const covariance = new Float64Array(k * k);
  const centred = new Float64Array(k);
  rows.forEach((row, i) => {
    const centre = centreOf(i);
    for (let d = 0; d < k; d++) centred[d] = row[d] - centre[d];
    for (let a = 0; a < k; a++) for (let b = a; b < k; b++) covariance[a * k + b] += centred[a] * centred[b];
  });
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      covariance[a * k + b] /= rows.length;
      covariance[b * k + a] = covariance[a * k + b];
    }
  }
  const { values, vectors } = symmetricEigen(covariance, k);
  const lift = (shrink * values.reduce((sum, v) => sum + Math.max(v, 0), 0)) / k || 1e-12;
  const scales = values.map((v) => 1 / Math.sqrt(Math.max(v, 0) + lift));
  return (x) => {
    const out = new Float64Array(k);
    for (let e = 0; e < k; e++) {
      let sum = 0;
      for (let d = 0; d < k; d++) sum += x[d] * vectors[d * k + e];
      out[e] = sum * scales[e];
    }
    return out;
  };
}

function squaredDistance(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return sum;
}

/** Neighbours each photo's unsorted share is counted over. */
export const NEIGHBOURS = 10;

/**
 * For each photo, how many of its NEIGHBOURS nearest other photos are unsorted (exact scan).
 * A kind of photo the person has no class for sits in the unsorted pile as a group: its photos' nearest
 * neighbours are unsorted photos, more than for the photos of a class (compared per class by the rule).
 */
export function unsortedNeighbours(photos: Array<{ id: number; vector: Float64Array; unsorted: boolean }>, k = NEIGHBOURS): Map<number, number> {
  const counts = new Map<number, number>();
  const count = Math.min(k, photos.length - 1);
  if (count < 1) return counts;
  // The `count` nearest so far, nearest first, kept by insertion: no sort of every distance per photo.
  const nearestDistances = new Float64Array(count);
  const nearestIndices = new Int32Array(count);
  for (let i = 0; i < photos.length; i++) {
    nearestDistances.fill(Infinity);
    for (let j = 0; j < photos.length; j++) {
      if (j === i) continue;
      const d = squaredDistance(photos[i].vector, photos[j].vector);
      if (d >= nearestDistances[count - 1]) continue;
      let at = count - 1;
      while (at > 0 && nearestDistances[at - 1] > d) {
        nearestDistances[at] = nearestDistances[at - 1];
        nearestIndices[at] = nearestIndices[at - 1];
        at--;
      }
      nearestDistances[at] = d;
      nearestIndices[at] = j;
    }
    let unsorted = 0;
    for (const j of nearestIndices) if (photos[j].unsorted) unsorted++;
    counts.set(photos[i].id, unsorted);
  }
  return counts;
}
