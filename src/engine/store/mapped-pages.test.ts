import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { MAPPED_BULK_BYTES, Store } from './store.js';
import { scannedStore } from './test-fixture.js';

/** Resident kB of this process's mappings of `file` (Linux: /proc/self/smaps). */
function mappedResidentKb(file: string): number {
  let total = 0;
  let inFile = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.endsWith(` ${file}`);
    else if (inFile && line.startsWith('Rss:')) total += Number(/(\d+) kB/.exec(line)![1]);
  }
  return total;
}

const onLinux = process.platform === 'linux';
const DIM = 2048;
/** Ten budgets of features: without the drop every page read stays mapped, so the whole pass is resident at the end. */
const PASS_BYTES = 10 * MAPPED_BULK_BYTES;
const PHOTOS = Math.ceil(PASS_BYTES / (DIM * 4));

describe.skipIf(!onLinux)('the memory map of a bulk pass (Linux: reads /proc/self/smaps)', () => {
  let fixture: ReturnType<typeof scannedStore> | undefined;
  afterEach(() => {
    fixture?.store.close();
    fixture?.remove();
  });

  it('reading ten budgets of features a batch at a time keeps at most a few budgets of the file resident', () => {
    fixture = scannedStore('lookalike-mapped-', [], []);
    const { store, dir } = fixture;
    const file = `${dir}/lookalike.db`;
    const hashes = Array.from({ length: PHOTOS }, (_, i) => `h${i}`);
    for (let start = 0; start < PHOTOS; start += 500) {
      store.putFeatures('bb', hashes.slice(start, start + 500).map((hash, i) => ({ hash, vector: new Float32Array(DIM).fill(start + i) })));
    }
    store.close();
    fixture.store = Store.open(file);
    const reopened = fixture.store;
    const modelId = reopened.createModel({ libraryId: reopened.upsertLibrary('/photos'), name: 'm', kind: 'baseline', backbone: 'bb', backboneDim: DIM, dim: DIM, config: {}, runId: null });
    reopened.vectorIndex(modelId, DIM).count(); // the vector index maps the file, as a search does
    let lateHalfPeakKb = 0;
    let seen = 0;
    for (let start = 0; start < PHOTOS; start += 500) {
      seen += reopened.features('bb', hashes.slice(start, start + 500)).size;
      if (start >= PHOTOS / 2) lateHalfPeakKb = Math.max(lateHalfPeakKb, mappedResidentKb(file));
    }
    expect(seen).toBe(PHOTOS);
    // Measured: at most about 1.3 budgets after the first drop (the first read after the file is
    // mapped leaves several times what it reads resident); without the drop, the whole pass.
    expect(lateHalfPeakKb * 1024).toBeLessThan(3 * MAPPED_BULK_BYTES);
    expect(lateHalfPeakKb).toBeGreaterThan(0); // the map is in use, so the bound above measures something
  });
});
