import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { PhotoItem } from '../src/shared/api.js';
import { copyFlowersLibrary, drawPhoto, drawTestLibrary, FLOWERS17 } from '../src/engine/testing/test-photos.js';
import { type BrowserApp, callApi, describeInChromium, openAppTab, openLibraryByPath, settled, startBrowserApp, trainTwoShortEpochs } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = process.env.LOOKALIKE_ACT_SHOTS ?? join(ROOT, 'test-results', 'screenshots');
/** Indexing and training share two cores with other work: state changes can take a while to show. */
const POLL = { timeout: 120_000, interval: 250 };

describeInChromium('marking wrong neighbours', () => {
  let dir: string;
  let library: string;
  let app: BrowserApp;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lookalike-e2e-marks-'));
    // Real photos where ../shared is there (nicer screenshots); else drawn ones: the behaviour is the same.
    library = existsSync(FLOWERS17)
      ? copyFlowersLibrary({ classes: ['bluebell', 'daisy', 'sunflower'], perClass: 8, offset: 20 })
      : await drawTestLibrary({ classes: ['circles', 'stars', 'stripes'], perClass: 8 });
    app = await startBrowserApp(dir, { reopenLast: false });
  });

  afterAll(async () => {
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    if (library) await rm(library, { recursive: true, force: true });
  });

  it('marks results as not similar (a click, the X key, one against a validation query), shows the count before Start, and the next run records 3 marks used', { timeout: 900_000 }, async () => {
    const { page, errors } = await openAppTab(app);
    await openLibraryByPath(page, library);
    await page.waitForSelector('[data-testid=class-row]', POLL);
    // The first training splits the photos into training and validation ones; marks are made after it.
    await trainTwoShortEpochs(page, POLL);
    expect(await page.getAttribute('[data-testid=run-row]', 'data-marks-used')).toBe('0');
    expect(await page.getAttribute('[data-testid=marks-note]', 'data-total')).toBe('0');

    const photos = ((await callApi(page, 'listPhotos', { offset: 0, limit: 100 })).body as { items: PhotoItem[] }).items;
    const byId = new Map(photos.map((p) => [p.id, p]));
    const query = photos.find((p) => p.split === 'train')!;
    await page.click('[data-testid=tab-library]');
    await page.locator(`[data-testid=photo-tile][data-photo-id="${query.id}"]`).click({ button: 'right' });
    await page.click('[data-testid=menu-find-similar]');
    await page.waitForSelector('[data-testid=similar-result]', POLL);
    const resultIds = await page.$$eval('[data-testid=similar-result]', (tiles) => tiles.map((t) => Number(t.getAttribute('data-photo-id'))));
    // True wrong neighbours: training photos of another class, nearest first.
    const [first, second, third, fourth] = resultIds.filter((id) => byId.get(id)!.className !== query.className && byId.get(id)!.split === 'train');
    const tile = (id: number) => page.locator(`[data-testid=similar-result][data-photo-id="${id}"]`);
    const markButton = (id: number) => page.locator(`li:has(> [data-testid=similar-result][data-photo-id="${id}"]) [data-testid=mark-not-similar]`);
    const marked = () => page.$$eval('[data-testid=similar-result][data-marked=true]', (tiles) => tiles.map((t) => Number(t.getAttribute('data-photo-id'))).sort((a, b) => a - b));

    // One by its ✕ button, one by the X key on the focused result.
    await markButton(first).click();
    await expect.poll(marked, POLL).toEqual([first]);
    await tile(second).focus();
    await page.keyboard.press('x');
    await expect.poll(marked, POLL).toEqual([first, second].sort((a, b) => a - b));
    expect(await page.getAttribute('[data-testid=marked-count]', 'data-count')).toBe('2');
    expect(await tile(first).textContent()).toContain('Not similar');
    expect(await markButton(first).getAttribute('aria-pressed')).toBe('true');
    // A second press unmarks.
    await tile(third).focus();
    await page.keyboard.press('x');
    await expect.poll(marked, POLL).toHaveLength(3);
    await page.keyboard.press('x');
    await expect.poll(marked, POLL).toEqual([first, second].sort((a, b) => a - b));
    // X on a selected result marks every selected one, and unmarks them all again.
    await tile(third).click();
    await tile(fourth).click({ modifiers: ['Control'] });
    await expect.poll(() => page.textContent('[data-testid=label-selection-results] [data-testid=selected-count]'), POLL).toBe('2');
    await page.keyboard.press('x');
    await expect.poll(marked, POLL).toEqual([first, second, third, fourth].sort((a, b) => a - b));
    await page.keyboard.press('x');
    await expect.poll(marked, POLL).toEqual([first, second].sort((a, b) => a - b));
    await page.click('[data-testid=label-selection-results] [data-testid=clear-selection]');
    await page.mouse.move(0, 0);
    await settled(page, '[data-testid=similar-results]');
    await mkdir(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, 'marks-similar.png') });

    // The same calls through the bridge: the marks are stored, and bad input is the person's mistake.
    expect((await callApi(page, 'marks', { queryPhotoId: query.id })).body).toMatchObject({ marked: [first, second].sort((a, b) => a - b), total: 2, usable: 2 });
    expect(await callApi(page, 'markNotSimilar', { queryPhotoId: query.id, photoId: query.id, marked: true })).toMatchObject({ status: 400, body: { kind: 'invalid-input' } });
    expect(await callApi(page, 'markNotSimilar', { queryPhotoId: query.id, photoId: 987654, marked: true })).toMatchObject({ status: 404, body: { kind: 'not-found', error: 'no photo 987654 in this library' } });

    // An image from outside the library cannot carry marks: the ✕ is disabled and says why.
    const outside = await drawPhoto(join(dir, 'outside.jpg'));
    await page.setInputFiles('[data-testid=open-image-input]', outside);
    await expect.poll(() => page.getAttribute('[data-testid=mark-not-similar] >> nth=0', 'aria-disabled'), POLL).toBe('true');
    expect(await page.getAttribute('[data-testid=mark-not-similar] >> nth=0', 'title')).toContain('an image from outside it cannot be stored');
    expect(await page.textContent('[data-testid=mark-hint]')).toContain('Marks need a query photo from the library');

    // A mark against a validation query (a worst query of the Per-class table is one) counts too: its training partner trains against a stand-in.
    const validationQuery = photos.find((p) => p.split === 'validation')!;
    const otherClassTraining = photos.find((p) => p.split === 'train' && p.className !== validationQuery.className)!;
    await page.click('[data-testid=tab-library]');
    await page.locator(`[data-testid=photo-tile][data-photo-id="${validationQuery.id}"]`).click({ button: 'right' });
    await page.click('[data-testid=menu-find-similar]');
    await page.waitForSelector(`[data-testid=similar-result][data-photo-id="${otherClassTraining.id}"]`, POLL);
    await markButton(otherClassTraining.id).click();
    await expect.poll(marked, POLL).toEqual([otherClassTraining.id]);
    expect((await callApi(page, 'marks', {})).body).toMatchObject({ total: 3, usable: 3, standIn: 1 });

    // Before Start, the Train view says how many marks the next training uses, and how the validation one is used; the run records them.
    await page.click('[data-testid=tab-train]');
    await expect.poll(() => page.getAttribute('[data-testid=marks-note]', 'data-usable'), POLL).toBe('3');
    expect(await page.textContent('[data-testid=marks-note]')).toContain('3 marked pairs will be used as hard negatives');
    expect(await page.textContent('[data-testid=marks-stand-in]')).toContain('1 with a validation photo: that photo is not trained on');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'marks-train.png') });
    await trainTwoShortEpochs(page, POLL);
    await expect.poll(() => page.getAttribute('[data-testid=run-row] >> nth=0', 'data-marks-used'), POLL).toBe('3');
    expect(await page.textContent('[data-testid=run-row] >> nth=0')).toContain('3 marked pairs');
    await page.click('[data-testid=run-row] >> nth=0');
    await expect.poll(() => page.textContent('[data-testid=run-settings]'), POLL).toContain('3 marked pairs as hard negatives');
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(SHOTS, 'marks-run.png') });
    const runs = (await callApi(page, 'listRuns', {})).body as Array<{ marksUsed: number | null }>;
    expect(runs.map((r) => r.marksUsed)).toEqual([3, 0]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
