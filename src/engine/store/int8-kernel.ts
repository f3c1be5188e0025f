/**
 * The int8 scan of the in-memory search codes as a WebAssembly SIMD function, written out byte by
 * byte (no toolchain): V8 compiles it to 128-bit SSE, about 10× a JS loop over an Int8Array.
 *
 *   l2(codes, count, stride, query, out): for each of `count` codes of `stride` bytes from `codes`,
 *   Σ (code[j] − query[j])² as an int32 into out[i]; `query` holds the query as `stride` int16s.
 *
 * Every address is a byte offset into the memory the instance imports as env.memory (shared, so that
 * a worker thread can scan the other half of the same codes). `stride` must be a multiple of 16
 * (codes padded with zeros, which add nothing where the query is padded with zeros too).
 */

export const KERNEL_LANES = 16;

const I32 = 0x7f;
const V128 = 0x7b;
const uleb = (value: number): number[] => {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
};
const name = (text: string) => [...uleb(text.length), ...Buffer.from(text, 'utf8')];
const vector = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, bytes: number[]) => [id, ...uleb(bytes.length), ...bytes];
const simd = (op: number) => [0xfd, ...uleb(op)];
const get = (local: number) => [0x20, local];
const set = (local: number) => [0x21, local];
const tee = (local: number) => [0x22, local];
const i32 = (value: number) => [0x41, ...uleb(value)];
const v128Load = (offset: number) => [...simd(0x00), 4, ...uleb(offset)];
const I32_ADD = 0x6a;
const I32_MUL = 0x6c;
const I32_SHL = 0x74;
const I32_LT_U = 0x49;
const I32_GE_U = 0x4f;
const BR = 0x0c;
const BR_IF = 0x0d;
const BLOCK = 0x02;
const LOOP = 0x03;
const END = 0x0b;
const EMPTY = 0x40;
const I32_STORE = [0x36, 2, 0];
const I16X8_EXTEND_LOW_I8X16_S = 0x87;
const I16X8_EXTEND_HIGH_I8X16_S = 0x88;
const I16X8_SUB = 0x91;
const I32X4_DOT_I16X8_S = 0xba;
const I32X4_ADD = 0xae;
const I32X4_EXTRACT_LANE = 0x1b;
const V128_CONST = 0x0c;

// Parameters, then locals.
const CODES = 0;
const COUNT = 1;
const STRIDE = 2;
const QUERY = 3;
const OUT = 4;
const END_OF_CODES = 5;
const COLUMN = 6;
const SUM = 7;
const CODE = 8;
const DIFFERENCE = 9;
const QUERY_AT = 10;

/** Eight of the sixteen bytes: widened to int16, minus the query's eight, squared and summed in pairs into SUM. */
const halfLane = (widen: number, queryOffset: number) => [
  ...get(CODE), ...simd(widen), ...get(QUERY_AT), ...v128Load(queryOffset), ...simd(I16X8_SUB),
  ...tee(DIFFERENCE), ...get(DIFFERENCE), ...simd(I32X4_DOT_I16X8_S), ...get(SUM), ...simd(I32X4_ADD), ...set(SUM),
];
const laneSum = [0, 1, 2, 3].flatMap((lane) => [...get(SUM), ...simd(I32X4_EXTRACT_LANE), lane, ...(lane > 0 ? [I32_ADD] : [])]);

const body = [
  ...get(CODES), ...get(COUNT), ...get(STRIDE), I32_MUL, I32_ADD, ...set(END_OF_CODES),
  BLOCK, EMPTY, LOOP, EMPTY,
  ...get(CODES), ...get(END_OF_CODES), I32_GE_U, BR_IF, 1,
  ...simd(V128_CONST), ...new Array<number>(16).fill(0), ...set(SUM),
  ...i32(0), ...set(COLUMN),
  LOOP, EMPTY,
  ...get(CODES), ...get(COLUMN), I32_ADD, ...v128Load(0), ...set(CODE),
  ...get(QUERY), ...get(COLUMN), ...i32(1), I32_SHL, I32_ADD, ...set(QUERY_AT),
  ...halfLane(I16X8_EXTEND_LOW_I8X16_S, 0),
  ...halfLane(I16X8_EXTEND_HIGH_I8X16_S, 16),
  ...get(COLUMN), ...i32(KERNEL_LANES), I32_ADD, ...tee(COLUMN), ...get(STRIDE), I32_LT_U, BR_IF, 0,
  END,
  ...get(OUT), ...laneSum, ...I32_STORE,
  ...get(OUT), ...i32(4), I32_ADD, ...set(OUT),
  ...get(CODES), ...get(STRIDE), I32_ADD, ...set(CODES),
  BR, 0,
  END, END, END,
];
const code = [...vector([[2, I32], [3, V128], [1, I32]]), ...body];
/** Most pages the shared memory may grow to (4 GiB: the whole 32-bit address space). */
export const MAX_PAGES = 65536;
export const PAGE_BYTES = 65536;

const moduleBytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
  ...section(1, vector([[0x60, ...vector([[I32], [I32], [I32], [I32], [I32]]), 0]])),
  ...section(2, vector([[...name('env'), ...name('memory'), 0x02, 0x03, ...uleb(1), ...uleb(MAX_PAGES)]])),
  ...section(3, vector([[0]])),
  ...section(7, vector([[...name('l2'), 0x00, 0]])),
  ...section(10, vector([[...uleb(code.length), ...code]])),
]);

let compiled: WebAssembly.Module | undefined;

export type L2Kernel = (codes: number, count: number, stride: number, query: number, out: number) => void;

/** The kernel bound to `memory` (compiled once per thread, instantiated per memory). */
export function int8L2Kernel(memory: WebAssembly.Memory): L2Kernel {
  compiled ??= new WebAssembly.Module(moduleBytes);
  const instance = new WebAssembly.Instance(compiled, { env: { memory } });
  return instance.exports.l2 as L2Kernel;
}

/** A shared memory of at least `bytes`, growable up to 4 GiB. */
export function sharedMemory(bytes: number): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / PAGE_BYTES)), maximum: MAX_PAGES, shared: true });
}
