import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'bench/**/*.test.ts', 'e2e/**/*.test.ts', 'lint/**/*.test.ts'],
    // Real backbones on wasm take seconds per batch; two cores, so at most two test files at once.
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // The JSON report lets CI print a plain "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
    maxWorkers: 2,
    env: { LOOKALIKE_BACKEND: process.env.LOOKALIKE_BACKEND ?? '' },
  },
});
