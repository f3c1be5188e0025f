import type { LibraryMap } from '../../../shared/api.js';
import { conflict, notFound } from '../../../shared/errors.js';
import { startModuleWorker } from '../../common/worker.js';
import type { MapLayoutStore, StoredLayout } from '../../store/map-layouts.js';
import type { Store } from '../../store/store.js';
import type { MapWorkerData, MapWorkerMessage } from './map-worker.js';

/** What each step of making a map is called in progress events. */
export const MAP_PHASES = { reading: 'Map: reading embeddings', neighbours: 'Map: finding neighbours', layout: 'Map: laying out' } as const;

export type MapProgress = (phase: string, done: number, total: number) => void;

/** Maps being made, by database, model and fingerprint: a second ask waits for the same work. */
const inFlight = new Map<string, Promise<StoredLayout>>();

/**
 * The map of a library under one of its models (default: its untrained one): every photo with a
 * current embedding placed in 2D, with its path and class as they are now. The layout comes from
 * the database when the model's embeddings are those it was made from; else it is made on a worker
 * thread (the caller's thread stays free) and stored.
 */
export async function libraryMap(store: Store, libraryId: number, modelId: number | undefined, onProgress?: MapProgress): Promise<LibraryMap> {
  const model = modelId === undefined ? store.models(libraryId).find((m) => m.kind === 'baseline') : store.model(modelId);
  if (!model || model.libraryId !== libraryId) throw notFound(modelId === undefined ? 'no model yet: open a library with photos first' : `no model ${modelId} in this library`);
  const layouts = store.mapLayouts;
  const input = layouts.input(libraryId, model.id);
  if (input.photoIds.length === 0) throw conflict(`the library is still being analysed for ${model.name}; draw its map when indexing is done`);
  let layout = layouts.get(model.id);
  if (layout?.fingerprint !== input.fingerprint) {
    const key = `${store.path}:${model.id}:${input.fingerprint}`;
    let making = inFlight.get(key);
    if (!making) {
      making = makeLayout(store, model.id, model.dim, input.photoIds, onProgress).then((coordinates) => {
        const made = { fingerprint: input.fingerprint, photoIds: Int32Array.from(input.photoIds), coordinates };
        layouts.put(model.id, made);
        return made;
      });
      inFlight.set(key, making);
      void making.finally(() => inFlight.delete(key)).catch(() => undefined);
    }
    layout = await making;
  }
  return describeLayout(layouts, libraryId, { id: model.id, name: model.name, kind: model.kind }, layout);
}

function makeLayout(store: Store, modelId: number, dim: number, photoIds: number[], onProgress?: MapProgress): Promise<Float32Array> {
  const data: MapWorkerData = { dbPath: store.path, table: store.vectorIndex(modelId, dim).table, dim, photoIds };
  const worker = startModuleWorker(import.meta.url, 'map-worker', { workerData: data });
  return new Promise<Float32Array>((resolve, reject) => {
    worker.on('message', (message: MapWorkerMessage) => {
      if (message.type === 'progress') onProgress?.(MAP_PHASES[message.phase], message.done, message.total);
      else if (message.type === 'done') resolve(message.coordinates);
      else reject(new Error(`the map could not be made: ${message.message}`));
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`the map could not be made: its thread ended (code ${code})`)));
  }).finally(() => void worker.terminate());
}

/** Coordinates rounded to 1/10,000 of the map (finer than any screen shows): about a third of the JSON. */
const round = (value: number) => Math.round(value * 10_000) / 10_000;

function describeLayout(layouts: MapLayoutStore, libraryId: number, model: { id: number; name: string; kind: 'baseline' | 'trained' }, layout: StoredLayout): LibraryMap {
  const { photos, classes } = layouts.photos(libraryId);
  const classIndex = new Map(classes.map((name, i) => [name, i]));
  const map: LibraryMap = { modelId: model.id, modelName: model.name, kind: model.kind, classes, photoIds: [], x: [], y: [], classOf: [], paths: [], missing: 0 };
  layout.photoIds.forEach((id, i) => {
    const photo = photos.get(id);
    if (!photo) return; // removed since the map was made
    map.photoIds.push(id);
    map.x.push(round(layout.coordinates[i * 2]));
    map.y.push(round(layout.coordinates[i * 2 + 1]));
    map.classOf.push(photo.className === null ? -1 : classIndex.get(photo.className)!);
    map.paths.push(photo.path);
  });
  map.missing = photos.size - map.photoIds.length;
  return map;
}
