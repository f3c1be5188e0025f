import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { mountTmpfs, type Mounted } from '../../testing/mounts.js';
import { createEngineService } from './service.js';

const PHOTOS = 400;
let dir: string;
let root: string;
let mounted: Mounted | string;

describe('closing the app while "write labels to folders" runs', () => {
  beforeAll(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'lookalike-close-')));
    root = join(dir, 'library');
    mkdirSync(join(root, 'inbox'), { recursive: true });
    // The class folder on a file system of its own: each move is a copy, so the write takes a while.
    mounted = mountTmpfs(join(root, 'birds'));
    const tiny = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#36a' } }).jpeg().toBuffer();
    for (let i = 0; i < PHOTOS; i++) writeFileSync(join(root, 'inbox', `p${i}.jpg`), Buffer.concat([tiny, Buffer.from(`#${i}`)]));
  });
  afterAll(() => {
    if (typeof mounted !== 'string') mounted?.unmount();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('waits for the move in flight and stops between two moves, leaving the journal and the rows matching the files', { timeout: 300_000 }, async (context) => {
    if (typeof mounted === 'string') return context.skip(mounted);
    const dbPath = join(dir, 'l.db');
    const service = await createEngineService({ dbPath, cacheDir: join(dir, 'cache'), libraryRoot: root });
    const photos = await service.handlers.listPhotos({ offset: 0, limit: 1000 });
    await service.handlers.changeLabels({ kind: 'assign-photos', photoIds: photos.items.map((p) => p.id), className: 'birds' });
    const { fingerprint } = await service.handlers.previewLabelWrite();
    const writing = service.handlers.writeLabels({ fingerprint });
    const settled = writing.then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    while (readdirSync(join(root, 'birds')).length < 20) await new Promise((resolve) => setTimeout(resolve, 5));
    await service.close();
    const movedAtClose = readdirSync(join(root, 'birds')).length;
    // The write has ended (its answer came): had it gone on after close, more photos would have moved by now.
    const outcome = await settled;
    expect(readdirSync(join(root, 'birds'))).toHaveLength(movedAtClose); // nothing moves after close
    expect(movedAtClose).toBeLessThan(PHOTOS);
    expect(outcome).toHaveProperty('result');

    const store = Store.open(dbPath);
    try {
      const journal = store.moveJournal;
      const libraryId = store.libraryIdOf(root)!;
      const batch = journal.last(libraryId, 'write-labels')!;
      expect(batch.state).toBe('interrupted');
      expect(batch.notice).toBe(`Writing labels to folders was stopped (the app was closing): ${movedAtClose} of ${PHOTOS} photos were moved; Undo puts them back.`);
      expect(journal.steps(batch.id, 'done')).toHaveLength(movedAtClose);
      const rows = store.photos(libraryId).map((p) => p.relPath);
      expect(rows.filter((p) => p.startsWith('birds/'))).toHaveLength(movedAtClose);
      expect([...readdirSync(join(root, 'inbox')).map((f) => `inbox/${f}`), ...readdirSync(join(root, 'birds')).map((f) => `birds/${f}`)].sort()).toEqual(rows.sort());
    } finally {
      store.close();
    }
  });
});
