import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openVectorIndex } from '../src/engine/search.js';
import { createRng } from '../src/engine/rng.js';
import { flag, percentile, printReport, type BenchReport } from './report.js';

const DIM = 128;

/**
 * knn: seeded random 128-d vectors; 200 queries one at a time, k = 30. Engines: `sqlite-vec` (the
 * app's exact vec0 search), `sqlite-vec-int8+rerank` (int8 vec0 scan for candidates, exact float
 * re-rank; an experiment, not what the app ships), `bruteforce` (a scan over one Float32Array in JS)
 * and `faiss` (IndexFlatL2 through Debian's python3-faiss). Recall against the exact answer; p50
 * ratios against FAISS and brute force from this same run.
 *   --sizes 10000,100000,1000000  --queries 200  --k 30
 */
export async function run(args: string[]): Promise<BenchReport> {
  const sizes = flag(args, 'sizes', '10000,100000,1000000').split(',').map(Number);
  const queryCount = Number(flag(args, 'queries', '200'));
  const k = Number(flag(args, 'k', '30'));
  const python = faissPython();
  const results: Array<Record<string, unknown>> = [];
  const notes: string[] = [];
  if (!python.ok) notes.push(`faiss skipped: ${python.reason}`);
  for (const n of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'lookalike-bench-knn-'));
    try {
      process.stderr.write(`knn: ${n} vectors…\n`);
      const base = randomVectors(n, 1);
      const queries = randomVectors(queryCount, 2);
      const exact = bruteForceAll(base, queries, k); // the reference answer (also the bruteforce engine's timings)
      const rows: Array<Record<string, unknown>> = [];
      rows.push({ n, engine: 'bruteforce', ...latency(exact.latencies), recall_at_k: 1 });
      rows.push({ n, engine: 'sqlite-vec', ...sqliteExact(join(dir, 'exact.db'), base, queries, k, exact.ids) });
      rows.push({ n, engine: 'sqlite-vec-int8+rerank', ...sqliteInt8(join(dir, 'int8.db'), base, queries, k, exact.ids) });
      if (python.ok) rows.push({ n, engine: 'faiss', ...faiss(python.path, dir, base, queries, k, exact.ids) });
      const p50 = (engine: string) => rows.find((r) => r.engine === engine)?.p50_ms as number | undefined;
      for (const row of rows) {
        const faissP50 = p50('faiss');
        row.p50_ratio_vs_faiss = faissP50 ? (row.p50_ms as number) / faissP50 : null;
        row.p50_ratio_vs_bruteforce = (row.p50_ms as number) / p50('bruteforce')!;
      }
      results.push(...rows);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { bench: 'knn', results, notes };
}

function randomVectors(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(n * DIM);
  for (let i = 0; i < out.length; i++) out[i] = rng() * 2 - 1;
  return out;
}

const row = (all: Float32Array, i: number) => all.subarray(i * DIM, (i + 1) * DIM);

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
  return hits / (truth.length * truth[0].length);
}

/** Exact k nearest by a scan over the Float32Array; ids are 1-based rowids like the tables'. */
function bruteForceAll(base: Float32Array, queries: Float32Array, k: number) {
  const n = base.length / DIM;
  const distances = new Float32Array(n);
  const ids: number[][] = [];
  const latencies: number[] = [];
  for (let q = 0; q < queries.length / DIM; q++) {
    const query = row(queries, q);
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      let sum = 0;
      const offset = i * DIM;
      for (let j = 0; j < DIM; j++) {
        const d = base[offset + j] - query[j];
        sum += d * d;
      }
      distances[i] = sum;
    }
    ids.push(topK(distances, k).map((i) => i + 1));
    latencies.push(performance.now() - started);
  }
  return { ids, latencies };
}

/** Indices of the k smallest values, nearest first (a bounded max-heap would be faster; this is the plain baseline). */
function topK(values: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (best.length === k && values[i] >= values[best[k - 1]]) continue;
    let at = best.length === k ? k - 1 : best.length;
    if (best.length < k) best.push(i);
    while (at > 0 && values[best[at - 1]] > values[i]) {
      best[at] = best[at - 1];
      at--;
    }
    best[at] = i;
  }
  return best;
}

function sqliteExact(path: string, base: Float32Array, queries: Float32Array, k: number, truth: number[][]) {
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  const index = openVectorIndex(db, 'vectors', DIM);
  const n = base.length / DIM;
  const started = performance.now();
  for (let start = 0; start < n; start += 10_000) {
    index.upsert(Array.from({ length: Math.min(10_000, n - start) }, (_, i) => ({ id: start + i + 1, vector: row(base, start + i) })));
  }
  const insertSeconds = (performance.now() - started) / 1000;
  const latencies: number[] = [];
  const found: number[][] = [];
  for (let q = 0; q < queries.length / DIM; q++) {
    const t = performance.now();
    found.push(index.knn(row(queries, q), k).map((hit) => hit.id));
    latencies.push(performance.now() - t);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { ...latency(latencies), recall_at_k: recall(found, truth), insert_rows_per_s: n / insertSeconds, db_bytes: statSync(path).size };
}

/** int8 vec0 scan for k candidates, then exact float distances from a plain blob table re-rank them. */
function sqliteInt8(path: string, base: Float32Array, queries: Float32Array, k: number, truth: number[][]) {
  const db = new BetterSqlite3(path);
  db.pragma('journal_mode = WAL');
  openVectorIndex(db, 'unused', DIM).drop(); // loads the extension
  db.exec(`CREATE VIRTUAL TABLE coarse USING vec0(embedding int8[${DIM}]); CREATE TABLE exact (id INTEGER PRIMARY KEY, vector BLOB NOT NULL)`);
  const insertCoarse = db.prepare("INSERT INTO coarse(rowid, embedding) VALUES (?, vec_quantize_int8(?, 'unit'))");
  const insertExact = db.prepare('INSERT INTO exact(id, vector) VALUES (?, ?)');
  const n = base.length / DIM;
  const started = performance.now();
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const blob = Buffer.from(row(base, i).slice().buffer);
      insertCoarse.run(BigInt(i + 1), blob);
      insertExact.run(i + 1, blob);
    }
  })();
  const insertSeconds = (performance.now() - started) / 1000;
  const candidates = db.prepare("SELECT rowid AS id FROM coarse WHERE embedding MATCH vec_quantize_int8(?, 'unit') AND k = ?");
  const rerank = db.prepare('SELECT id, vec_distance_l2(vector, ?) AS distance FROM exact WHERE id IN (SELECT value FROM json_each(?)) ORDER BY distance, id LIMIT ?');
  const latencies: number[] = [];
  const found: number[][] = [];
  for (let q = 0; q < queries.length / DIM; q++) {
    const query = Buffer.from(row(queries, q).slice().buffer);
    const t = performance.now();
    const ids = (candidates.all(query, k) as Array<{ id: number }>).map((c) => c.id);
    found.push((rerank.all(query, JSON.stringify(ids), k) as Array<{ id: number }>).map((r) => r.id));
    latencies.push(performance.now() - t);
  }
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { ...latency(latencies), recall_at_k: recall(found, truth), insert_rows_per_s: n / insertSeconds, db_bytes: statSync(path).size };
}

function faiss(python: string, dir: string, base: Float32Array, queries: Float32Array, k: number, truth: number[][]) {
  const write = (name: string, data: Float32Array) => {
    const fd = openSync(join(dir, name), 'w');
    writeSync(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    closeSync(fd);
  };
  write('base.f32', base);
  write('queries.f32', queries);
  const script = resolve(import.meta.dirname, 'faiss_knn.py');
  const out = execFileSync(python, [script, join(dir, 'base.f32'), join(dir, 'queries.f32'), String(DIM), String(k), join(dir, 'ids.i64')], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const { latencies_ms: latencies } = JSON.parse(out) as { latencies_ms: number[] };
  const raw = new BigInt64Array(new Uint8Array(readFileSync(join(dir, 'ids.i64'))).buffer);
  const found = truth.map((_, q) => Array.from(raw.subarray(q * k, (q + 1) * k), (id) => Number(id) + 1));
  return { ...latency(latencies), recall_at_k: recall(found, truth) };
}

/** Debian's python3-faiss lives with the system python, which may not be the first python3 on PATH. */
function faissPython(): { ok: true; path: string } | { ok: false; reason: string } {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    const probe = spawnSync(candidate, ['-c', 'import faiss, numpy'], { encoding: 'utf8' });
    if (probe.status === 0) return { ok: true, path: candidate };
  }
  return { ok: false, reason: 'python3 cannot import faiss (install Debian package python3-faiss)' };
}

if (import.meta.url === `file://${process.argv[1]}`) printReport(await run(process.argv.slice(2)), process.argv.includes('--json'));
