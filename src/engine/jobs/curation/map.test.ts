import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { clusteredVectors, mapNeighbourAgreement } from '../../testing/clustered-vectors.js';
import { libraryMap, MAP_PHASES } from './map.js';
import { runSql } from '../../testing/raw-sql.js';

const CLASSES = ['apples', 'boats', 'clouds', 'dogs', 'eggs', 'ferns'];
const COUNT = 600;
const DIM = 96;

let dir: string;
let store: Store;
let libraryId: number;
let modelId: number;
let cluster: Int32Array;

/** A real database file: photo rows in 6 classes (plus unlabelled ones), one model whose embeddings form those 6 clusters. */
describe('the map of a library', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'lookalike-map-'));
    store = Store.open(join(dir, 'lookalike.db'));
    libraryId = store.upsertLibrary(join(dir, 'library'));
    const clustered = clusteredVectors(COUNT, DIM, CLASSES.length, { seed: 4, spread: 2 });
    cluster = clustered.cluster;
    // Every tenth photo has no folder class: its cluster is known, its label not.
    const photos = Array.from({ length: COUNT }, (_, i) => ({
      relPath: i % 10 === 9 ? `loose-${i}.jpg` : `${CLASSES[cluster[i]]}/${i}.jpg`,
      className: i % 10 === 9 ? null : CLASSES[cluster[i]],
      size: 1000 + i,
      mtimeMs: 1,
      hash: `h${i}`,
    }));
    store.syncLibrary(libraryId, CLASSES, photos);
    modelId = store.createModel({ libraryId, name: 'Untrained synthetic', kind: 'baseline', backbone: 'synthetic', backboneDim: DIM, dim: DIM, config: {}, runId: null });
    const byPath = new Map(photos.map((p, i) => [p.relPath, i]));
    store.putEmbeddings(
      modelId,
      DIM,
      store.photos(libraryId).map((p) => ({ photoId: p.id, hash: p.hash, vector: clustered.vectors[byPath.get(p.relPath)!] })),
    );
  });
  afterAll(() => {
    store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('places each photo among its own cluster, made on a worker with progress, then read back from the database', { timeout: 120_000 }, async () => {
    const phases: string[] = [];
    const map = await libraryMap(store, libraryId, undefined, (phase) => phases.push(phase));
    expect(map.modelId).toBe(modelId);
    expect(map.photoIds).toHaveLength(COUNT);
    expect(map.missing).toBe(0);
    expect([...map.classes].sort()).toEqual(CLASSES);
    expect(Math.min(...map.x, ...map.y)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...map.x, ...map.y)).toBeLessThanOrEqual(1);
    // Nearest on the map are of the same cluster: the clusters come out as islands (the first two principal components alone, the starting layout, keep 0.85).
    const clusterOf = (photoId: number) => cluster[Number(store.photo(photoId)!.relPath.match(/(\d+)\.jpg$/)![1])];
    const xy = map.x.flatMap((x, i) => [x, map.y[i]]);
    expect(mapNeighbourAgreement(xy, map.photoIds.map(clusterOf), 10, 7)).toBeGreaterThan(0.95);
    expect([...new Set(phases)]).toEqual([MAP_PHASES.reading, MAP_PHASES.neighbours, MAP_PHASES.layout]);
    // Labels as they are now: unlabelled photos have no class, the others their folder's.
    const loose = map.paths.findIndex((p) => p.startsWith('loose-'));
    expect(map.classOf[loose]).toBe(-1);
    const dog = map.paths.findIndex((p) => p.startsWith('dogs/'));
    expect(map.classes[map.classOf[dog]]).toBe('dogs');

    // Asked again: the stored layout, no work.
    const again: string[] = [];
    const cached = await libraryMap(store, libraryId, modelId, (phase) => again.push(phase));
    expect(again).toEqual([]);
    expect(cached.x).toEqual(map.x);
  });

  it('is made again when an embedding changes, and refuses a model of no library of its own', { timeout: 120_000 }, async () => {
    const photo = store.photos(libraryId)[0];
    store.putEmbeddings(modelId, DIM, [{ photoId: photo.id, hash: photo.hash, vector: new Float32Array(DIM).fill(5) }]);
    runSql(store.path, 'UPDATE photos SET hash = ? WHERE id = ?', 'changed', photo.id);
    runSql(store.path, 'UPDATE embeddings SET hash = ? WHERE photo_id = ?', 'changed', photo.id);
    const phases: string[] = [];
    const map = await libraryMap(store, libraryId, modelId, (phase) => phases.push(phase));
    expect(phases.length).toBeGreaterThan(0);
    expect(map.photoIds).toHaveLength(COUNT);
    await expect(libraryMap(store, libraryId, 999)).rejects.toMatchObject({ message: 'no model 999 in this library' });
  });
});
