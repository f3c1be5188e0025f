import { createRng, randomInt, type Rng } from '../../common/rng.js';

/** Each point's k nearest others: positions at [i·k + j] (−1: none), squared distances beside them, nearest first. */
export interface KnnGraph {
  k: number;
  index: Int32Array;
  distance: Float32Array;
}

export interface KnnGraphOptions {
  seed?: number;
  /** Up to this many points every pair is compared (exact). */
  exactUpTo?: number;
  trees?: number;
  leafSize?: number;
  /** Rounds of "neighbours of neighbours" after the trees. */
  rounds?: number;
  onProgress?: (done: number, total: number) => void;
}

const DEFAULTS = { seed: 7, exactUpTo: 4000, trees: 8, leafSize: 48, rounds: 4 };

/**
 * The k-nearest-neighbour graph of `count` points of `dim` values: exact for small sets; else
 * candidates from the leaves of random-projection trees, refined by NN-descent (a neighbour's
 * neighbour is likely a neighbour), as UMAP's own index does. Cost ~ count · (trees·leaf + rounds·k²) · dim.
 */
export function knnGraph(points: Float32Array, count: number, dim: number, k: number, options: KnnGraphOptions = {}): KnnGraph {
  const { seed, exactUpTo, trees, leafSize, rounds } = { ...DEFAULTS, ...options };
  const best = new NearestLists(count, k);
  const distance = (a: number, b: number) => squaredDistance(points, a, b, dim);
  if (count <= exactUpTo) {
    for (let a = 0; a < count; a++) {
      for (let b = a + 1; b < count; b++) {
        const d = distance(a, b);
        best.offer(a, b, d);
        best.offer(b, a, d);
      }
      if (a % 256 === 0) options.onProgress?.(a, count);
    }
    return best.graph();
  }
  const rng = createRng(seed);
  const steps = trees + rounds;
  for (let t = 0; t < trees; t++) {
    for (const leaf of treeLeaves(points, count, dim, leafSize, rng)) {
      for (let i = 0; i < leaf.length; i++) {
        for (let j = i + 1; j < leaf.length; j++) {
          const d = distance(leaf[i], leaf[j]);
          best.offer(leaf[i], leaf[j], d);
          best.offer(leaf[j], leaf[i], d);
        }
      }
    }
    options.onProgress?.(t + 1, steps);
  }
  for (let round = 0; round < rounds; round++) {
    const changes = descend(best, count, k, distance);
    options.onProgress?.(trees + round + 1, steps);
    if (changes < count * k * 0.001) break;
  }
  return best.graph();
}

/**
 * One NN-descent round (Dong et al.): for each point, its neighbours and the points that have it as
 * a neighbour (up to k of each) are compared pairwise, but only pairs with one member new since the
 * last round: old pairs were compared then. Returns how many lists changed.
 */
function descend(best: NearestLists, count: number, k: number, distance: (a: number, b: number) => number): number {
  // Per point: new candidates in [0, 2k), old in [2k, 4k): its k neighbours, then up to k points that have it as one.
  const room = 2 * k;
  const lists = new Int32Array(count * 2 * room).fill(-1);
  const sizes = new Int32Array(count * 2);
  const add = (point: number, other: number, fresh: boolean) => {
    const slot = point * 2 + (fresh ? 0 : 1);
    if (sizes[slot] < room) lists[point * 2 * room + (fresh ? 0 : room) + sizes[slot]++] = other;
  };
  for (let i = 0; i < count; i++) {
    for (let x = 0; x < k; x++) {
      const a = best.index[i * k + x];
      if (a >= 0) add(i, a, best.fresh[i * k + x] === 1);
    }
  }
  for (let i = 0; i < count; i++) {
    for (let x = 0; x < k; x++) {
      const a = best.index[i * k + x];
      if (a >= 0) add(a, i, best.fresh[i * k + x] === 1);
    }
  }
  best.fresh.fill(0);
  let changes = 0;
  const join = (a: number, b: number) => {
    if (a === b) return;
    const d = distance(a, b);
    if (best.offer(a, b, d)) changes++;
    if (best.offer(b, a, d)) changes++;
  };
  for (let i = 0; i < count; i++) {
    const base = i * 2 * room;
    const fresh = sizes[i * 2];
    const old = sizes[i * 2 + 1];
    for (let x = 0; x < fresh; x++) {
      const a = lists[base + x];
      for (let y = x + 1; y < fresh; y++) join(a, lists[base + y]);
      for (let y = 0; y < old; y++) join(a, lists[base + room + y]);
    }
  }
  return changes;
}

/** The leaves of one random-projection tree: each split by the hyperplane halfway between two random points. */
function treeLeaves(points: Float32Array, count: number, dim: number, leafSize: number, rng: Rng): Int32Array[] {
  const leaves: Int32Array[] = [];
  const stack: Int32Array[] = [Int32Array.from({ length: count }, (_, i) => i)];
  const normal = new Float32Array(dim);
  while (stack.length > 0) {
    const members = stack.pop()!;
    if (members.length <= leafSize) {
      leaves.push(members);
      continue;
    }
    const a = members[randomInt(rng, members.length)];
    let b = members[randomInt(rng, members.length)];
    for (let tries = 0; b === a && tries < 8; tries++) b = members[randomInt(rng, members.length)];
    let offset = 0;
    for (let d = 0; d < dim; d++) {
      normal[d] = points[a * dim + d] - points[b * dim + d];
      offset += (normal[d] * (points[a * dim + d] + points[b * dim + d])) / 2;
    }
    const side = new Uint8Array(members.length);
    let left = 0;
    for (let m = 0; m < members.length; m++) {
      let projection = 0;
      const base = members[m] * dim;
      for (let d = 0; d < dim; d++) projection += normal[d] * points[base + d];
      const goesLeft = projection < offset || (projection === offset && rng() < 0.5);
      side[m] = goesLeft ? 1 : 0;
      if (goesLeft) left++;
    }
    // Identical points (or an unlucky pair) give one empty side: split at random instead.
    if (left === 0 || left === members.length) {
      left = 0;
      for (let m = 0; m < members.length; m++) left += side[m] = rng() < 0.5 ? 1 : 0;
    }
    const leftMembers = new Int32Array(left);
    const rightMembers = new Int32Array(members.length - left);
    let l = 0;
    let r = 0;
    for (let m = 0; m < members.length; m++) {
      if (side[m]) leftMembers[l++] = members[m];
      else rightMembers[r++] = members[m];
    }
    stack.push(leftMembers, rightMembers);
  }
  return leaves;
}

function squaredDistance(points: Float32Array, a: number, b: number, dim: number): number {
  let sum = 0;
  const pa = a * dim;
  const pb = b * dim;
  for (let d = 0; d < dim; d++) {
    const diff = points[pa + d] - points[pb + d];
    sum += diff * diff;
  }
  return sum;
}

/** Per point, its k best so far, kept sorted (k is small: insertion beats a heap). */
class NearestLists {
  readonly index: Int32Array;
  readonly distance: Float32Array;
  /** 1 for an entry that joined since the last NN-descent round. */
  readonly fresh: Uint8Array;

  constructor(
    count: number,
    private readonly k: number,
  ) {
    this.index = new Int32Array(count * k).fill(-1);
    this.distance = new Float32Array(count * k).fill(Infinity);
    this.fresh = new Uint8Array(count * k);
  }

  /** True when `other` joined the list of `point`. */
  offer(point: number, other: number, d: number): boolean {
    const { k, index, distance, fresh } = this;
    const base = point * k;
    if (d >= distance[base + k - 1]) return false;
    for (let j = 0; j < k; j++) if (index[base + j] === other) return false;
    let at = k - 1;
    while (at > 0 && distance[base + at - 1] > d) {
      distance[base + at] = distance[base + at - 1];
      index[base + at] = index[base + at - 1];
      fresh[base + at] = fresh[base + at - 1];
      at--;
    }
    distance[base + at] = d;
    index[base + at] = other;
    fresh[base + at] = 1;
    return true;
  }

  graph(): KnnGraph {
    return { k: this.k, index: this.index, distance: this.distance };
  }
}
