import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { createRng } from '../src/engine/common/rng.js';
import { openVectorIndex, QUANTISED_FROM, warmScanWorker, type VectorIndex, type VectorIndexOptions } from '../src/engine/store/search.js';
import { flag, percentile, printReport, type BenchReport } from './report.js';

const DIM = 128;
const CHUNK_ROWS = 10_000;
const TARGET_RECALL = 0.95;
/** The app's large-table engine. */
const MEMORY_ENGINE = 'int8-simd+rerank';
/** The one before it, the baseline. */
const SQLITE_ENGINE = 'sqlite-vec-int8-l1+rerank';
const oneCore = (engine: string) => `${engine} (1 core)`;
const TARGET_P50_MS = 20;
const DATA = ['uniform', 'clustered'] as const;
type Data = (typeof DATA)[number];
/** Clustered data: this many gaussian clusters, each point its centre plus noise of this spread per dimension relative to the centres', then scaled to length 1 as the app's embeddings are. */
const CLUSTERS = 1000;
const CLUSTER_SPREAD = 0.35;

type Row = Record<string, unknown>;
interface Faiss {
  python: string | null;
  reason: string;
}

/**
 * knn: seeded 128-d vectors, queries one at a time, on two kinds of data: `uniform` (uniform random
 * in [-1, 1)^128: no structure, the hard case for any index) and `clustered` (unit vectors in
 * gaussian clusters, as real embeddings are). Engines: `sqlite-vec` (the exact vec0 scan),
 * `int8-simd+rerank` (the app's large-table path, forced at every size here: int8 codes held in
 * memory, scanned by L2 with WebAssembly SIMD, half on a worker thread, candidates re-ranked by
 * exact float distance), `sqlite-vec-int8-l1+rerank` (the previous large-table path: int8 L1 scans
 * by sqlite-vec, the baseline), each also on one core, `bruteforce` (a scan over one Float32Array in
 * JS, also the reference answer), `faiss-flat` (IndexFlatL2) and `faiss-hnsw` (IndexHNSWFlat, M=32,
 * efSearch the smallest reaching the target recall on these queries) through python3. Recall
 * against the exact answer; memory: what the engine holds in memory (int8: its codes; bruteforce:
 * its array; faiss: resident memory the index added); p50 ratios against FAISS flat and brute force
 * from this same run.
 *   --sizes 10000,100000,1000000  --queries 200  --k 30  --data uniform,clustered  --no-faiss
 *   --hnsw-up-to N (build FAISS HNSW only up to N vectors: its build on 2 cores is the slow part)
 */
export async function run(args: string[]): Promise<BenchReport> {
  const sizes = flag(args, 'sizes', '10000,100000,1000000').split(',').map(Number);
  const queryCount = Number(flag(args, 'queries', '200'));
  const k = Number(flag(args, 'k', '30'));
  const kinds = flag(args, 'data', DATA.join(',')).split(',') as Data[];
  const faiss: Faiss = args.includes('--no-faiss') ? { python: null, reason: '--no-faiss' } : findFaiss();
  const hnswUpTo = Number(flag(args, 'hnsw-up-to', 'Infinity'));
  // As an app would at start-up: otherwise the first quantised queries scan on one core while it loads.
  if (!(await warmScanWorker())) progress('knn: the scan worker did not start; the quantised engines run on one core');
  const results: Row[] = [];
  for (const data of kinds) for (const n of sizes) results.push(...measureSize(n, data, queryCount, k, faiss, n <= hnswUpTo));
  return { bench: 'knn', results, notes: notesFor(results, k, faiss) };
}

function measureSize(n: number, data: Data, queryCount: number, k: number, faiss: Faiss, withHnsw: boolean): Row[] {
  const dir = mkdtempSync(join(tmpdir(), 'lookalike-bench-knn-'));
  try {
    progress(`knn: ${n} ${data} vectors, ${queryCount} queries, k = ${k}: generating`);
    const generate = data === 'uniform' ? seededVectors : clusteredVectors;
    const base = generate(n, 1, join(dir, 'base.f32'));
    const queries = generate(queryCount, 2, join(dir, 'queries.f32'));
    progress('  bruteforce (the reference answer)');
    const exact = bruteForceAll(base, queries, k);
    const rows: Row[] = [
      { engine: 'bruteforce', ...latency(exact.latencies), recall_at_k: 1, memory_mb: megabytes(base.byteLength) },
      ...sqliteEngine(join(dir, 'exact.db'), base, queries, k, exact.ids, { quantisedFrom: Infinity }),
      ...sqliteEngine(join(dir, 'int8.db'), base, queries, k, exact.ids, { quantisedFrom: 0 }),
      ...sqliteEngine(join(dir, 'int8-l1.db'), base, queries, k, exact.ids, { quantisedFrom: 0, candidateScan: 'sqlite' }),
      ...faissEngines(faiss, dir, k, exact.ids, withHnsw),
    ].map((row) => ({ n, data, ...row }));
    addRatios(rows);
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

const megabytes = (bytes: number) => Math.round(bytes / 2 ** 20);

/** n vectors uniform in [-1, 1), made CHUNK_ROWS at a time: into one Float32Array (brute force) and a raw file (FAISS). */
function seededVectors(n: number, seed: number, file: string): Float32Array {
  const rng = createRng(seed);
  return vectorsInChunks(n, file, (chunk) => {
    for (let i = 0; i < chunk.length; i++) chunk[i] = rng() * 2 - 1;
  });
}

/** n unit vectors, each a centre (the same CLUSTERS for base and queries) plus gaussian noise. */
function clusteredVectors(n: number, seed: number, file: string): Float32Array {
  const centreRng = createRng(7);
  const centres = Float32Array.from({ length: CLUSTERS * DIM }, () => gaussian(centreRng));
  const rng = createRng(seed);
  return vectorsInChunks(n, file, (chunk) => {
    for (let offset = 0; offset < chunk.length; offset += DIM) {
      const centre = Math.floor(rng() * CLUSTERS) * DIM;
      let norm = 0;
      for (let j = 0; j < DIM; j++) {
        chunk[offset + j] = centres[centre + j] + CLUSTER_SPREAD * gaussian(rng);
        norm += chunk[offset + j] ** 2;
      }
      for (let j = 0; j < DIM; j++) chunk[offset + j] /= Math.sqrt(norm);
    }
  });
}

function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

function vectorsInChunks(n: number, file: string, fill: (chunk: Float32Array) => void): Float32Array {
  const all = new Float32Array(n * DIM);
  const fd = openSync(file, 'w');
  try {
    for (let start = 0; start < n; start += CHUNK_ROWS) {
      const chunk = all.subarray(start * DIM, Math.min(n, start + CHUNK_ROWS) * DIM);
      fill(chunk);
      writeSync(fd, new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
  } finally {
    closeSync(fd);
  }
  return all;
}

const vectorAt = (all: Float32Array, i: number) => all.subarray(i * DIM, (i + 1) * DIM);

function latency(ms: number[]) {
  const sorted = [...ms].sort((a, b) => a - b);
  return { p50_ms: percentile(sorted, 50), p95_ms: percentile(sorted, 95) };
}

function recall(found: number[][], truth: number[][]): number {
  let hits = 0;
  for (let q = 0; q < truth.length; q++) {
    const expected = new Set(truth[q]);
    hits += found[q].filter((id) => expected.has(id)).length;
  }
  return hits / truth.reduce((sum, ids) => sum + ids.length, 0);
}

/** Exact k nearest by a scan over the Float32Array; ids are 1-based like the tables' rowids. */
function bruteForceAll(base: Float32Array, queries: Float32Array, k: number) {
  const n = base.length / DIM;
  const ids: number[][] = [];
  const latencies: number[] = [];
  for (let q = 0; q < queries.length / DIM; q++) {
    const query = vectorAt(queries, q);
    const started = performance.now();
    const nearest = new NearestK(k);
    for (let i = 0; i < n; i++) nearest.offer(i + 1, squaredDistance(base, i * DIM, query));
    ids.push(nearest.ids());
    latencies.push(performance.now() - started);
  }
  return { ids, latencies };
}

function squaredDistance(base: Float32Array, offset: number, query: Float32Array): number {
  // Four running sums: one long chain of dependent additions would bound the loop by add latency.
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let j = 0; j < DIM; j += 4) {
    const d0 = base[offset + j] - query[j];
    const d1 = base[offset + j + 1] - query[j + 1];
    const d2 = base[offset + j + 2] - query[j + 2];
    const d3 = base[offset + j + 3] - query[j + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  return s0 + s1 + s2 + s3;
}

/** The k smallest (distance, id) offered, kept sorted; ids arrive ascending, so equal distances keep id order. */
class NearestK {
  private readonly distances: number[] = [];
  private readonly found: number[] = [];
  constructor(private readonly k: number) {}

  offer(id: number, distance: number): void {
    const full = this.found.length === this.k;
    if (full && distance >= this.distances[this.k - 1]) return;
    let at = full ? this.k - 1 : this.found.length;
    while (at > 0 && this.distances[at - 1] > distance) {
      this.distances[at] = this.distances[at - 1];
      this.found[at] = this.found[at - 1];
      at--;
    }
    this.distances[at] = distance;
    this.found[at] = id;
  }

  ids(): number[] {
    return [...this.found];
  }
}

/** The app's VectorIndex on a file of its own: insert rate and file size, then one query at a time (the quantised index also without its worker). */
function sqliteEngine(path: string, base: Float32Array, queries: Float32Array, k: number, truth: number[][], options: VectorIndexOptions): Row[] {
  const engine = options.quantisedFrom === Infinity ? 'sqlite-vec' : options.candidateScan === 'sqlite' ? SQLITE_ENGINE : MEMORY_ENGINE;
  const db = new BetterSqlite3(path);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL'); // as the app's Store opens it
    const index = openVectorIndex(db, 'vectors', DIM, options);
    const n = base.length / DIM;
    progress(`  ${engine}: inserting`);
    const started = performance.now();
    for (let start = 0; start < n; start += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, n - start);
      index.upsert(Array.from({ length: rows }, (_, i) => ({ id: start + i + 1, vector: vectorAt(base, start + i) })));
    }
    const built = { insert_rows_per_s: Math.round(n / ((performance.now() - started) / 1000)) };
    db.pragma('wal_checkpoint(TRUNCATE)');
    const stored = { db_mb: megabytes(statSync(path).size) };
    // The in-memory codes load on the first query: timed apart, as the app pays it once per start.
    const loadStarted = performance.now();
    index.knn(vectorAt(queries, 0), k);
    const loaded = engine === MEMORY_ENGINE ? { load_s: (performance.now() - loadStarted) / 1000 } : {};
    const held = () => ({ memory_mb: megabytes(index.memoryBytes()) });
    const rows: Row[] = [{ engine, ...timeQueries(engine, index, queries, k, truth), ...held(), ...stored, ...built, ...loaded }];
    if (engine !== 'sqlite-vec') {
      const single = openVectorIndex(db, 'vectors', DIM, { ...options, secondCore: false });
      single.knn(vectorAt(queries, 0), k);
      rows.push({ engine: oneCore(engine), ...timeQueries(oneCore(engine), single, queries, k, truth), memory_mb: megabytes(single.memoryBytes()), ...stored });
    }
    return rows;
  } finally {
    db.close();
  }
}

function timeQueries(engine: string, index: VectorIndex, queries: Float32Array, k: number, truth: number[][]) {
  progress(`  ${engine}: querying`);
  const latencies: number[] = [];
  const found: number[][] = [];
  for (let q = 0; q < queries.length / DIM; q++) {
    const t = performance.now();
    found.push(index.knn(vectorAt(queries, q), k).map((hit) => hit.id));
    latencies.push(performance.now() - t);
  }
  return { ...latency(latencies), recall_at_k: recall(found, truth) };
}

/** IndexFlatL2 and IndexHNSWFlat in python3 over the same files; it times its own queries (one at a time). */
function faissEngines(faiss: Faiss, dir: string, k: number, truth: number[][], withHnsw: boolean): Row[] {
  if (!faiss.python) return [{ engine: 'faiss-flat', skipped: faiss.reason }];
  progress(`  faiss flat${withHnsw ? ' and hnsw' : ''}: building and querying`);
  const script = resolve(import.meta.dirname, 'faiss_knn.py');
  const prefix = join(dir, 'faiss');
  const out = spawnSync(faiss.python, [script, join(dir, 'base.f32'), join(dir, 'queries.f32'), String(DIM), String(k), prefix, String(TARGET_RECALL), withHnsw ? '1' : '0'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (out.status !== 0) return [{ engine: 'faiss-flat', skipped: `faiss_knn.py failed: ${out.stderr.trim().split('\n').at(-1)}` }];
  type Peer = { latencies_ms: number[]; build_s: number; rss_delta_mb: number; ef_search?: number };
  const report = JSON.parse(out.stdout) as { flat: Peer; hnsw?: Peer };
  const skipped: Row[] = withHnsw ? [] : [{ engine: 'faiss-hnsw', skipped: 'not built at this size (--hnsw-up-to)' }];
  const peers = (['flat', 'hnsw'] as const).flatMap((kind) => {
    const peer = report[kind];
    if (!peer) return [];
    const raw = new BigInt64Array(new Uint8Array(readFileSync(`${prefix}.${kind}.i64`)).buffer);
    const found = truth.map((_, q) => Array.from(raw.subarray(q * k, (q + 1) * k), (id) => Number(id) + 1));
    const { latencies_ms: latencies, build_s: buildSeconds, rss_delta_mb: rss, ef_search: efSearch } = peer;
    return [{
      engine: `faiss-${kind}`,
      ...latency(latencies),
      recall_at_k: recall(found, truth),
      memory_mb: Math.round(rss),
      build_s: buildSeconds,
      ...(efSearch === undefined ? {} : { ef_search: efSearch }),
    }];
  });
  return [...peers, ...skipped];
}

function addRatios(rows: Row[]): void {
  const p50 = (engine: string) => rows.find((r) => r.engine === engine)?.p50_ms as number | undefined;
  const faiss = p50('faiss-flat');
  const bruteforce = p50('bruteforce')!;
  for (const row of rows) {
    if (row.p50_ms === undefined) continue;
    row.p50_ratio_vs_faiss_flat = faiss ? (row.p50_ms as number) / faiss : null;
    row.p50_ratio_vs_bruteforce = (row.p50_ms as number) / bruteforce;
  }
}

function notesFor(results: Row[], k: number, faiss: Faiss): string[] {
  const notes = [`the app switches to ${MEMORY_ENGINE} from ${QUANTISED_FROM} rows; below that it runs the exact sqlite-vec scan`];
  if (!faiss.python) notes.push(`faiss skipped: ${faiss.reason}`);
  for (const row of results.filter((r) => r.engine === MEMORY_ENGINE && r.n === 1_000_000)) {
    const met = (row.p50_ms as number) <= TARGET_P50_MS && (row.recall_at_k as number) >= TARGET_RECALL;
    notes.push(
      `${MEMORY_ENGINE} at 1M ${row.data}: target (p50 <= ${TARGET_P50_MS} ms, recall@${k} >= ${TARGET_RECALL}) ${met ? 'met' : 'missed'}: ${(row.p50_ms as number).toFixed(1)} ms, recall ${(row.recall_at_k as number).toFixed(3)}`,
    );
  }
  return notes;
}

/** Debian's python3-faiss lives with the system python, which may not be the first python3 on PATH. */
function findFaiss(): Faiss {
  for (const python of ['python3', '/usr/bin/python3']) {
    if (spawnSync(python, ['-c', 'import faiss, numpy'], { encoding: 'utf8' }).status === 0) return { python, reason: '' };
  }
  return { python: null, reason: 'python3 cannot import faiss and numpy (Debian: apt-get install python3-faiss)' };
}

if (import.meta.url === `file://${process.argv[1]}`) printReport(await run(process.argv.slice(2)), process.argv.includes('--json'));
