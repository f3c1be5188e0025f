import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Store } from './store.js';

describe('opening a database: refusals in words', () => {
  it('--db naming a folder is refused as such, not with EISDIR', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lookalike-db-folder-'));
    try {
      expect(() => Store.open(dir)).toThrow(`${dir}: is a folder, not a database file (name a file, e.g. ${join(dir, 'lookalike.db')})`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
