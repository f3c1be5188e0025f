import { mkdtempSync, realpathSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineService } from '../engine/jobs/service/service-contract.js';
import { createEngineService } from '../engine/jobs/service/service.js';
import { drawTestLibrary } from '../engine/testing/test-photos.js';
import { revealPhoto } from './reveal.js';

let work: string;
let library: string;
let service: EngineService;

describe('Show in folder (the handler behind shell.showItemInFolder, without Electron)', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lookalike-reveal-'));
    library = await drawTestLibrary({ classes: ['circles', 'stars'], perClass: 2, seed: 2 });
    service = await createEngineService({ dbPath: join(work, 'l.db'), cacheDir: join(work, 'cache'), reopenLast: false });
  });
  afterAll(async () => {
    await service?.close();
    for (const dir of [work, library]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses while no library is open', async () => {
    const shown: string[] = [];
    await expect(revealPhoto(service, 1, (file) => shown.push(file))).rejects.toThrow(/no photo 1 in the open library/);
    expect(shown).toEqual([]);
  });

  it('shows a photo of the open library by its real path, and nothing for ids that are not one, or a link leading out of the library', async () => {
    await service.handlers.openLibrary({ root: library });
    const { items } = await service.handlers.listPhotos({ offset: 0, limit: 10 });
    const shown: string[] = [];
    const show = (file: string) => shown.push(file);
    await revealPhoto(service, items[0].id, show);
    expect(shown).toEqual([join(realpathSync(library), items[0].path)]);
    for (const bad of [999_999, 1.5, '1', null, { id: items[0].id }]) await expect(revealPhoto(service, bad, show)).rejects.toThrow(/in the open library/);
    // The file swapped for a link to a file outside the library: the guard follows it and refuses.
    const outside = join(work, 'outside.jpg');
    writeFileSync(outside, 'not in the library');
    unlinkSync(join(library, items[1].path));
    symlinkSync(outside, join(library, items[1].path));
    await expect(revealPhoto(service, items[1].id, show)).rejects.toThrow(/no photo \d+ in the open library/);
    expect(shown).toHaveLength(1);
  });
});
