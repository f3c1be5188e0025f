import { svelte } from '@sveltejs/vite-plugin-svelte';
import { configDefaults, defineConfig } from 'vitest/config';
import { ProjectDurations } from './scripts/project-durations.js';

/**
 * Test files that take seconds each: a real backbone loaded, a head or network trained, the built
 * CLI, child processes or worker threads started, the engine service run whole, thousands of files
 * or rows made. Every other test file under src/ (and lint/) is a unit test: `npm run test:unit`
 * runs those in under a minute. A new test file that takes seconds belongs here.
 */
const INTEGRATION = [
  'bench/**/*.test.ts',
  'src/cli/*.test.ts',
  'src/bridge/error-kinds.test.ts',
  'src/bridge/label-selection.test.ts',
  'src/engine/common/private-files.test.ts',
  'src/engine/common/thread-priority.test.ts',
  'src/engine/store/mapped-pages.test.ts',
  'src/engine/jobs/models/broken-models.test.ts',
  'src/engine/jobs/library/duplicate-edges.test.ts',
  'src/engine/jobs/library/duplicates.test.ts',
  'src/engine/jobs/files/file-moves-crash.test.ts',
  'src/engine/jobs/training/fine-tune.test.ts',
  'src/engine/jobs/training/fine-tune-multi-scale.test.ts',
  'src/engine/jobs/training/training-cost.test.ts',
  'src/engine/jobs/library/feature-cache.test.ts',
  'src/engine/jobs/models/model-transfer-fine-tuned.test.ts',
  'src/engine/jobs/training/full-fine-tune.test.ts',
  'src/engine/jobs/curation/label-audit.test.ts',
  'src/engine/jobs/curation/map.test.ts',
  'src/engine/jobs/models/model-transfer.test.ts',
  'src/engine/jobs/pipeline.test.ts',
  'src/engine/jobs/pipeline-guards.test.ts',
  'src/engine/jobs/service/service.test.ts',
  'src/engine/jobs/service/service-close-moves.test.ts',
  'src/engine/jobs/service/service-jobs.test.ts',
  'src/engine/jobs/service/service-moves.test.ts',
  'src/engine/jobs/service/service-thread.test.ts',
  'src/engine/jobs/curation/suggest.test.ts',
  'src/engine/jobs/files/write-labels.test.ts',
  'src/engine/library/scan.test.ts',
  'src/engine/ml/backbone/backbone.test.ts',
  'src/engine/ml/curation/near-pairs.test.ts',
  'src/engine/ml/runtime/compute-backend.test.ts',
  'src/engine/ml/backbone/features.test.ts',
  'src/engine/ml/backbone/int8-calibration.test.ts',
  'src/engine/ml/backbone/onnx-quantize.test.ts',
  'src/engine/ml/backbone/trainable-backbone.test.ts',
  'src/engine/ml/training/trainer.test.ts',
  'src/engine/ml/runtime/webgpu.test.ts',
  'src/engine/ml/runtime/webgpu-quiet.test.ts',
  'src/engine/store/job-lock.test.ts',
  'src/engine/store/search.test.ts',
  'src/main/reveal.test.ts',
];
/** Tests that build the renderer and drive a real Chromium. */
const E2E = ['e2e/**/*.test.ts'];

export default defineConfig({
  test: {
    projects: [
      // Svelte compiles the renderer's `.svelte.ts` stores (their $state fields) for the unit tests that import them.
      { extends: true, plugins: [svelte()], test: { name: 'unit', include: ['src/**/*.test.ts', 'lint/**/*.test.ts'], exclude: [...configDefaults.exclude, ...INTEGRATION] } },
      { extends: true, test: { name: 'integration', include: INTEGRATION } },
      { extends: true, test: { name: 'e2e', include: E2E } },
    ],
    // Real backbones on wasm take seconds per batch; two cores, so at most two test files at once.
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // The JSON report lets CI print a plain "N passed, N failed" line, and each project's duration.
    reporters: ['default', 'json', new ProjectDurations('test-results/projects.json')],
    outputFile: { json: 'test-results/vitest.json' },
    maxWorkers: 2,
    // The float backbone unless a test asks for int8: int8 depends on a calibration cached in the user's cache folder.
    env: { LOOKALIKE_BACKEND: process.env.LOOKALIKE_BACKEND ?? '', LOOKALIKE_BACKBONE_PRECISION: process.env.LOOKALIKE_BACKBONE_PRECISION ?? 'fp32' },
  },
});
