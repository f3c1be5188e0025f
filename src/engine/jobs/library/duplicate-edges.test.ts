import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../common/rng.js';
import { Store } from '../../store/store.js';
import { duplicateEdges, groupDuplicates } from './duplicates.js';

const DIM = 32;
const COUNT = 2_500;
let dir: string;
let store: Store;

/** Unit vectors, random but for planted near copies: photo 10·j + 9 is photo 10·j + 8 plus a little noise. */
function fill(path: string): void {
  const s = Store.open(path);
  const lib = s.upsertLibrary('/synthetic');
  s.syncLibrary(lib, ['all'], Array.from({ length: COUNT }, (_, i) => ({ relPath: `all/${i}.jpg`, className: 'all', size: 1, mtimeMs: 1, hash: `h${i}` })));
  const modelId = s.createModel({ libraryId: lib, name: 'synthetic', kind: 'baseline', backbone: 'synthetic', backboneDim: DIM, dim: DIM, config: {}, runId: null });
  const rng = createRng(4);
  const unit = (v: Float32Array) => v.map((x) => x / Math.hypot(...v));
  let previous = new Float32Array(DIM);
  const rows = s.photos(lib).map((p, i) => {
    const vector = i % 10 === 9 ? unit(previous.map((x) => x + (rng() - 0.5) * 0.05)) : unit(Float32Array.from({ length: DIM }, () => rng() - 0.5));
    previous = vector;
    return { photoId: p.id, hash: p.hash, vector };
  });
  s.putEmbeddings(modelId, DIM, rows);
  s.close();
}

describe('duplicate pairs by blocks', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lookalike-dup-edges-'));
    fill(join(dir, 'l.db'));
    store = Store.open(join(dir, 'l.db'));
  });
  afterAll(() => {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives the pairs and distances of one search-index query per photo, and finds every planted near copy', async () => {
    const progress: number[] = [];
    const blocks = await duplicateEdges(store, 1, (done) => progress.push(done), { via: 'blocks', block: 512 });
    const queries = await duplicateEdges(store, 1, undefined, { via: 'queries' });
    const pairs = (e: typeof blocks) => [...e.a].map((a, i) => `${a}:${e.b[i]}`).sort();
    expect(pairs(blocks)).toEqual(pairs(queries));
    expect(blocks.a.length).toBeGreaterThan(COUNT / 10 - 1);
    const distance = new Map([...queries.a].map((a, i) => [`${a}:${queries.b[i]}`, queries.distance[i]]));
    blocks.a.forEach((a, i) => expect(Math.abs(blocks.distance[i] - distance.get(`${a}:${blocks.b[i]}`)!)).toBeLessThan(1e-5));
    expect(groupDuplicates(store, 1, blocks, 0.1).groups).toHaveLength(COUNT / 10);
    expect(progress.at(-1)).toBe(15); // 5 blocks of 500-512: 15 pairs of blocks
  });
});
