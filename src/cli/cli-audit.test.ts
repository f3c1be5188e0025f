import { spawnSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawTestLibrary } from '../engine/testing/test-photos.js';

// The CLI as a user runs it: the compiled bin (`npm test` builds it first).
const BIN = resolve(__dirname, '../../bin/lookalike.js');
/** A drawn stripes photo put in the circles folder. */
const PLANTED = 'circles/stripes-02.jpg';
let root: string;
let work: string;
let db: string;

const lookalike = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

beforeAll(async () => {
  root = await drawTestLibrary({ classes: ['circles', 'stripes', 'stars'], perClass: 8 });
  renameSync(join(root, 'stripes', 'stripes-02.jpg'), join(root, PLANTED));
  work = mkdtempSync(join(tmpdir(), 'lookalike-cli-audit-'));
  db = join(work, 'lookalike.db');
});
afterAll(() => {
  for (const dir of [root, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('lookalike audit', () => {
  it('--json names the planted photo first, with the class it came from and its neighbours; the text says the same', () => {
    const run = lookalike(['audit', root, '--db', db, '--folds', '3', '--json']);
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { scored: number; folds: number; suspects: Array<{ path: string; class: string; suggested: string; neighbours: Array<{ class: string }> }> };
    expect(out).toMatchObject({ scored: 24, folds: 3 });
    expect(out.suspects[0]).toMatchObject({ path: PLANTED, class: 'circles', suggested: 'stripes' });
    expect(out.suspects[0].neighbours.length).toBeGreaterThan(0);
    const text = lookalike(['audit', root, '--db', db, '--folds', '3']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^24 labelled photos checked by 3 cross-fitted heads/);
    expect(text.stdout).toContain(`${PLANTED}: in "circles", looks like "stripes"`);
  });

  it('refuses fewer than two folds and a library without two classes, in words', () => {
    const folds = lookalike(['audit', root, '--db', db, '--folds', '1']);
    expect(folds.status).toBe(2);
    expect(folds.stderr).toContain('at least 2 folds');
    const flat = mkdtempSync(join(tmpdir(), 'lookalike-cli-flat-'));
    try {
      const run = lookalike(['audit', flat, '--db', db]);
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/finding mislabelled photos needs at least 2 classes/);
    } finally {
      rmSync(flat, { recursive: true, force: true });
    }
  });
});
