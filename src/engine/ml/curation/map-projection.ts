import { knnGraph } from './knn-graph.js';
import { applyPca, fitPca } from './pca.js';
import { LAYOUT_EPOCHS, fuzzyEdges, initialLayout, optimiseLayout } from './umap-layout.js';

/** Vectors to map, read a few at a time: `read` gives the rows at these positions, one after another. */
export interface VectorSource {
  count: number;
  dim: number;
  read(positions: number[]): Float32Array;
}

export type MapPhase = 'reading' | 'neighbours' | 'layout';

export interface ProjectionOptions {
  /** Neighbours per point in the graph (UMAP's n_neighbors). */
  neighbours?: number;
  epochs?: number;
  seed?: number;
  onProgress?: (phase: MapPhase, done: number, total: number) => void;
}

/** Dimensions the neighbour search works in: UMAP's guide reduces to ~50 by PCA first; 1792 → 48 keeps the classes apart. */
export const REDUCED_DIM = 48;
/** Rows the principal directions are fitted on. */
const PCA_SAMPLE = 2000;
const PAGE = 2048;
const DEFAULT_NEIGHBOURS = 15;

/**
 * Two coordinates per vector, in [0, 1] (one scale for both axes, so shapes keep their proportions),
 * with UMAP's objective: PCA to REDUCED_DIM, a k-nearest-neighbour graph there, the first two
 * principal components as the starting layout, then UMAP's SGD epochs. Vectors are read a page at a
 * time; only their reduced form is held (count × 48 floats: 19 MB at 100,000).
 */
export function projectToMap(source: VectorSource, options: ProjectionOptions = {}): Float32Array {
  const { count, dim } = source;
  const progress = options.onProgress ?? (() => undefined);
  if (count === 0) return new Float32Array(0);
  if (count === 1) return Float32Array.of(0.5, 0.5);
  const samplePositions = evenlySpaced(count, Math.min(count, PCA_SAMPLE));
  const basis = fitPca(source.read(samplePositions), samplePositions.length, dim, REDUCED_DIM, options.seed);
  const reduced = new Float32Array(count * basis.outputDim);
  for (let start = 0; start < count; start += PAGE) {
    const positions = Array.from({ length: Math.min(PAGE, count - start) }, (_, i) => start + i);
    applyPca(basis, source.read(positions), positions.length, reduced, start);
    progress('reading', start + positions.length, count);
  }
  const k = Math.min(options.neighbours ?? DEFAULT_NEIGHBOURS, count - 1);
  const graph = knnGraph(reduced, count, basis.outputDim, k, { seed: options.seed, onProgress: (done, total) => progress('neighbours', done, total) });
  const edges = fuzzyEdges(graph, count);
  const layout = initialLayout(reduced, count, basis.outputDim);
  const epochs = options.epochs ?? LAYOUT_EPOCHS;
  optimiseLayout(layout, count, edges, { epochs, seed: options.seed, onEpoch: (epoch) => epoch % 10 === 0 && progress('layout', epoch, epochs) });
  return normaliseLayout(layout, count);
}

function evenlySpaced(count: number, wanted: number): number[] {
  return Array.from({ length: wanted }, (_, i) => Math.floor((i * count) / wanted));
}

/** Into [0, 1] on the longer axis, centred on the shorter one. */
export function normaliseLayout(layout: Float32Array, count: number): Float32Array {
  const min = [Infinity, Infinity];
  const max = [-Infinity, -Infinity];
  for (let i = 0; i < count; i++) {
    for (let axis = 0; axis < 2; axis++) {
      min[axis] = Math.min(min[axis], layout[i * 2 + axis]);
      max[axis] = Math.max(max[axis], layout[i * 2 + axis]);
    }
  }
  const extent = Math.max(max[0] - min[0], max[1] - min[1]) || 1;
  const out = new Float32Array(count * 2);
  for (let i = 0; i < count; i++) {
    for (let axis = 0; axis < 2; axis++) {
      const margin = (extent - (max[axis] - min[axis])) / 2;
      out[i * 2 + axis] = (layout[i * 2 + axis] - min[axis] + margin) / extent;
    }
  }
  return out;
}
