import * as tf from '@tensorflow/tfjs';

/** Euclidean (not squared) distance per row; epsilon keeps the gradient finite at distance 0. */
export function euclidean(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sqrt(tf.add(tf.sum(tf.square(tf.sub(a, b)), 1), 1e-12)) as tf.Tensor1D);
}

/** Per-triplet hinge loss l = max(0, g + D(q, p) - D(q, n)); g was checked with the settings (src/shared/settings.ts). */
export function tripletLosses(q: tf.Tensor2D, p: tf.Tensor2D, n: tf.Tensor2D, gap: number): tf.Tensor1D {
  return tf.tidy(() => tf.relu(tf.add(tf.sub(euclidean(q, p), euclidean(q, n)), gap)) as tf.Tensor1D);
}

/** Mean loss over the batch: the scalar the optimiser minimises. */
export function tripletLoss(q: tf.Tensor2D, p: tf.Tensor2D, n: tf.Tensor2D, gap: number): tf.Scalar {
  return tf.tidy(() => tf.mean(tripletLosses(q, p, n, gap)) as tf.Scalar);
}

/** Mean loss with a gap per triplet (in-class triplets use a smaller one than out-of-class). */
export function tripletLossWithGaps(q: tf.Tensor2D, p: tf.Tensor2D, n: tf.Tensor2D, gaps: number[]): tf.Scalar {
  if (gaps.every((g) => g === gaps[0])) return tripletLoss(q, p, n, gaps[0]);
  return tf.tidy(() => tf.mean(tf.relu(tf.add(tf.sub(euclidean(q, p), euclidean(q, n)), tf.tensor1d(gaps)))) as tf.Scalar);
}
