import { cp, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exportModel, packHeadWeights } from '../src/engine/jobs/models/model-transfer.js';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { Store } from '../src/engine/store/store.js';
import { BUILTIN_BACKBONE } from '../src/shared/builtin-backbone.js';
import { type BrowserApp, classCounts, describeInChromium, openAppTab, openLibraryByPath, screenshot, settled, startBrowserApp } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = process.env.LOOKALIKE_ACT_SHOTS ?? join(ROOT, 'test-results', 'screenshots');
const POLL = { timeout: 180_000, interval: 250 };
const HEAD = { inputDim: 1792, dim: 8, hidden: 0, normalize: true };
const BUILTIN = { kind: 'builtin', id: BUILTIN_BACKBONE.id };

/** A trained model row (a linear head on the built-in backbone's features), as training or an import stores it. */
function addModel(store: Store, libraryId: number, name: string, config: Record<string, unknown>, weights?: Buffer): number {
  const kernel = Float32Array.from({ length: HEAD.inputDim * HEAD.dim }, (_, i) => Math.sin(i * 0.37));
  return store.createModel({
    libraryId,
    name,
    kind: 'trained',
    backbone: BUILTIN_BACKBONE.id,
    backboneDim: HEAD.inputDim,
    dim: HEAD.dim,
    config: { head: HEAD, backboneSpec: BUILTIN, settings: null, ...config },
    runId: null,
    weights: weights ?? packHeadWeights({ config: HEAD, layers: [{ kernel, bias: new Float32Array(HEAD.dim), inputs: HEAD.inputDim, units: HEAD.dim }] }),
  });
}

describeInChromium('models from elsewhere in the app', () => {
  let dir: string;
  let app: BrowserApp;
  let library: string;
  let exported: string;
  let tampered: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lookalike-e2e-models-'));
    library = await makeSampleLibrary(join(dir, 'shapes'), { classes: ['circles', 'squares'], perClass: 4, unlabelled: 0, seed: 5 });
    // An export from a colleague's library of cats and dogs.
    const source = Store.open(join(dir, 'colleague.db'));
    try {
      await mkdir(join(dir, 'colleague'));
      const theirs = source.upsertLibrary(join(dir, 'colleague'));
      const modelId = addModel(source, theirs, 'Trained run 7', { classes: [{ name: 'cats', photoCount: 20 }, { name: 'dogs', photoCount: 20 }] });
      exported = join(dir, 'from-colleague');
      await exportModel(source, modelId, exported);
    } finally {
      source.close();
    }
    tampered = join(dir, 'tampered');
    await cp(exported, tampered, { recursive: true });
    const card = JSON.parse(await readFile(join(tampered, 'card.json'), 'utf8')) as { files: { tfjs: string } };
    card.files.tfjs = '../../../../../../../../etc/passwd';
    await writeFile(join(tampered, 'card.json'), JSON.stringify(card));
    // This library already holds a model whose stored weights are damaged: it cannot run.
    const own = Store.open(join(dir, 'lookalike.db'));
    try {
      addModel(own, own.upsertLibrary(await realpath(library)), 'Trained run 1', {}, Buffer.from([255, 255, 255, 0, 1, 2]));
    } finally {
      own.close();
    }
    app = await startBrowserApp(dir, { reopenLast: false });
  });

  afterAll(async () => {
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const modelRows = (page: Page) => page.$$eval('[data-testid=model-row]', (rows) => rows.map((r) => r.textContent?.replace(/\s+/g, ' ').trim() ?? ''));

  it('shows a broken model with its reason, refuses a card pointing outside its folder, imports without switching Find similar, and removes a model', { timeout: 600_000 }, async () => {
    const { page, errors } = await openAppTab(app);
    await openLibraryByPath(page, library);
    await expect.poll(() => classCounts(page), POLL).toEqual({ circles: 4, squares: 4 });
    // Indexing goes on past the broken model, which the list shows with the reason.
    await page.waitForSelector('[data-testid=model-row-problem]', { timeout: POLL.timeout });
    expect((await modelRows(page))[0]).toBe('Trained run 1 broken Remove its stored weights are damaged and cannot be read; remove it, then train it again or import it again');

    await page.fill('[data-testid=import-model-source]', tampered);
    await page.click('[data-testid=import-model]');
    const refusal = (await page.waitForSelector('[data-testid=error]')).textContent();
    expect(await refusal).toMatch(/\/etc\/passwd: outside the folder it came with/);
    expect(await refusal).not.toMatch(/root:/);
    await page.click('[data-testid=error] button');

    await page.fill('[data-testid=import-model-source]', exported);
    await page.click('[data-testid=import-model]');
    const done = await page.waitForSelector('[data-testid=model-transfer-done]');
    expect(await done.textContent()).toBe(
      'Imported as "Imported: Trained run 7"; the library is being indexed with it. To search with it, pick it under Model in Find similar. Trained elsewhere on 2 classes ("cats", "dogs"); this library has 2 ("circles", "squares")',
    );
    await expect.poll(() => modelRows(page), POLL).toEqual([expect.stringMatching(/^Trained run 1 broken/), 'Imported: Trained run 7 imported Remove Trained elsewhere on 2 classes ("cats", "dogs"); this library has 2 ("circles", "squares")']);
    await page.mouse.move(0, 0);
    await shot(page, 'models-list');

    // Find similar stays on the untrained model until the person picks the imported one.
    await page.waitForSelector('[data-testid=photo-tile] img');
    await page.locator('[data-testid=photo-tile]').first().click({ button: 'right' });
    await page.click('[data-testid=menu-find-similar]');
    await page.waitForSelector('[data-testid=similar-result]');
    expect(await page.getAttribute('[data-testid=model-baseline]', 'aria-checked')).toBe('true');
    expect(await page.textContent('[data-testid=similar-summary]')).toContain('untrained backbone');
    await page.click('[data-testid=model-trained]');
    await expect.poll(() => page.textContent('[data-testid=similar-summary]'), POLL).toContain('trained model "Imported: Trained run 7"');
    const options = await page.$$eval('[data-testid=model-select] option', (all) => all.map((o) => ({ text: o.textContent, disabled: (o as HTMLOptionElement).disabled })));
    expect(options).toEqual([
      { text: 'Imported: Trained run 7', disabled: false },
      { text: 'Trained run 1 · broken', disabled: true },
    ]);
    expect(await page.textContent('[data-testid=model-class-note]')).toBe('Trained elsewhere on 2 classes ("cats", "dogs"); this library has 2 ("circles", "squares"): its idea of similar may not fit these photos.');
    await settled(page, '[data-testid=similar-view]');
    await shot(page, 'models-find-similar-imported');

    // Removed (Remove pressed twice): gone from the list and from Find similar, which falls back to the untrained model.
    await page.click('[data-testid=tab-library]');
    const imported = page.locator('[data-testid=model-row]', { hasText: 'Imported: Trained run 7' });
    await imported.locator('[data-testid=remove-model]').click();
    expect(await imported.locator('[data-testid=remove-model]').textContent()).toContain('Remove it?');
    await imported.locator('[data-testid=remove-model]').click();
    await expect.poll(() => modelRows(page), POLL).toEqual([expect.stringMatching(/^Trained run 1 broken/)]);
    await page.click('[data-testid=tab-similar]');
    expect(await page.getAttribute('[data-testid=model-baseline]', 'aria-checked')).toBe('true');
    expect(errors).toEqual([]);
    await page.close();
  });
});

const shot = (page: Page, name: string) => screenshot(page, SHOTS, name);
