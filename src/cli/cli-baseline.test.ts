import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { drawTestLibrary } from '../engine/testing/test-photos.js';
import { SAMPLE_CLASSES } from '../engine/index.js';

// The CLI as a user runs it: the compiled bin (`npm test` builds it first).
const BIN = resolve(__dirname, '../../bin/lookalike.js');
let root: string;
let work: string;

function lookalikeJson(args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args, '--json'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { baseline?: unknown; eval?: { baseline: unknown } };
}

beforeAll(async () => {
  root = await drawTestLibrary({ classes: SAMPLE_CLASSES, perClass: 24 });
  work = mkdtempSync(join(tmpdir(), 'lookalike-cli-baseline-'));
});
afterAll(() => {
  for (const dir of [root, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

it('eval scores the untrained baseline as training reported it: one definition (the final pool), on the same split', () => {
  const db = join(work, 'lookalike.db');
  const trained = lookalikeJson(['train', root, '--db', db, '--epochs', '1', '--batch', '16', '--triplets', '64', '--dim', '32', '-k', '5']);
  const evaluated = lookalikeJson(['eval', root, '--db', db, '-k', '5']);
  expect(evaluated.baseline).toEqual(trained.eval!.baseline);
});
