import { int8L2Kernel, KERNEL_LANES, sharedMemory, type L2Kernel } from './int8-kernel.js';

/** Where things lie in the shared memory (byte offsets): the query, then per slot its id (−1: free) and score, then the codes. */
export interface CodesLayout {
  stride: number;
  queryAt: number;
  idsAt: number;
  scoresAt: number;
  codesAt: number;
}

/** One thread's share of a scan: slots from..to−1, the `wanted` smallest scores among live slots. */
export interface ScanShare {
  memory: WebAssembly.Memory;
  /** Changes whenever the memory or its layout does, so a thread knows to bind its kernel again. */
  generation: number;
  layout: CodesLayout;
  from: number;
  to: number;
  wanted: number;
}

/** (slot, score) pairs, flat. */
export type SlotScores = Int32Array;

/** Hands a share to another thread; the function returned waits for its pairs (undefined: it failed, scan it here). */
export type Offload = (share: ScanShare) => (() => SlotScores | undefined) | undefined;

const FREE = -1;
const FIRST_CAPACITY = 1024;
let generations = 0;

/**
 * The int8 codes of a vector table held in one shared WebAssembly memory (dim bytes each, padded to
 * a multiple of 16): the candidate scan of a large knn reads them at memory speed with SIMD, half
 * on a worker thread. Slots of removed ids are reused; ids map to slots here.
 */
export class Int8Codes {
  readonly stride: number;
  private memory: WebAssembly.Memory;
  private kernel: L2Kernel;
  private layout: CodesLayout;
  private capacity = 0;
  private generation = 0;
  /** Slots handed out so far; live ones are those not in `free`. */
  private used = 0;
  private readonly slotOf = new Map<number, number>();
  private readonly free: number[] = [];

  constructor(readonly dim: number, expected = FIRST_CAPACITY) {
    this.stride = Math.ceil(dim / KERNEL_LANES) * KERNEL_LANES;
    this.layout = layoutFor(this.stride, Math.max(FIRST_CAPACITY, expected));
    this.memory = sharedMemory(bytesFor(this.layout, Math.max(FIRST_CAPACITY, expected)));
    this.kernel = int8L2Kernel(this.memory);
    this.capacity = Math.max(FIRST_CAPACITY, expected);
    this.generation = ++generations;
  }

  /** The shared memory's size (the id-to-slot map is on top: about 40 bytes a code). */
  get bytes(): number {
    return this.memory.buffer.byteLength;
  }

  get size(): number {
    return this.slotOf.size;
  }

  has(id: number): boolean {
    return this.slotOf.has(id);
  }

  set(id: number, code: Int8Array): void {
    if (code.length !== this.dim) throw new Error(`code for ${id} has ${code.length} values, the index holds ${this.dim}`);
    let slot = this.slotOf.get(id);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.nextSlot();
      this.slotOf.set(id, slot);
      this.ids()[slot] = id;
    }
    new Int8Array(this.memory.buffer, this.layout.codesAt + slot * this.stride, this.dim).set(code);
  }

  delete(id: number): void {
    const slot = this.slotOf.get(id);
    if (slot === undefined) return;
    this.slotOf.delete(id);
    this.ids()[slot] = FREE;
    this.free.push(slot);
  }

  /**
   * The `wanted` live codes nearest to `query` (an int8 code) by squared L2 over the codes, as
   * (id, score) pairs in no order. With `offload`, another thread scans the second half meanwhile.
   */
  nearest(query: Int8Array, wanted: number, offload?: Offload): Array<{ id: number; score: number }> {
    const query16 = new Int16Array(this.memory.buffer, this.layout.queryAt, this.stride);
    query16.fill(0);
    query16.set(query);
    const half = this.used >> 1;
    const share = (from: number, to: number): ScanShare => ({ memory: this.memory, generation: this.generation, layout: this.layout, from, to, wanted });
    const theirs = half > 0 ? offload?.(share(half, this.used)) : undefined;
    const pairs = [scanShare(this.kernel, share(0, theirs ? half : this.used))];
    if (theirs) pairs.push(theirs() ?? scanShare(this.kernel, share(half, this.used)));
    const ids = this.ids();
    const found: Array<{ id: number; score: number }> = [];
    for (const flat of pairs) for (let i = 0; i < flat.length; i += 2) found.push({ id: ids[flat[i]], score: flat[i + 1] });
    return found.sort((a, b) => a.score - b.score).slice(0, wanted);
  }

  private ids(): Int32Array {
    return new Int32Array(this.memory.buffer, this.layout.idsAt, this.capacity);
  }

  private nextSlot(): number {
    if (this.used === this.capacity) this.grow(this.capacity * 2);
    return this.used++;
  }

  /** A new memory twice the size (the layout moves), the slots copied over. */
  private grow(capacity: number): void {
    const layout = layoutFor(this.stride, capacity);
    const memory = sharedMemory(bytesFor(layout, capacity));
    new Int32Array(memory.buffer, layout.idsAt, this.used).set(new Int32Array(this.memory.buffer, this.layout.idsAt, this.used));
    const codeBytes = this.used * this.stride;
    new Int8Array(memory.buffer, layout.codesAt, codeBytes).set(new Int8Array(this.memory.buffer, this.layout.codesAt, codeBytes));
    this.memory = memory;
    this.layout = layout;
    this.capacity = capacity;
    this.kernel = int8L2Kernel(memory);
    this.generation = ++generations;
  }
}

function layoutFor(stride: number, capacity: number): CodesLayout {
  const align = (bytes: number) => Math.ceil(bytes / 64) * 64;
  const queryAt = 0;
  const idsAt = align(queryAt + 2 * stride);
  const scoresAt = align(idsAt + 4 * capacity);
  const codesAt = align(scoresAt + 4 * capacity);
  return { stride, queryAt, idsAt, scoresAt, codesAt };
}

const bytesFor = (layout: CodesLayout, capacity: number) => layout.codesAt + capacity * layout.stride;

/** Scans a share with `kernel` (bound to share.memory) and keeps its `wanted` smallest live scores. */
export function scanShare(kernel: L2Kernel, { memory, layout, from, to, wanted }: ScanShare): SlotScores {
  const { stride, queryAt, idsAt, scoresAt, codesAt } = layout;
  kernel(codesAt + from * stride, to - from, stride, queryAt, scoresAt + from * 4);
  const ids = new Int32Array(memory.buffer, idsAt + from * 4, to - from);
  const scores = new Int32Array(memory.buffer, scoresAt + from * 4, to - from);
  return smallest(scores, ids, wanted, from);
}

/** The `wanted` smallest scores whose id is live, as (offset + position, score) pairs: a bounded max-heap. */
function smallest(scores: Int32Array, ids: Int32Array, wanted: number, offset: number): SlotScores {
  const heapScore = new Int32Array(wanted);
  const heapSlot = new Int32Array(wanted);
  let size = 0;
  for (let i = 0; i < scores.length; i++) {
    const score = scores[i];
    if (size === wanted && score >= heapScore[0]) continue;
    if (ids[i] === FREE) continue;
    if (size < wanted) {
      // Sift up.
      let at = size++;
      while (at > 0) {
        const parent = (at - 1) >> 1;
        if (heapScore[parent] >= score) break;
        heapScore[at] = heapScore[parent];
        heapSlot[at] = heapSlot[parent];
        at = parent;
      }
      heapScore[at] = score;
      heapSlot[at] = i;
      continue;
    }
    // Replace the largest, sift down.
    let at = 0;
    for (;;) {
      const left = 2 * at + 1;
      if (left >= size) break;
      const child = left + 1 < size && heapScore[left + 1] > heapScore[left] ? left + 1 : left;
      if (heapScore[child] <= score) break;
      heapScore[at] = heapScore[child];
      heapSlot[at] = heapSlot[child];
      at = child;
    }
    heapScore[at] = score;
    heapSlot[at] = i;
  }
  const pairs = new Int32Array(2 * size);
  for (let i = 0; i < size; i++) {
    pairs[2 * i] = heapSlot[i] + offset;
    pairs[2 * i + 1] = heapScore[i];
  }
  return pairs;
}

/** For a worker thread: the kernel bound to the memory of the latest generation it was handed. */
export function kernelCache(): (share: ScanShare) => L2Kernel {
  let bound: { generation: number; kernel: L2Kernel } | undefined;
  return (share) => {
    if (bound?.generation !== share.generation) bound = { generation: share.generation, kernel: int8L2Kernel(share.memory) };
    return bound.kernel;
  };
}
