import { join } from 'node:path';
import { expect, it } from 'vitest';
import { makeSampleLibrary } from '../src/engine/library/sample-library.js';
import { MODE_LEAVES_OUT } from '../src/shared/settings.js';
import { appForSuite, callApi, classCounts, describeInChromium, openAppTab, openLibraryByPath, screenshot } from './harness.js';

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
    await screenshot(page, SHOTS, 'train-form-last-blocks');

    // Another backbone: last blocks go off, with why, and the form goes back to the head.
    await page.fill('[data-testid=setting-backbone]', '/models/elsewhere');
    await expect.poll(() => page.inputValue('[data-testid=setting-fineTune]'), POLL).toBe('head');
    expect(await page.locator('[data-testid=setting-fineTune] option[value=last-blocks]').isDisabled()).toBe(true);
    expect(await page.textContent('[data-testid=fineTune-last-blocks-note]')).toContain('last-blocks fine-tuning is built for the built-in backbone');
    expect(await page.locator('[data-testid=sampling-mode-note]').count()).toBe(0);
    await screenshot(page, SHOTS, 'train-form-other-backbone');
    expect(errors).toEqual([]);
  });
});
