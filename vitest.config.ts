import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'bench/**/*.test.ts', 'e2e/**/*.test.ts'],
    // Real backbones on wasm take seconds per batch; two cores, so at most two test files at once.
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // The JSON report lets CI print a plain "N passed, N failed" line.
    reporters: ['default', 'json'],
    outputFile: { json: 'test-results/vitest.json' },
    maxWorkers: 2,
    // The float backbone unless a test asks for int8: int8 depends on a calibration cached in the user's cache folder.
    env: { LOOKALIKE_BACKEND: process.env.LOOKALIKE_BACKEND ?? '', LOOKALIKE_BACKBONE_PRECISION: process.env.LOOKALIKE_BACKBONE_PRECISION ?? 'fp32' },
  },
});
