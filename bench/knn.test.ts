import { describe, expect, it } from 'vitest';
import { run } from './knn.js';

describe('knn bench', () => {
  it('compares the engines on the same vectors of both kinds: exact ones find the exact answer, ratios come from the same run', async () => {
    const report = await run(['--sizes', '2000', '--queries', '20']);
    expect(report.bench).toBe('knn');
    const quantised = ['int8-simd+rerank', 'int8-simd+rerank (1 core)', 'sqlite-vec-int8-l1+rerank', 'sqlite-vec-int8-l1+rerank (1 core)'];
    for (const data of ['uniform', 'clustered']) {
      const rows = report.results.filter((r) => r.data === data);
      const engines = rows.map((r) => r.engine);
      expect(engines.slice(0, 6)).toEqual(['bruteforce', 'sqlite-vec', ...quantised]);
      expect(['faiss-flat', 'faiss-flat,faiss-hnsw']).toContain(engines.slice(6).join(','));
      for (const result of rows) {
        expect(result.n).toBe(2000);
        if (result.skipped) continue;
        expect(result.p50_ms as number).toBeGreaterThan(0);
        expect(result.p95_ms as number).toBeGreaterThanOrEqual(result.p50_ms as number);
        expect(result.p50_ratio_vs_bruteforce as number).toBeGreaterThan(0);
        expect(result.memory_mb).toBeTypeOf('number');
        if (quantised.includes(result.engine as string) || result.engine === 'faiss-hnsw') expect(result.recall_at_k as number).toBeGreaterThanOrEqual(0.95);
        else expect(result.recall_at_k).toBe(1);
      }
      for (const engine of ['sqlite-vec', 'int8-simd+rerank', 'sqlite-vec-int8-l1+rerank']) {
        const row = rows.find((r) => r.engine === engine)!;
        expect(row.insert_rows_per_s as number).toBeGreaterThan(0);
        expect(row.db_mb as number).toBeGreaterThanOrEqual(1); // 2000 × 128 floats
      }
      expect(rows.find((r) => r.engine === 'int8-simd+rerank')!.load_s as number).toBeGreaterThan(0);
      expect(rows.find((r) => r.engine === 'bruteforce')!.p50_ratio_vs_bruteforce).toBe(1);
      const faiss = rows.find((r) => r.engine === 'faiss-flat')!;
      if (faiss.skipped) expect(report.notes?.join(' ')).toMatch(/faiss skipped/);
      else {
        expect(faiss.p50_ratio_vs_faiss_flat).toBe(1);
        expect(rows.find((r) => r.engine === 'faiss-hnsw')!.ef_search as number).toBeGreaterThan(0);
      }
    }
  });
});
