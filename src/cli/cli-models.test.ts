import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_BACKBONE } from '../shared/builtin-backbone.js';
import { Store } from '../engine/index.js';
import { drawPhoto } from '../engine/testing/test-photos.js';

/** Two loose photos: searchable, no classes. */
const drawPhotos = async (folder: string) => {
  for (const seed of [1, 2]) await drawPhoto(join(folder, `photo-${seed}.jpg`), 320, 240, seed);
};

// The CLI as a user runs it: the compiled bin (`npm test` builds it first).
const BIN = resolve(__dirname, '../../bin/lookalike.js');
let work: string;
let library: string;
let db: string;
const ids = { baseline: 0, own: 0, imported: 0 };

function lookalike(args: string[]) {
  const result = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1' } });
  const lines = result.stdout.trim().split('\n');
  return { code: result.status, stdout: result.stdout, stderr: result.stderr, json: () => JSON.parse(lines[lines.length - 1]) as { removed: number | null; models: Array<Record<string, unknown>> } };
}

describe('lookalike models', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lookalike-cli-models-'));
    library = join(work, 'photos');
    mkdirSync(library);
    await drawPhotos(library);
    db = join(work, 'l.db');
    const store = Store.open(db);
    try {
      const libraryId = store.upsertLibrary(realpathSync(library));
      const row = { libraryId, backbone: BUILTIN_BACKBONE.id, backboneDim: 1792, runId: null };
      const trained = { head: { inputDim: 1792, dim: 8, hidden: 0, normalize: true }, backboneSpec: { kind: 'builtin', id: BUILTIN_BACKBONE.id } };
      ids.baseline = store.createModel({ ...row, name: `Untrained ${BUILTIN_BACKBONE.id}`, kind: 'baseline', dim: 1792, config: { backboneSpec: trained.backboneSpec } });
      ids.own = store.createModel({ ...row, name: 'Trained run 1', kind: 'trained', dim: 8, config: trained, weights: Buffer.alloc(8) });
      ids.imported = store.createModel({ ...row, name: 'Imported: Trained run 4', kind: 'trained', dim: 8, config: { ...trained, importedCard: 'abc', classes: [{ name: 'cats', photoCount: 2 }] }, weights: Buffer.alloc(8) });
      store.setModelProblem(ids.own, 'its stored weights cannot be read');
    } finally {
      store.close();
    }
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('lists the models, imported and broken ones said so with the reason', () => {
    const run = lookalike(['models', library, '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`model ${ids.own}: Trained run 1 (trained), 0 photos indexed\n  broken: its stored weights cannot be read`);
    expect(run.stdout).toContain(`model ${ids.imported}: Imported: Trained run 4 (trained, imported), 0 photos indexed\n  Trained elsewhere on 1 class ("cats"); this library has no classes`);
  });

  it('index goes on past models that cannot run, and says which and why', () => {
    const run = lookalike(['index', library, '--db', db]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`model ${ids.baseline}: 2 photos indexed`);
    for (const id of [ids.own, ids.imported]) expect(run.stdout).toContain(`model ${id}: could not run: its stored weights are damaged and cannot be read`);
  });

  it('--remove drops a model; the untrained one and unknown ids are refused in words', () => {
    const run = lookalike(['models', library, '--db', db, '--remove', String(ids.imported), '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.json().removed).toBe(ids.imported);
    expect(run.json().models.map((m) => m.id)).toEqual([ids.baseline, ids.own]);
    const baseline = lookalike(['models', library, '--db', db, '--remove', String(ids.baseline)]);
    expect(baseline.code).toBe(1);
    expect(baseline.stderr).toMatch(/is the library's untrained model: search falls back to it, so it is not removed/);
    const unknown = lookalike(['models', library, '--db', db, '--remove', '999']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no model 999 in this library');
    expect(lookalike(['models', library, '--db', db, '--remove', 'x']).code).toBe(2);
  });
});
