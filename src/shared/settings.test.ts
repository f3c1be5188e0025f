import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SETTINGS,
  MODE_EPOCHS,
  NUMBER_RULES,
  SettingsError,
  checkK,
  numberProblem,
  resolveSettings,
  settingsProblem,
  trainabilityProblem,
  trainableClasses,
  trainingProblem,
  validationK,
} from './settings.js';

describe('the settings rulebook', () => {
  it('passes its own defaults, and fills them in for what is not given', () => {
    expect(settingsProblem({ ...DEFAULT_SETTINGS })).toBeNull();
    expect(resolveSettings({})).toEqual(DEFAULT_SETTINGS);
    expect(resolveSettings({ gap: 0.5, epochs: undefined })).toEqual({ ...DEFAULT_SETTINGS, gap: 0.5 });
  });

  it('refuses a gap that is not positive (or absurdly large), naming it and the value', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 101]) {
      expect(() => resolveSettings({ gap: bad })).toThrow(new RegExp(`^gap g must be a positive number, at most 100 \\(got ${bad}\\)$`));
    }
    expect(resolveSettings({ gap: 0.1 }).gap).toBe(0.1);
    expect(resolveSettings({ gap: 100 }).gap).toBe(100);
  });

  it('refuses each numeric setting outside its limits with a SettingsError (a RangeError: bad usage, not a failure)', () => {
    const bad: Array<[keyof typeof NUMBER_RULES, unknown, RegExp]> = [
      ['epochs', 0, /^epochs must be a positive whole number/],
      ['epochs', 2.5, /^epochs must be a positive whole number/],
      ['epochs', 1001, /at most 1000/],
      ['batchSize', 0, /^batch size must be/],
      ['learningRate', 0, /^learning rate must be a positive number/],
      ['learningRate', 1.5, /^learning rate must be/],
      ['dim', -3, /^embedding size must be/],
      ['validationFraction', 1, /^validation fraction must be between 0 and 1/],
      ['validationFraction', 0, /^validation fraction must be between 0 and 1/],
      ['seed', 0.5, /^seed must be a whole number/],
      ['tripletsPerEpoch', -1, /^triplets per epoch must be 0 \(8 per training photo\)/],
      ['epochs', '5', /^epochs must be .* \(got 5\)$/], // a string from a careless client is not a number
    ];
    for (const [key, value, message] of bad) {
      let thrown: unknown;
      try {
        resolveSettings({ [key]: value });
      } catch (error) {
        thrown = error;
      }
      expect(thrown, `${key} = ${String(value)}`).toBeInstanceOf(SettingsError);
      expect(thrown).toBeInstanceOf(RangeError);
      expect((thrown as Error).message).toMatch(message);
    }
  });

  it('accepts each limit itself where the rule allows it', () => {
    expect(resolveSettings({ epochs: 1, batchSize: 4096, tripletsPerEpoch: 0, learningRate: 1, seed: -7 })).toMatchObject({ epochs: 1, batchSize: 4096, tripletsPerEpoch: 0, learningRate: 1, seed: -7 });
  });

  it('refuses an unknown fine-tune mode and an empty backbone, and trims the backbone', () => {
    expect(() => resolveSettings({ fineTune: 'everything' as never })).toThrow(/^fine-tune must be "head" or "last-blocks" or "full" \(got "everything"\)$/);
    expect(() => resolveSettings({ backbone: '  ' })).toThrow(/^backbone must be "nsfwjs-mobilenetv2-1.4", a TF.js model folder or a model URL/);
    expect(resolveSettings({ backbone: ' models/m#out@-1,1 ' }).backbone).toBe('models/m#out@-1,1');
  });

  it('uses multi-scale features by default where they apply, final features elsewhere, and refuses multi-scale where it cannot run', () => {
    expect(DEFAULT_SETTINGS.features).toBe('multi-scale');
    expect(resolveSettings({}).features).toBe('multi-scale');
    expect(resolveSettings({ backbone: 'models/m#out@-1,1' }).features).toBe('final');
    expect(resolveSettings({ fineTune: 'full' }).features).toBe('final');
    expect(resolveSettings({ features: 'final' }).features).toBe('final');
    expect(() => resolveSettings({ backbone: 'models/m#out@-1,1', features: 'multi-scale' })).toThrow(
      /^multi-scale features are defined for the built-in backbone \(nsfwjs-mobilenetv2-1.4\) only; use features "final" with models\/m#out@-1,1$/,
    );
    expect(() => resolveSettings({ fineTune: 'full', features: 'multi-scale' })).toThrow(/^multi-scale features pool blocks 10 and 13, which full fine-tuning trains/);
    expect(() => resolveSettings({ features: 'all' as never })).toThrow(SettingsError);
    expect(() => resolveSettings({ features: 'all' as never })).toThrow(/^features must be "final" or "multi-scale" \(got "all"\)$/);
  });

  it('drops keys it does not know, so they cannot end up in a stored run', () => {
    const resolved = resolveSettings({ gap: 2, surprise: 1 } as never);
    expect(Object.keys(resolved).sort()).toEqual(Object.keys(DEFAULT_SETTINGS).sort());
  });

  it('gives the form the same verdict as the engine, value by value', () => {
    for (const [key, rule] of Object.entries(NUMBER_RULES)) {
      for (const value of [-1, 0, 0.5, 1, 2, 1000, 5000]) {
        const formSays = numberProblem(rule, value);
        const engineSays = settingsProblem({ ...DEFAULT_SETTINGS, [key]: value });
        expect(engineSays === null, `${key} = ${value}`).toBe(formSays === null);
      }
    }
  });

  it('checks k', () => {
    expect(checkK(5)).toBe(5);
    for (const bad of [0, -3, 1.5, Number.NaN]) expect(() => checkK(bad)).toThrow(/^k must be a positive whole number/);
  });
});

describe('what a library needs to be trained on', () => {
  it('needs 2 classes with 2+ photos each', () => {
    expect(trainabilityProblem([{ photoCount: 2 }, { photoCount: 2 }])).toBeNull();
    expect(trainabilityProblem([{ photoCount: 9 }, { photoCount: 1 }, { photoCount: 0 }])).toMatch(/^training needs at least 2 classes with 2 or more photos each \(this library has 1\)/);
    expect(trainabilityProblem([])).toMatch(/has 0/);
    expect(trainableClasses([{ name: 'a', photoCount: 1 }, { name: 'b', photoCount: 3 }]).map((c) => c.name)).toEqual(['b']);
  });

  it('scores small libraries at k = the smallest training class, large ones at 30', () => {
    // 10 photos at 0.2 -> 2 held out, 8 train; the class of 1 photo is not trainable and is left out.
    expect(validationK([{ photoCount: 10 }, { photoCount: 40 }, { photoCount: 1 }], 0.2)).toBe(8);
    expect(validationK([{ photoCount: 80 }, { photoCount: 80 }], 0.2)).toBe(30);
    expect(validationK([{ photoCount: 2 }, { photoCount: 2 }], 0.5)).toBe(1);
  });
});

describe('what this machine and backbone can train (trainingProblem, asked at Start)', () => {
  const cpu = { name: 'wasm', gpu: false };
  const gpu = { name: 'tensorflow-gpu', gpu: true };

  it('refuses full fine-tuning on a CPU backend and allows it on a GPU, or on WebGPU however its adapter came', () => {
    const full = resolveSettings({ fineTune: 'full' });
    expect(trainingProblem(full, { backend: cpu })).toMatch(/^full fine-tuning needs a GPU backend; this machine runs wasm, where one epoch would take hours/);
    expect(trainingProblem(full, { backend: gpu })).toBeNull();
    expect(trainingProblem(full, { backend: { name: 'webgpu', gpu: false } })).toBeNull();
  });

  it('refuses fine-tuning another backbone than the built-in one, naming it; its head trains', () => {
    for (const fineTune of ['last-blocks', 'full'] as const) {
      const settings = resolveSettings({ fineTune, backbone: ' /models/m#out_relu ' });
      expect(trainingProblem(settings, { backend: gpu })).toBe(`${fineTune} fine-tuning is built for the built-in backbone (${DEFAULT_SETTINGS.backbone}) only; /models/m#out_relu can train its head (fine-tune head)`);
    }
    expect(trainingProblem(resolveSettings({ backbone: '/models/m' }), { backend: cpu })).toBeNull();
  });

  it('takes multi-scale features under last-blocks while the cut stays above block 13, and refuses them below it and with full', () => {
    expect(resolveSettings({ fineTune: 'last-blocks' }).features).toBe('multi-scale');
    expect(resolveSettings({ fineTune: 'last-blocks', fineTuneBlocks: 3 }).features).toBe('multi-scale');
    // Where they do not apply, the default features are the final pool, without a word.
    expect(resolveSettings({ fineTune: 'last-blocks', fineTuneBlocks: 4 }).features).toBe('final');
    expect(resolveSettings({ fineTune: 'full' }).features).toBe('final');
    expect(trainingProblem(resolveSettings({ fineTune: 'last-blocks' }), { backend: cpu })).toBeNull();
    // Asked for, or from settings that skipped resolveSettings (a stored run): refused with why.
    const below = { ...resolveSettings({ fineTune: 'last-blocks', fineTuneBlocks: 4 }), features: 'multi-scale' as const };
    expect(trainingProblem(below, { backend: cpu })).toBe('multi-scale features pool block 13, which fine-tuning 4 blocks would train; fine-tune at most 3 blocks with them, or use features "final"');
    expect(() => resolveSettings({ fineTune: 'last-blocks', fineTuneBlocks: 5, features: 'multi-scale' })).toThrow(/fine-tuning 5 blocks would train/);
    const full = { ...resolveSettings({ fineTune: 'full' }), features: 'multi-scale' as const };
    expect(trainingProblem(full, { backend: gpu })).toBe('multi-scale features pool blocks 10 and 13, which full fine-tuning trains; use features "final" with it');
    expect(trainingProblem(resolveSettings({}), { backend: cpu })).toBeNull();
  });

  it('gives each fine-tune mode its own default epochs, and keeps the epochs asked for', () => {
    expect(resolveSettings({}).epochs).toBe(DEFAULT_SETTINGS.epochs);
    expect(resolveSettings({ fineTune: 'last-blocks' }).epochs).toBe(MODE_EPOCHS['last-blocks']);
    expect(MODE_EPOCHS['last-blocks']).toBe(2);
    expect(resolveSettings({ fineTune: 'last-blocks', epochs: 7 }).epochs).toBe(7);
    expect(resolveSettings({ fineTune: 'full' }).epochs).toBe(DEFAULT_SETTINGS.epochs);
  });

  it('leaves the numbers to resolveSettings', () => {
    expect(() => resolveSettings({ fineTune: 'last-blocks', fineTuneBlocks: 18 })).toThrow(/from 0 to 17/);
    expect(() => resolveSettings({ fineTune: 'sideways' as never })).toThrow(/"head" or "last-blocks" or "full"/);
  });
});
