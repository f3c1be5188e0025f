import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../engine/index.js';
import { clusteredVectors } from '../engine/testing/clustered-vectors.js';
import { classColour } from '../shared/map-palette.js';

// The CLI as a user runs it: the compiled bin (`npm test` builds it first).
const BIN = resolve(__dirname, '../../bin/lookalike.js');
const CLASSES = ['apples', 'boats', 'clouds'];
const COUNT = 300;
const DIM = 32;
let work: string;
let library: string;
let db: string;

const lookalike = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

/** A library folder known to the database, with one model whose embeddings form three clusters (no backbone needed). */
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lookalike-cli-map-'));
  library = join(work, 'library');
  mkdirSync(library);
  db = join(work, 'lookalike.db');
  const store = Store.open(db);
  try {
    const libraryId = store.upsertLibrary(realpathSync(library));
    const { vectors, cluster } = clusteredVectors(COUNT, DIM, CLASSES.length, { seed: 2 });
    const photos = vectors.map((_, i) => ({ relPath: `${CLASSES[cluster[i]]}/${i}.jpg`, className: CLASSES[cluster[i]], size: 100, mtimeMs: 1, hash: `h${i}` }));
    store.syncLibrary(libraryId, CLASSES, photos);
    const modelId = store.createModel({ libraryId, name: 'Untrained synthetic', kind: 'baseline', backbone: 'synthetic', backboneDim: DIM, dim: DIM, config: {}, runId: null });
    const index = new Map(photos.map((p, i) => [p.relPath, i]));
    store.putEmbeddings(modelId, DIM, store.photos(libraryId).map((p) => ({ photoId: p.id, hash: p.hash, vector: vectors[index.get(p.relPath)!] })));
  } finally {
    store.close();
  }
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('lookalike map', () => {
  it('writes a PNG of every photo in its class colour, with a legend beside', { timeout: 120_000 }, async () => {
    const out = join(work, 'map.png');
    const run = lookalike(['map', library, '--db', db, '--out', out, '--size', '400', '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toMatchObject({ out, photos: COUNT, missing: 0, classes: CLASSES });
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect(info.height).toBe(400);
    expect(info.width).toBeGreaterThan(400);
    // Each class colour is painted on the map part (left 400 pixels), in a fair share of it.
    for (let c = 0; c < CLASSES.length; c++) {
      const [r, g, b] = classColour(c);
      let painted = 0;
      for (let y = 0; y < 400; y++) {
        for (let x = 0; x < 400; x++) {
          const at = (y * info.width + x) * info.channels;
          if (data[at] === r && data[at + 1] === g && data[at + 2] === b) painted++;
        }
      }
      expect(painted, CLASSES[c]).toBeGreaterThan(100);
    }
  });

  it('refuses an output that is not a new or regular .png file, in words', () => {
    const folder = join(work, 'a-folder.png');
    mkdirSync(folder);
    const intoFolder = lookalike(['map', library, '--db', db, '--out', folder]);
    expect(intoFolder.status).toBe(1);
    expect(intoFolder.stderr).toContain(`${folder}: not a regular file`);
    const target = join(work, 'elsewhere.png');
    writeFileSync(target, 'keep me');
    const link = join(work, 'link.png');
    symlinkSync(target, link);
    const throughLink = lookalike(['map', library, '--db', db, '--out', link]);
    expect(throughLink.status).toBe(1);
    expect(throughLink.stderr).toContain('is a symbolic link');
    expect(readFileSync(target, 'utf8')).toBe('keep me');
    const notPng = lookalike(['map', library, '--db', db, '--out', join(work, 'map.jpg')]);
    expect(notPng.status).toBe(2);
    expect(notPng.stderr).toContain('--out must name a .png file');
    const noFolder = lookalike(['map', library, '--db', db, '--out', join(work, 'missing', 'map.png')]);
    expect(noFolder.status).toBe(1);
    expect(noFolder.stderr).toContain('folder not found');
  });
});
