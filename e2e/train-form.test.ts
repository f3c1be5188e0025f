import { join } from 'node:path';
import { expect, it } from 'vitest';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { MODE_EPOCHS, MODE_LEAVES_OUT } from '../src/shared/settings.js';
import { appForSuite, callApi, classCounts, describeInChromium, openAppTab, openLibraryByPath, screenshot, settled, trainTwoShortEpochs } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const SHOTS = process.env.LOOKALIKE_ACT_SHOTS ?? join(ROOT, 'test-results', 'screenshots');
const POLL = { timeout: 120_000, interval: 250 };

describeInChromium('the Train form and the rule at Start', () => {
  const suite = appForSuite('e2e-train-form', async (dir) => ({
    library: await makeSampleLibrary(join(dir, 'shapes'), { classes: ['circles', 'stripes'], perClass: 4, unlabelled: 0, seed: 5 }),
  }));

  it("offers only the modes the engine's rule allows here, saying why, notes what a mode leaves out, and Start refuses the rest with a 400", { timeout: 600_000 }, async () => {
    const { page, errors } = await openAppTab(suite.app);
    await openLibraryByPath(page, suite.library);
    await expect.poll(() => classCounts(page), POLL).toEqual({ circles: 4, stripes: 4 });
    await page.click('[data-testid=tab-train]');
    const backend = (await callApi(page, 'status', null)).body as { backend: { name: string; gpu: boolean } | null };
    const onCpu = backend.backend !== null && !backend.backend.gpu && backend.backend.name !== 'webgpu';

    // The whole network: on a CPU backend, off with the engine's own sentence; the same request through the API is a 400 and makes no run.
    const fullOption = page.locator('[data-testid=setting-fineTune] option[value=full]');
    if (onCpu) {
      await expect.poll(() => fullOption.isDisabled(), POLL).toBe(true);
      expect(await page.textContent('[data-testid=fineTune-full-note]')).toContain(`full fine-tuning needs a GPU backend; this machine runs ${backend.backend!.name}`);
      const refused = await callApi(page, 'startTraining', { fineTune: 'full' });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ kind: 'invalid-input', error: expect.stringMatching(/^full fine-tuning needs a GPU backend/) });
      expect((await callApi(page, 'listRuns', {})).body).toEqual([]);
    }

    // Last blocks: the triplet choice and the marks train the blocks too, so the form has nothing to take back.
    expect(await page.locator('[data-testid=sampling-mode-note]').count()).toBe(0);
    await page.selectOption('[data-testid=setting-fineTune]', 'last-blocks');
    await expect.poll(() => page.inputValue('[data-testid=setting-fineTune]'), POLL).toBe('last-blocks');
    expect(MODE_LEAVES_OUT['last-blocks']).toBeNull();
    expect(await page.locator('[data-testid=sampling-mode-note]').count()).toBe(0);
    // Its own epochs come with the mode (the head's come back with the head); epochs the person typed stay.
    await expect.poll(() => page.inputValue('[data-testid=setting-epochs]'), POLL).toBe(String(MODE_EPOCHS['last-blocks']));
    expect(await page.textContent('[data-testid=fineTune-help]')).toContain('so Head only stays the default');
    // Multi-scale features with at most 3 blocks; past that the form goes to the final layer, saying why.
    expect(await page.inputValue('[data-testid=setting-features]')).toBe('multi-scale');
    await page.fill('[data-testid=setting-fineTuneBlocks]', '4');
    await expect.poll(() => page.inputValue('[data-testid=setting-features]'), POLL).toBe('final');
    expect(await page.textContent('[data-testid=features-multi-scale-note]')).toContain('fine-tune at most 3 blocks with them');
    await page.fill('[data-testid=setting-fineTuneBlocks]', '1');
    await page.selectOption('[data-testid=setting-features]', 'multi-scale');
    await screenshot(page, SHOTS, 'train-form-last-blocks');
    await page.selectOption('[data-testid=setting-fineTune]', 'head');
    await expect.poll(() => page.inputValue('[data-testid=setting-epochs]'), POLL).toBe(String(MODE_EPOCHS.head));
    await page.fill('[data-testid=setting-epochs]', '7');
    await page.selectOption('[data-testid=setting-fineTune]', 'last-blocks');
    await expect.poll(() => page.inputValue('[data-testid=setting-fineTune]'), POLL).toBe('last-blocks');
    expect(await page.inputValue('[data-testid=setting-epochs]')).toBe('7');

    // Another backbone: last blocks go off, with why, and the form goes back to the head.
    await page.fill('[data-testid=setting-backbone]', '/models/elsewhere');
    await expect.poll(() => page.inputValue('[data-testid=setting-fineTune]'), POLL).toBe('head');
    expect(await page.locator('[data-testid=setting-fineTune] option[value=last-blocks]').isDisabled()).toBe(true);
    expect(await page.textContent('[data-testid=fineTune-last-blocks-note]')).toContain('last-blocks fine-tuning is built for the built-in backbone');
    expect(await page.locator('[data-testid=sampling-mode-note]').count()).toBe(0);
    await screenshot(page, SHOTS, 'train-form-other-backbone');
    expect(errors).toEqual([]);
  });

  it('shows each mode’s time with where it comes from, from this machine once a run measured it, and a fine-tuned run beside its head alone', { timeout: 900_000 }, async () => {
    const { page, errors } = await openAppTab(suite.app);
    // Opened again, the library would be scanned again, and Start refused while the scan goes.
    if (((await callApi(page, 'status', null)).body as { library: unknown }).library === null) await openLibraryByPath(page, suite.library);
    await expect.poll(() => classCounts(page), POLL).toEqual({ circles: 4, stripes: 4 });
    await page.click('[data-testid=tab-train]');
    const source = (mode: string) => page.getAttribute(`[data-testid=mode-cost-${mode}]`, 'data-source');
    const row = (mode: string) => page.textContent(`[data-testid=mode-cost-${mode}]`);

    // No run yet: every mode that can run here is estimated from the reference machine's figures, and says so.
    await expect.poll(() => source('head'), POLL).toBe('reference');
    expect(await row('head')).toMatch(/Head only\s*(about \d+ (s|min)|under 1 s)\s*estimated/);
    expect(await source('last-blocks')).toBe('reference');
    expect(['unavailable', 'reference']).toContain(await source('full'));
    expect(await page.textContent('[data-testid=mode-costs]')).toContain('measured on a 2-core reference machine');
    await page.locator('[data-testid=mode-costs]').scrollIntoViewIfNeeded();
    await screenshot(page, SHOTS, 'train-form-costs-estimated');

    // A head run measures the features and the head: its estimate now rests on this machine, the features cached.
    await trainTwoShortEpochs(page, POLL);
    await expect.poll(() => source('head'), POLL).toBe('this-machine');
    expect(await row('head')).toContain('from your last run');
    expect(await page.textContent('[data-testid=mode-cost-parts]')).toContain('features cached');
    expect(await page.locator('[data-testid=run-head-alone]').count()).toBe(0); // a head run has nothing to compare with

    // A tiny last-blocks run (the final 1×1 conv, one short epoch): its card says how it compares with its head alone.
    await page.selectOption('[data-testid=setting-fineTune]', 'last-blocks');
    await page.fill('[data-testid=setting-fineTuneBlocks]', '0');
    await page.fill('[data-testid=setting-epochs]', '1');
    await page.fill('[data-testid=setting-tripletsPerEpoch]', '8');
    await page.fill('[data-testid=setting-batchSize]', '4');
    await expect.poll(() => page.isEnabled('[data-testid=train-start]'), POLL).toBe(true);
    await page.click('[data-testid=train-start]');
    await expect.poll(() => page.locator('[data-testid=run-head-alone]').count(), { timeout: 600_000, interval: 500 }).toBe(1);
    const versus = await page.textContent('[data-testid=run-row] >> nth=0 >> [data-testid=run-head-alone]');
    expect(versus).toMatch(/^P@\d+ \d\.\d{3} — the head alone on the same split: \d\.\d{3} \([+−]\d\.\d{3}\)$/);
    const runs = (await callApi(page, 'listRuns', {})).body as Array<{ settings: { fineTune: string }; headAlone: unknown }>;
    expect(runs.map((r) => [r.settings.fineTune, r.headAlone === null])).toEqual([
      ['last-blocks', false],
      ['head', true],
    ]);
    // The run measured the cut maps, the blocks and embedding through them: last-blocks is now from this machine too.
    await expect.poll(() => source('last-blocks'), POLL).toBe('this-machine');
    await page.locator('[data-testid=mode-costs]').scrollIntoViewIfNeeded();
    await settled(page, '[data-testid=past-runs]', { someImage: false });
    await screenshot(page, SHOTS, 'train-form-costs-measured');
    expect(errors).toEqual([]);
  });
});
