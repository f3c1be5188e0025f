import { createRng, randomInt } from '../../common/rng.js';
import type { KnnGraph } from './knn-graph.js';

/** UMAP's curve 1 / (1 + a·d^2b) fitted for min_dist 0.1, spread 1 (umap-learn's defaults). */
const A = 1.577;
const B = 0.8951;
const NEGATIVE_SAMPLES = 5;
const GRADIENT_CLIP = 4;
/** The layout's initial extent: UMAP's own spectral init is scaled to 10 as well. */
const INIT_EXTENT = 10;

export interface FuzzyEdges {
  head: Int32Array;
  tail: Int32Array;
  weight: Float32Array;
}

/**
 * UMAP's fuzzy simplicial set: each point's neighbours weighted exp(−(d − ρ)/σ), ρ its nearest
 * distance and σ chosen so the weights sum to log2 k; then made symmetric as w + wᵀ − w∘wᵀ.
 */
export function fuzzyEdges(graph: KnnGraph, count: number): FuzzyEdges {
  const { k, index } = graph;
  const target = Math.log2(k);
  const directed = new Map<number, number>();
  const distances = new Float64Array(k);
  for (let i = 0; i < count; i++) {
    let rho = Infinity;
    for (let j = 0; j < k; j++) {
      distances[j] = index[i * k + j] < 0 ? Infinity : Math.sqrt(graph.distance[i * k + j]);
      if (distances[j] > 0 && distances[j] < rho) rho = distances[j];
    }
    if (!Number.isFinite(rho)) rho = 0;
    const sigma = smoothingScale(distances, rho, target);
    for (let j = 0; j < k; j++) {
      const other = index[i * k + j];
      if (other < 0 || other === i) continue;
      const weight = distances[j] - rho <= 0 ? 1 : Math.exp(-(distances[j] - rho) / sigma);
      directed.set(i * count + other, weight);
    }
  }
  const head: number[] = [];
  const tail: number[] = [];
  const weight: number[] = [];
  for (const [key, w] of directed) {
    const i = Math.floor(key / count);
    const j = key - i * count;
    const back = directed.get(j * count + i);
    if (back !== undefined && j < i) continue; // the pair is taken once, from its smaller end
    const both = back === undefined ? w : w + back - w * back;
    head.push(i);
    tail.push(j);
    weight.push(both);
  }
  return { head: Int32Array.from(head), tail: Int32Array.from(tail), weight: Float32Array.from(weight) };
}

/** σ by bisection: Σ exp(−max(0, d − ρ)/σ) = target. */
function smoothingScale(distances: Float64Array, rho: number, target: number): number {
  let low = 0;
  let high = Infinity;
  let sigma = 1;
  for (let step = 0; step < 64; step++) {
    let sum = 0;
    for (const d of distances) if (Number.isFinite(d)) sum += d - rho > 0 ? Math.exp(-(d - rho) / sigma) : 1;
    if (Math.abs(sum - target) < 1e-5) break;
    if (sum > target) {
      high = sigma;
      sigma = (low + high) / 2;
    } else {
      low = sigma;
      sigma = high === Infinity ? sigma * 2 : (low + high) / 2;
    }
  }
  return Math.max(sigma, 1e-3);
}

/** Starting positions from two coordinates (the first principal components), centred and scaled to ±INIT_EXTENT. */
export function initialLayout(coordinates: Float32Array, count: number, dim: number): Float32Array {
  const layout = new Float32Array(count * 2);
  for (let axis = 0; axis < 2; axis++) {
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < count; i++) {
      const value = axis < dim ? coordinates[i * dim + axis] : 0;
      min = Math.min(min, value);
      max = Math.max(max, value);
    }
    const scale = max > min ? (2 * INIT_EXTENT) / (max - min) : 0;
    for (let i = 0; i < count; i++) layout[i * 2 + axis] = axis < dim ? (coordinates[i * dim + axis] - min) * scale - INIT_EXTENT : 0;
  }
  // Tiny jitter: points at the same spot would otherwise never part.
  const rng = createRng(count);
  for (let i = 0; i < layout.length; i++) layout[i] += (rng() - 0.5) * 1e-3;
  return layout;
}

/** umap-learn takes 500 below 10,000 points and 200 above; 200 keeps small sets as well apart (bench/map.ts) in 2.5× less time. */
export const LAYOUT_EPOCHS = 200;

/**
 * UMAP's layout optimisation (umap-learn's optimize_layout_euclidean): each edge pulls its ends
 * together as often as its weight says, each pull followed by pushes from random points; the step
 * shrinks linearly to zero. Moves `layout` (count × 2) in place.
 */
export function optimiseLayout(layout: Float32Array, count: number, edges: FuzzyEdges, options: { epochs: number; seed?: number; onEpoch?: (epoch: number, epochs: number) => void }): void {
  const { epochs } = options;
  const rng = createRng(options.seed ?? 11);
  let maxWeight = 0;
  for (const w of edges.weight) maxWeight = Math.max(maxWeight, w);
  const kept: number[] = [];
  for (let e = 0; e < edges.weight.length; e++) if (edges.weight[e] >= maxWeight / epochs) kept.push(e);
  const head = Int32Array.from(kept, (e) => edges.head[e]);
  const tail = Int32Array.from(kept, (e) => edges.tail[e]);
  const perSample = Float64Array.from(kept, (e) => maxWeight / edges.weight[e]);
  const perNegative = perSample.map((p) => p / NEGATIVE_SAMPLES);
  const nextSample = Float64Array.from(perSample);
  const nextNegative = Float64Array.from(perNegative);
  const clip = (g: number) => (g > GRADIENT_CLIP ? GRADIENT_CLIP : g < -GRADIENT_CLIP ? -GRADIENT_CLIP : g);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const alpha = 1 - epoch / epochs;
    for (let e = 0; e < head.length; e++) {
      if (nextSample[e] > epoch) continue;
      const i = head[e] * 2;
      const j = tail[e] * 2;
      let dx = layout[i] - layout[j];
      let dy = layout[i + 1] - layout[j + 1];
      let d2 = dx * dx + dy * dy;
      if (d2 > 0) {
        const powered = Math.pow(d2, B);
        const pull = (-2 * A * B * (powered / d2)) / (A * powered + 1);
        const gx = clip(pull * dx) * alpha;
        const gy = clip(pull * dy) * alpha;
        layout[i] += gx;
        layout[i + 1] += gy;
        layout[j] -= gx;
        layout[j + 1] -= gy;
      }
      nextSample[e] += perSample[e];
      const negatives = Math.floor((epoch - nextNegative[e]) / perNegative[e]);
      for (let n = 0; n < negatives; n++) {
        const other = randomInt(rng, count) * 2;
        if (other === i) continue;
        dx = layout[i] - layout[other];
        dy = layout[i + 1] - layout[other + 1];
        d2 = dx * dx + dy * dy;
        const push = d2 > 0 ? (2 * B) / ((0.001 + d2) * (A * Math.pow(d2, B) + 1)) : 0;
        layout[i] += (push > 0 ? clip(push * dx) : GRADIENT_CLIP) * alpha;
        layout[i + 1] += (push > 0 ? clip(push * dy) : GRADIENT_CLIP) * alpha;
      }
      nextNegative[e] += negatives * perNegative[e];
    }
    options.onEpoch?.(epoch + 1, epochs);
  }
}
