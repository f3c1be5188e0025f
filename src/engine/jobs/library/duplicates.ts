import type { DuplicateGroup, DuplicatesResult } from '../../../shared/api.js';
import { invalidInput } from '../../../shared/errors.js';
import { allNearest } from '../../ml/curation/block-knn.js';
import { nearWithin } from '../../ml/curation/near-pairs.js';
import { loadOnnxRuntime } from '../../ml/backbone/onnx-backbone.js';
import type { VectorIndex } from '../../store/search.js';
import type { Store } from '../../store/store.js';

/** Largest distance the slider offers: beyond it photos are alike, not copies. */
export const MAX_DUPLICATE_DISTANCE = 0.6;
/** Neighbours asked of the index per photo: a group larger than this still joins up through its members. */
const NEIGHBOURS = 8;
const PAGE = 256;
/** From this many photos pairs come by blocks (below, the per-photo queries take a second or two). */
const BLOCKS_FROM = 2_000;
/** Slider positions whose group counts are sent along, so the count follows the slider without a call. */
const STEPS = 60;

export interface DuplicateEdges {
  modelId: number;
  /** Pairs (a < b) closer than MAX_DUPLICATE_DISTANCE, with their distance. */
  a: Int32Array;
  b: Int32Array;
  distance: Float32Array;
  /** Values per vector the blocks were compared on (the vectors' own length, or a projection's). */
  comparedDim?: number;
}

/**
 * How close pairs are found: `blocks` (blocks of vectors against blocks on ONNX Runtime, only the
 * pairs within MAX_DUPLICATE_DISTANCE: near-pairs.ts), `queries` (one search-index query per
 * photo), `blocks-topk` (every photo's nearest by TopK over each block pair: block-knn.ts, the
 * finder before near-pairs.ts, about 5× slower; kept for the bench's comparison).
 */
export type EdgeSearch = 'blocks' | 'queries' | 'blocks-topk';

/**
 * Close pairs: each photo's few nearest neighbours within MAX_DUPLICATE_DISTANCE among the stored
 * vectors, by blocks, else (ONNX Runtime missing, or a small library) by one search-index query per
 * photo. Only the projection sample and a block's vectors are held besides the projected vectors.
 */
export async function duplicateEdges(store: Store, modelId: number, onProgress?: (done: number, total: number) => void, options: { via?: EdgeSearch; block?: number } = {}): Promise<DuplicateEdges> {
  const model = store.model(modelId);
  if (!model) throw invalidInput(`no model ${modelId}`);
  const index = store.vectorIndex(model.id, model.dim);
  const ids = store.embeddedPhotoIds(modelId);
  const via = options.via ?? (ids.length >= BLOCKS_FROM && (await onnxRuntimeLoads()) ? 'blocks' : 'queries');
  const { pairs, comparedDim } = via === 'queries' ? { pairs: await pairsByQueries(index, ids, onProgress), comparedDim: undefined } : await pairsByBlocks(index, ids, via === 'blocks-topk', onProgress, options.block);
  const sorted = [...pairs.values()].sort((x, y) => x.distance - y.distance);
  return {
    modelId,
    a: Int32Array.from(sorted, (p) => p.a),
    b: Int32Array.from(sorted, (p) => p.b),
    distance: Float32Array.from(sorted, (p) => p.distance),
    comparedDim,
  };
}

type Pairs = Map<string, { a: number; b: number; distance: number }>;

function addPair(pairs: Pairs, id: number, other: number, distance: number): void {
  if (other === id || distance > MAX_DUPLICATE_DISTANCE) return;
  const [a, b] = id < other ? [id, other] : [other, id];
  pairs.set(`${a}:${b}`, { a, b, distance });
}

/** One k-NN query per photo (about 9 ms each at 100k rows: 15 minutes there). */
async function pairsByQueries(index: VectorIndex, ids: number[], onProgress?: (done: number, total: number) => void): Promise<Pairs> {
  const pairs: Pairs = new Map();
  for (let start = 0; start < ids.length; start += PAGE) {
    for (const { id, vector } of index.vectors(ids.slice(start, start + PAGE))) {
      for (const hit of index.knn(vector, NEIGHBOURS + 1)) addPair(pairs, id, hit.id, hit.distance);
    }
    onProgress?.(Math.min(start + PAGE, ids.length), ids.length);
    await new Promise((resolve) => setImmediate(resolve)); // let calls in between pages
  }
  return pairs;
}

async function pairsByBlocks(index: VectorIndex, ids: number[], topk: boolean, onProgress?: (done: number, total: number) => void, block?: number): Promise<{ pairs: Pairs; comparedDim: number }> {
  const read = (start: number, end: number) => {
    const rows = new Float32Array((end - start) * index.dim);
    const position = new Map(ids.slice(start, end).map((id, i) => [id, i]));
    for (const { id, vector } of index.vectors(ids.slice(start, end))) rows.set(vector, position.get(id)! * index.dim);
    return rows;
  };
  const nearest = topk
    ? { ...(await allNearest(ids.length, index.dim, NEIGHBOURS, read, { onProgress, block })), projectedDim: index.dim }
    : await nearWithin(ids.length, index.dim, NEIGHBOURS, MAX_DUPLICATE_DISTANCE, read, { onProgress, block });
  const comparedDim = nearest.projectedDim;
  const pairs: Pairs = new Map();
  for (let i = 0; i < ids.length; i++) {
    for (let n = 0; n < NEIGHBOURS; n++) {
      const other = nearest.index[i * NEIGHBOURS + n];
      if (other >= 0) addPair(pairs, ids[i], ids[other], nearest.distance[i * NEIGHBOURS + n]);
    }
  }
  return { pairs, comparedDim };
}

async function onnxRuntimeLoads(): Promise<boolean> {
  return loadOnnxRuntime().then(
    () => true,
    () => false,
  );
}

/** Photo groups joined by pairs within `threshold` (union-find), and exact copies (same content hash) whatever the threshold. */
export function groupDuplicates(store: Store, libraryId: number, edges: DuplicateEdges, threshold: number): DuplicatesResult {
  if (!(Number.isFinite(threshold) && threshold >= 0 && threshold <= MAX_DUPLICATE_DISTANCE)) {
    throw invalidInput(`the threshold must be between 0 and ${MAX_DUPLICATE_DISTANCE} (got ${threshold})`);
  }
  const copies = store.exactCopyGroups(libraryId);
  const groups = unite(edges, threshold, copies);
  const hashOf = new Map<number, string>();
  const photos = new Map<number, { path: string; className: string | null; hash: string; size: number }>();
  for (const members of groups) {
    for (const id of members) {
      const photo = store.photo(id);
      if (photo && photo.libraryId === libraryId) {
        photos.set(id, { path: photo.relPath, className: photo.className, hash: photo.hash, size: photo.size });
        hashOf.set(id, photo.hash);
      }
    }
  }
  const distances = pairDistances(edges, threshold);
  const result: DuplicateGroup[] = [];
  for (const members of groups) {
    // First (the one the view proposes to keep): the largest file (a resized, re-encoded copy is smaller), then the shortest path.
    const present = members.filter((id) => photos.has(id)).sort((x, y) => keepOrder(photos.get(x)!, photos.get(y)!));
    if (present.length < 2) continue;
    const first = present[0];
    const hashCounts = new Map<string, number>();
    for (const id of present) hashCounts.set(hashOf.get(id)!, (hashCounts.get(hashOf.get(id)!) ?? 0) + 1);
    result.push({
      photos: present.map((id) => ({
        photoId: id,
        path: photos.get(id)!.path,
        className: photos.get(id)!.className,
        exactCopy: (hashCounts.get(hashOf.get(id)!) ?? 0) > 1,
        distance: id === first ? 0 : hashOf.get(id) === hashOf.get(first) ? 0 : (distances.get(key(first, id)) ?? null),
      })),
      exact: hashCounts.size === 1,
    });
  }
  // Closest groups first (exact copies, then the tightest near copies); bigger groups first among equals.
  const spread = new Map(result.map((g) => [g, groupSpread(g.photos.map((p) => p.photoId), hashOf, distances)]));
  result.sort((x, y) => spread.get(x)! - spread.get(y)! || y.photos.length - x.photos.length || x.photos[0].path.localeCompare(y.photos[0].path));
  return { threshold, maxThreshold: MAX_DUPLICATE_DISTANCE, modelId: edges.modelId, groups: result, groupCounts: groupCounts(edges, copies) };
}

function unite(edges: DuplicateEdges, threshold: number, copies: number[][]): number[][] {
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let root = x;
    while (parent.has(root) && parent.get(root) !== root) root = parent.get(root)!;
    parent.set(x, root);
    return root;
  };
  const join = (x: number, y: number) => {
    const [rx, ry] = [find(x), find(y)];
    if (rx !== ry) parent.set(rx, ry);
  };
  for (const group of copies) for (const id of group.slice(1)) join(group[0], id);
  for (let i = 0; i < edges.a.length && edges.distance[i] <= threshold; i++) join(edges.a[i], edges.b[i]);
  const groups = new Map<number, number[]>();
  for (const id of parent.keys()) {
    const root = find(id);
    groups.set(root, [...(groups.get(root) ?? []), id]);
  }
  return [...groups.values()].filter((g) => g.length > 1);
}

/** The number of groups at each slider step, computed once from the sorted pairs. */
function groupCounts(edges: DuplicateEdges, copies: number[][]): Array<{ threshold: number; groups: number }> {
  const counts: Array<{ threshold: number; groups: number }> = [];
  for (let step = 0; step <= STEPS; step++) {
    const threshold = Math.round(((MAX_DUPLICATE_DISTANCE * step) / STEPS) * 1000) / 1000;
    counts.push({ threshold, groups: unite(edges, threshold, copies).length });
  }
  return counts;
}

const keepOrder = (x: { path: string; size: number }, y: { path: string; size: number }) => y.size - x.size || x.path.length - y.path.length || x.path.localeCompare(y.path);

const key = (x: number, y: number) => (x < y ? `${x}:${y}` : `${y}:${x}`);

/** How far apart a group's members are: its largest joining distance (0 for copies of one content). */
function groupSpread(members: number[], hashOf: Map<number, string>, distances: Map<string, number>): number {
  let spread = 0;
  for (let i = 0; i < members.length; i++) {
    for (let j = i + 1; j < members.length; j++) {
      if (hashOf.get(members[i]) === hashOf.get(members[j])) continue;
      spread = Math.max(spread, distances.get(key(members[i], members[j])) ?? 0);
    }
  }
  return spread;
}

function pairDistances(edges: DuplicateEdges, threshold: number): Map<string, number> {
  const map = new Map<string, number>();
  for (let i = 0; i < edges.a.length && edges.distance[i] <= threshold; i++) map.set(key(edges.a[i], edges.b[i]), edges.distance[i]);
  return map;
}
