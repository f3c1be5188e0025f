import { describe, expect, it } from 'vitest';
import { run } from './knn.js';

describe('knn bench', () => {
  it('compares the engines on the same vectors: exact ones find the exact answer, ratios come from the same run', async () => {
    const report = await run(['--sizes', '2000', '--queries', '20']);
    expect(report.bench).toBe('knn');
    const engines = report.results.map((r) => r.engine);
    expect(engines).toEqual(['bruteforce', 'sqlite-vec', 'sqlite-vec-int8-l1+rerank', 'sqlite-vec-int8-l1+rerank (1 core)', 'faiss']);
    for (const result of report.results) {
      expect(result.n).toBe(2000);
      if (result.skipped) continue;
      expect(result.p50_ms as number).toBeGreaterThan(0);
      expect(result.p95_ms as number).toBeGreaterThanOrEqual(result.p50_ms as number);
      expect(result.p50_ratio_vs_bruteforce as number).toBeGreaterThan(0);
      if (String(result.engine).startsWith('sqlite-vec-int8')) expect(result.recall_at_k as number).toBeGreaterThanOrEqual(0.95);
      else expect(result.recall_at_k).toBe(1);
    }
    for (const engine of ['sqlite-vec', 'sqlite-vec-int8-l1+rerank']) {
      const row = report.results.find((r) => r.engine === engine)!;
      expect(row.insert_rows_per_s as number).toBeGreaterThan(0);
      expect(row.db_bytes as number).toBeGreaterThan(2000 * 128 * 4);
    }
    expect(report.results.find((r) => r.engine === 'bruteforce')!.p50_ratio_vs_bruteforce).toBe(1);
    const faiss = report.results.find((r) => r.engine === 'faiss')!;
    if (faiss.skipped) expect(report.notes?.join(' ')).toMatch(/faiss skipped/);
    else expect(faiss.p50_ratio_vs_faiss).toBe(1);
  });
});
