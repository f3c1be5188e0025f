import { createHash } from 'node:crypto';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { loadVectorExtension, openVectorIndex } from './search.js';

/** A model's map: photo ids and their (x, y) in [0, 1], one pair after another. */
export interface StoredLayout {
  fingerprint: string;
  photoIds: Int32Array;
  coordinates: Float32Array;
}

/** Photos of a library with a current embedding under a model: what its map is made of. */
export interface MapInput {
  photoIds: number[];
  /** Names the photos and their contents: a map made from other embeddings has another. */
  fingerprint: string;
}

/** The SQL of maps (table map_layouts): one per model, replaced whenever it is made again. */
export class MapLayoutStore {
  constructor(private readonly db: Database) {}

  /** The library's photos whose embedding under the model is of their present content, by id. */
  input(libraryId: number, modelId: number): MapInput {
    const rows = this.db
      .prepare('SELECT p.id AS id, p.hash AS hash FROM embeddings e JOIN photos p ON p.id = e.photo_id AND p.hash = e.hash WHERE e.model_id = ? AND p.library_id = ? ORDER BY p.id')
      .all(modelId, libraryId) as Array<{ id: number; hash: string }>;
    const hash = createHash('sha256');
    for (const row of rows) hash.update(`${row.id}:${row.hash}\n`);
    return { photoIds: rows.map((r) => r.id), fingerprint: hash.digest('hex') };
  }

  /** Every photo of the library with its path and class, by id; the classes that have photos, oldest first. */
  photos(libraryId: number): { photos: Map<number, { path: string; className: string | null }>; classes: string[] } {
    const rows = this.db
      .prepare('SELECT p.id AS id, p.rel_path AS path, c.name AS className FROM photos p LEFT JOIN classes c ON c.id = p.class_id WHERE p.library_id = ?')
      .all(libraryId) as Array<{ id: number; path: string; className: string | null }>;
    const classes = this.db
      .prepare('SELECT c.name FROM classes c WHERE c.library_id = ? AND EXISTS (SELECT 1 FROM photos p WHERE p.class_id = c.id) ORDER BY c.id')
      .pluck()
      .all(libraryId) as string[];
    return { photos: new Map(rows.map((r) => [r.id, { path: r.path, className: r.className }])), classes };
  }

  get(modelId: number): StoredLayout | null {
    const row = this.db.prepare('SELECT fingerprint, photo_ids AS ids, coordinates FROM map_layouts WHERE model_id = ?').get(modelId) as
      | { fingerprint: string; ids: Buffer; coordinates: Buffer }
      | undefined;
    if (!row) return null;
    return { fingerprint: row.fingerprint, photoIds: new Int32Array(copyOf(row.ids)), coordinates: new Float32Array(copyOf(row.coordinates)) };
  }

  put(modelId: number, layout: StoredLayout): void {
    this.db
      .prepare('INSERT OR REPLACE INTO map_layouts(model_id, fingerprint, photo_ids, coordinates) VALUES (?, ?, ?, ?)')
      .run(modelId, layout.fingerprint, asBlob(layout.photoIds), asBlob(layout.coordinates));
  }
}

/**
 * Reads a model's stored vectors on a connection of its own to the database file (read-only), for a
 * worker thread: `read(ids)` gives their vectors one after another, in the order asked.
 */
export function openVectorReader(path: string, table: string, dim: number): { read(ids: number[]): Float32Array; close(): void } {
  const db = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  loadVectorExtension(db);
  const index = openVectorIndex(db, table, dim, { secondCore: false });
  return {
    read(ids) {
      const out = new Float32Array(ids.length * dim);
      const position = new Map(ids.map((id, i) => [id, i]));
      for (const { id, vector } of index.vectors(ids)) out.set(vector, position.get(id)! * dim);
      return out;
    },
    close: () => db.close(),
  };
}

const copyOf = (blob: Buffer) => blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength);
const asBlob = (values: Int32Array | Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength);
