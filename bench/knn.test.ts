import { describe, expect, it } from 'vitest';
import { run } from './knn.js';

describe('knn bench', () => {
  it('compares the engines on the same vectors: exact ones find the exact answer, ratios come from the same run', async () => {
    const report = await run(['--sizes', '2000', '--queries', '20', '--k', '10']);
    expect(report.bench).toBe('knn');
    const engines = report.results.map((r) => r.engine);
    expect(engines).toEqual(expect.arrayContaining(['bruteforce', 'sqlite-vec', 'sqlite-vec-int8+rerank']));
    for (const result of report.results) {
      expect(result.n).toBe(2000);
      expect(result.p50_ms as number).toBeGreaterThan(0);
      expect(result.p95_ms as number).toBeGreaterThanOrEqual(result.p50_ms as number);
      if (result.engine !== 'sqlite-vec-int8+rerank') expect(result.recall_at_k).toBe(1);
      else expect(result.recall_at_k as number).toBeGreaterThan(0.9);
    }
    expect(report.results.find((r) => r.engine === 'bruteforce')!.p50_ratio_vs_bruteforce).toBe(1);
    if (engines.includes('faiss')) expect(report.results.find((r) => r.engine === 'faiss')!.p50_ratio_vs_faiss).toBe(1);
    else expect(report.notes?.join(' ')).toMatch(/faiss skipped/);
  });
});
