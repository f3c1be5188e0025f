/**
 * Makes a model's map on a thread of its own (jobs/map.ts starts it): reads the vectors from the
 * database file, projects them (ml/map-projection.ts), posts progress and then the coordinates.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { projectToMap } from '../../ml/curation/map-projection.js';
import { openVectorReader } from '../../store/map-layouts.js';

export interface MapWorkerData {
  dbPath: string;
  table: string;
  dim: number;
  photoIds: number[];
}

export type MapWorkerMessage =
  | { type: 'progress'; phase: 'reading' | 'neighbours' | 'layout'; done: number; total: number }
  | { type: 'done'; coordinates: Float32Array }
  | { type: 'failed'; message: string };

const { dbPath, table, dim, photoIds } = workerData as MapWorkerData;
const post = (message: MapWorkerMessage, transfer: ArrayBuffer[] = []) => parentPort!.postMessage(message, transfer);
let reader: ReturnType<typeof openVectorReader> | null = null;
try {
  reader = openVectorReader(dbPath, table, dim);
  const source = reader;
  const coordinates = projectToMap(
    { count: photoIds.length, dim, read: (positions) => source.read(positions.map((p) => photoIds[p])) },
    { onProgress: (phase, done, total) => post({ type: 'progress', phase, done, total }) },
  );
  post({ type: 'done', coordinates }, [coordinates.buffer as ArrayBuffer]);
} catch (error) {
  post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
} finally {
  reader?.close();
}
