import { cp, link, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openLibrary } from '../src/engine/index.js';
import { changeLabels } from '../src/engine/jobs/files/label-changes.js';
import { previewLabelWrite } from '../src/engine/jobs/files/write-labels.js';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { Store } from '../src/engine/store/store.js';
import { type BrowserApp, describeInChromium, openAppTab, screenshot, settled, startBrowserApp } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = process.env.LOOKALIKE_ACT_SHOTS ?? join(ROOT, 'test-results', 'screenshots');
const POLL = { timeout: 120_000, interval: 250 };
const shot = (page: Page, name: string) => screenshot(page, SHOTS, name);

/**
 * A write of labels to folders that was killed between giving a photo its new name and removing the
 * old one: the journal has the plan, the file is at both names. Made by hand, as a crash leaves it.
 */
async function leaveAWriteHalfDone(dbPath: string, root: string): Promise<void> {
  const store = Store.open(dbPath);
  try {
    const { libraryId } = await openLibrary({ store }, root);
    const photo = store.photos(libraryId).find((p) => p.relPath === 'circles/circles-01.jpg')!;
    changeLabels(store, libraryId, { kind: 'assign-photos', photoIds: [photo.id], className: 'stripes' });
    const move = (await previewLabelWrite(store, libraryId)).moves[0];
    store.moveJournal.begin({ libraryId, kind: 'write-labels', fromRoot: root, toRoot: root }, [
      { photoId: move.photoId, from: move.from, to: move.to, size: photo.size, labelBefore: 'stripes', labelAfter: null },
    ]);
    await link(join(root, move.from), join(root, move.to));
  } finally {
    store.close();
  }
}

describeInChromium('file moves in the app: a crash found at start, Duplicates moved out and put back', () => {
  let dir: string;
  let app: BrowserApp;
  let library: string;

  beforeAll(async () => {
    dir = realpathSync(await mkdtemp(join(tmpdir(), 'lookalike-e2e-moves-')));
    library = await makeSampleLibrary(join(dir, 'shapes'), { classes: ['circles', 'stripes'], perClass: 3, unlabelled: 0, seed: 5 });
    await cp(join(library, 'circles', 'circles-02.jpg'), join(library, 'stripes', 'copy.jpg'));
    await leaveAWriteHalfDone(join(dir, 'lookalike.db'), library);
    app = await startBrowserApp(dir, { libraryRoot: library });
  }, 300_000);

  afterAll(async () => {
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('says what it settled at start, then moves a copy out of the library and puts it back with Undo', { timeout: 600_000 }, async () => {
    const { page, errors } = await openAppTab(app);
    // The half-done move was finished at start (one file, in its class folder), and the app says so.
    const notice = page.locator('[data-testid=move-notice]');
    await expect.poll(() => notice.textContent(), POLL).toMatch(/Lookalike ended while writing labels to folders .*: 1 of 1 photos had been moved \(1 being moved then was finished\)/);
    expect(existsSync(join(library, 'circles', 'circles-01.jpg'))).toBe(false);
    expect(existsSync(join(library, 'stripes', 'circles-01.jpg'))).toBe(true);
    // The library's thumbnails are made after the recovery and the scan; on a loaded machine that takes a while.
    await page.waitForSelector('[data-testid=photo-tile] img', { timeout: 300_000 });
    await settled(page, 'body');
    await shot(page, 'moves-recovered-notice');

    await page.click('[data-testid=tab-duplicates]');
    await page.locator('[data-testid=duplicates-threshold]').fill('0');
    await expect.poll(() => page.locator('[data-testid=duplicate-group]').count(), { timeout: 300_000, interval: 500 }).toBe(1);
    const outside = join(dir, 'set-aside', 'copies');
    await page.fill('[data-testid=duplicates-folder]', outside);
    const group = page.locator('[data-testid=duplicate-group]');
    await group.locator('[data-testid=duplicate-photo][data-path="circles/circles-02.jpg"] [data-testid=duplicate-keep]').check();
    await group.locator('[data-testid=duplicate-move]').click();
    await expect.poll(() => page.textContent('[data-testid=duplicates-moved]'), POLL).toBe(`Moved 1 photo to ${outside}`);
    expect(await readdir(outside)).toEqual(['copy.jpg']);
    expect(existsSync(join(library, 'stripes', 'copy.jpg'))).toBe(false);
    // The copy is gone, so its group is: the view asks again and shows none (or, for a moment, the old list).
    await expect.poll(() => page.locator('[data-testid=duplicate-group]').count(), POLL).toBe(0);
    await settled(page, '[data-testid=duplicates-view]', { someImage: false });
    await shot(page, 'moves-duplicates-moved');

    await page.click('[data-testid=duplicates-undo]');
    await expect.poll(() => page.textContent('[data-testid=duplicates-moved]'), POLL).toBe('Put 1 photo back where it was');
    expect(existsSync(join(library, 'stripes', 'copy.jpg'))).toBe(true);
    expect(existsSync(join(dir, 'set-aside'))).toBe(false); // the folders the move made go with its undo
    await expect.poll(() => page.locator('[data-testid=duplicate-group]').count(), POLL).toBe(1);
    expect(await page.locator('[data-testid=duplicates-undo]').count()).toBe(0);
    await settled(page, '[data-testid=duplicates-view]');
    await shot(page, 'moves-duplicates-undone');
    expect(errors).toEqual([]);
    await page.close();
  });
});
