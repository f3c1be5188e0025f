import { execFileSync } from 'node:child_process';
import { constants, closeSync, cpSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import type { HeadConfig } from '../../ml/training/head.js';
import { Store } from '../../store/store.js';
import { exportModel, importModel, packHeadWeights } from './model-transfer.js';

/**
 * An export is data from elsewhere: every way a card or its files can point outside the model folder,
 * hang a read, or blow up memory is refused with a 400 naming the file. The exports here come from a
 * real model row (random weights, no training needed) written by exportModel.
 */
const HEAD: HeadConfig = { inputDim: 1792, dim: 8, hidden: 0, normalize: true };

let work: string;
let store: Store;
let libraryId: number;
let exported: string;
let trainedId: number;
let copies = 0;
const fifos: string[] = [];

/** The parts of card.json the tests change. */
interface CardJson {
  version: number;
  fineTune?: Record<string, unknown>;
  exportedAt: string;
  backbone: string;
  settings: Record<string, unknown> | null;
  backboneSpec: Record<string, unknown>;
  head: Record<string, unknown>;
  files: Record<string, unknown>;
}

/** A fresh copy of the good export, changed by `tamper`. */
function tampered(tamper: (folder: string, card: CardJson) => void): string {
  const folder = join(work, `copy-${++copies}`);
  cpSync(exported, folder, { recursive: true });
  const card = JSON.parse(readFileSync(join(folder, 'card.json'), 'utf8'));
  tamper(folder, card);
  writeFileSync(join(folder, 'card.json'), JSON.stringify(card));
  return folder;
}

/** The refusal as "kind: message", and that no model was added. */
async function refusal(folder: string): Promise<string> {
  const before = store.models(libraryId).length;
  const message = await importModel(store, libraryId, folder).then(
    () => 'imported without refusal',
    (error: Error & { kind?: string }) => `${error.kind}: ${error.message}`,
  );
  expect(store.models(libraryId)).toHaveLength(before);
  return message;
}

describe('importing a model folder from elsewhere', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lookalike-import-guards-'));
    mkdirSync(join(work, 'library'));
    writeFileSync(join(work, 'secret.txt'), 'TOP-SECRET-LINE\n');
    store = Store.open(join(work, 'l.db'));
    libraryId = store.upsertLibrary(join(work, 'library'));
    const kernel = Float32Array.from({ length: HEAD.inputDim * HEAD.dim }, (_, i) => Math.sin(i));
    trainedId = store.createModel({
      libraryId,
      name: 'Trained run 1',
      kind: 'trained',
      backbone: BUILTIN_BACKBONE.id,
      backboneDim: HEAD.inputDim,
      dim: HEAD.dim,
      config: { head: HEAD, backboneSpec: { kind: 'builtin', id: BUILTIN_BACKBONE.id }, settings: null, classes: [{ name: 'cats', photoCount: 3 }] },
      runId: null,
      weights: packHeadWeights({ config: HEAD, layers: [{ kernel, bias: new Float32Array(HEAD.dim), inputs: HEAD.inputDim, units: HEAD.dim }] }),
    });
    exported = join(work, 'export');
    await exportModel(store, trainedId, exported);
  });
  afterAll(() => {
    // A read that did block on a pipe (the code before the fix) is released by a writer.
    for (const fifo of fifos) {
      try {
        closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // no reader waiting: nothing to release
      }
    }
    store?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('imports the untouched export, once', async () => {
    const other = store.upsertLibrary(join(work, 'other'));
    const { modelId, created } = await importModel(store, other, exported);
    expect(created).toBe(true);
    expect(store.model(modelId)).toMatchObject({ name: 'Imported: Trained run 1', backbone: BUILTIN_BACKBONE.id, dim: 8 });
    expect(await importModel(store, other, exported)).toEqual({ modelId, created: false });
    // Another export of the same name: a second model, told apart by its name.
    const second = await importModel(store, other, tampered((_, card) => (card.exportedAt = '2030-01-01T00:00:00.000Z')));
    expect(store.model(second.modelId)!.name).toBe('Imported: Trained run 1 (2)');
  });

  it('refuses a JSON file that is not a card without quoting it, and a card of an unknown version', async () => {
    const folder = tampered(() => undefined);
    writeFileSync(join(folder, 'card.json'), '{"format":"TOP-SECRET-LINE"}');
    const notCard = await refusal(folder);
    expect(notCard).toMatch(/card\.json: not a Lookalike model card \(its "format" is not "lookalike-model"\)$/);
    expect(await refusal(tampered((_, card) => (card.version = 9)))).toMatch(/card\.json: a Lookalike model card of version 9, which this Lookalike does not read \(it reads 1 to 2\)$/);
  });

  it('refuses a card naming ../../etc/passwd or an absolute path, without echoing the file', async () => {
    const climbing = await refusal(tampered((_, card) => (card.files.tfjs = '../../../../../../../../etc/passwd')));
    expect(climbing).toMatch(/^invalid-input: \/etc\/passwd: outside the folder it came with/);
    expect(climbing).not.toMatch(/root:/);
    expect(await refusal(tampered((_, card) => (card.files.tfjs = '/etc/passwd')))).toMatch(/^invalid-input: \/etc\/passwd: named by its full path/);
    const secret = await refusal(
      tampered((_, card) => {
        card.head.centre = { segments: [1792] };
        card.files.centre = '../secret.txt';
      }),
    );
    expect(secret).toMatch(/secret\.txt \(the card says the model centres its features on the mean kept in this file\): outside the folder it came with/);
    expect(secret).not.toMatch(/TOP-SECRET/);
  });

  it('refuses a file that is a symlink out of the folder, also to /dev/zero', async () => {
    const out = await refusal(
      tampered((folder) => {
        rmSync(join(folder, 'tfjs', 'model.json'));
        symlinkSync(join(exported, 'tfjs', 'model.json'), join(folder, 'tfjs', 'model.json'));
      }),
    );
    expect(out).toMatch(/^invalid-input: .*copy-\d+\/tfjs\/model\.json: outside the folder it came with/);
    const zero = await refusal(
      tampered((folder) => {
        rmSync(join(folder, 'tfjs', 'weights.bin'));
        symlinkSync('/dev/zero', join(folder, 'tfjs', 'weights.bin'));
      }),
    );
    expect(zero).toMatch(/tfjs\/weights\.bin: outside the folder it came with/);
  });

  it('refuses a weights file that is a named pipe, without hanging', async () => {
    const folder = tampered((dir) => {
      rmSync(join(dir, 'tfjs', 'weights.bin'));
      execFileSync('mkfifo', [join(dir, 'tfjs', 'weights.bin')]);
    });
    fifos.push(join(folder, 'tfjs', 'weights.bin'));
    const message = await Promise.race([refusal(folder), new Promise<string>((done) => setTimeout(() => done('still reading the pipe after 5 s'), 5000))]);
    expect(message).toMatch(/^invalid-input: .*tfjs\/weights\.bin: not a regular file \(a named pipe\)/);
  });

  it('refuses a huge (sparse) weights file before reading it: its limit comes from the card’s shapes', async () => {
    const message = await refusal(tampered((folder) => truncateSync(join(folder, 'tfjs', 'weights.bin'), 8 * 1024 ** 3)));
    // 1792 x 8 kernel + 8 bias, float32.
    expect(message).toMatch(/tfjs\/weights\.bin: 8\.0 GB, more than the 56\.0 KB the card's declared shapes take/);
  });

  it('refuses NaN or infinite weights, naming the weight (a NaN model answered every search with distance null)', async () => {
    const nan = await refusal(
      tampered((folder) => {
        const bytes = readFileSync(join(folder, 'tfjs', 'weights.bin'));
        bytes.writeFloatLE(Number.NaN, 40);
        writeFileSync(join(folder, 'tfjs', 'weights.bin'), bytes);
      }),
    );
    expect(nan).toMatch(/^invalid-input: .*tfjs\/weights\.bin: weight head_dense_0\/kernel holds NaN at position 10; a model's weights must be finite/);
    const infinite = await refusal(
      tampered((folder) => {
        const bytes = readFileSync(join(folder, 'tfjs', 'weights.bin'));
        bytes.writeFloatLE(Number.POSITIVE_INFINITY, bytes.length - 4);
        writeFileSync(join(folder, 'tfjs', 'weights.bin'), bytes);
      }),
    );
    expect(infinite).toMatch(/weight head_dense_0\/bias holds Infinity at position 7/);
  });

  it('refuses negative shapes, in the weights manifest and in the card, naming them', async () => {
    const manifest = await refusal(
      tampered((folder) => {
        const path = join(folder, 'tfjs', 'model.json');
        const json = JSON.parse(readFileSync(path, 'utf8'));
        json.weightsManifest[0].weights[0].shape = [-1792, -8];
        writeFileSync(path, JSON.stringify(json));
      }),
    );
    expect(manifest).toMatch(/^invalid-input: .*tfjs\/weights\.bin: weight head_dense_0\/kernel has shape \[-1792,-8\]; a shape is 2 whole non-negative numbers/);
    expect(await refusal(tampered((_, card) => (card.head.dim = -8)))).toMatch(/^invalid-input: .*card\.json: "head\.dim" is -8; it must be a whole number from 1/);
    expect(await refusal(tampered((_, card) => (card.head.inputDim = 1000)))).toMatch(/"head\.inputDim" is 1000, but backbone nsfwjs-mobilenetv2-1\.4 gives 1792 values/);
    expect(await refusal(tampered((_, card) => (card.settings = { validationFraction: -2 })))).toMatch(/^invalid-input: .*card\.json: "settings": .*validation/i);
  });

  it('refuses a fine-tuned card whose backbone graph declares absurd or negative weight shapes, before reading its weights', async () => {
    const fineTuned = (shape: unknown) =>
      tampered((folder, card) => {
        card.version = 2;
        card.fineTune = { mode: 'last-blocks', blocks: 1, cutNode: 'block_16', crop: 6, mirror: true };
        card.files.backbone = 'tfjs-backbone/model.json';
        mkdirSync(join(folder, 'tfjs-backbone'));
        writeFileSync(join(folder, 'tfjs-backbone', 'model.json'), JSON.stringify({ format: 'graph-model', weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'block_16/kernel', shape, dtype: 'float32' }] }] }));
        writeFileSync(join(folder, 'tfjs-backbone', 'weights.bin'), Buffer.alloc(16));
      });
    expect(await refusal(fineTuned([100_000, 100_000]))).toMatch(/^invalid-input: .*tfjs-backbone\/model\.json: declares 37\.3 GB of weights, more than any backbone Lookalike exports$/);
    expect(await refusal(fineTuned([-2, 2]))).toMatch(/^invalid-input: .*tfjs-backbone\/model\.json: weight block_16\/kernel has shape \[-2,2\]; a shape is a list of whole non-negative numbers$/);
  });

  it('refuses a fine-tuned multi-scale card whose cut lies below block 13, with the settings\' sentence', async () => {
    const scales = ['block10-expand', 'block13-expand'];
    const below = await refusal(
      tampered((_, card) => {
        card.version = 2;
        card.backboneSpec = { kind: 'builtin', id: BUILTIN_BACKBONE.id, scales };
        card.backbone = [BUILTIN_BACKBONE.id, ...scales].join('+');
        card.head.inputDim = 528 + 816 + 1792;
        card.fineTune = { mode: 'last-blocks', blocks: 4, cutNode: 'block_13', crop: 6, mirror: true };
      }),
    );
    expect(below).toMatch(/^invalid-input: .*card\.json: multi-scale features pool block 13, which fine-tuning 4 blocks would train; fine-tune at most 3 blocks with them/);
  });

  it('refuses a card whose backbone is a URL or a folder this library does not use: nothing is fetched or opened', async () => {
    const url = await refusal(
      tampered((_, card) => {
        card.backboneSpec = { kind: 'url', url: 'http://127.0.0.1:9/backbone.zip', sha256: '00', inputRange: '0,1', inputSize: 224 };
        card.backbone = 'url:http://127.0.0.1:9/backbone.zip=sha256:00';
      }),
    );
    expect(url).toMatch(/^invalid-input: .*card\.json: the model runs on backbone "url:http:\/\/127\.0\.0\.1:9\/backbone\.zip=sha256:00", which is neither built in nor one this library uses/);
    const folder = await refusal(
      tampered((_, card) => {
        card.backboneSpec = { kind: 'folder', path: join(work, 'elsewhere'), inputRange: '0,1', inputSize: 224 };
        card.backbone = `folder:${join(work, 'elsewhere')}`;
      }),
    );
    expect(folder).toMatch(/which is neither built in nor one this library uses; a model card never makes Lookalike open a folder or download a file/);
    expect(await refusal(tampered((_, card) => (card.backboneSpec.scales = ['../../etc'])))).toMatch(/backbone layers \["\.\.\/\.\.\/etc"\] are not layers of the built-in backbone/);
  });

  it('accepts a folder backbone this library already uses, and keeps the library’s own copy of it', async () => {
    const spec = { kind: 'folder', path: join(work, 'my-backbone'), inputRange: '0,1', inputSize: 224 };
    const key = `folder:${spec.path}`;
    const lib = store.upsertLibrary(join(work, 'third'));
    store.createModel({ libraryId: lib, name: `Untrained ${key}`, kind: 'baseline', backbone: key, backboneDim: 1792, dim: 1792, config: { backboneSpec: spec }, runId: null });
    const folder = tampered((_, card) => {
      card.backboneSpec = { ...spec, inputRange: '-1,1' };
      card.backbone = key;
    });
    const { modelId } = await importModel(store, lib, folder);
    expect(store.model(modelId)!.config.backboneSpec).toEqual(spec);
  });

  it('exports only to a new or empty folder: a file, /dev/null, a NUL byte or a non-string is a 400 naming it', async () => {
    const said = (folder: unknown) =>
      exportModel(store, trainedId, folder).then(
        () => 'exported',
        (error: Error & { kind?: string }) => `${error.kind}: ${error.message}`,
      );
    writeFileSync(join(work, 'a-file'), 'keep me');
    expect(await said(join(work, 'a-file'))).toMatch(/^invalid-input: .*a-file: a file is there, not a folder/);
    expect(readFileSync(join(work, 'a-file'), 'utf8')).toBe('keep me');
    expect(await said('/dev/null')).toMatch(/^invalid-input: \/dev\/null: a device or special file is there, not a folder/);
    expect(await said(join(work, 'bad\0name'))).toMatch(/^invalid-input: .*bad\\\\0name.*the path holds a NUL character/);
    expect(await said(42)).toBe('invalid-input: the export folder must be given as a path (got number)');
    expect(await said(null)).toBe('invalid-input: the export folder must be given as a path (got null)');
    symlinkSync(join(work, 'library'), join(work, 'link-to-folder'));
    expect(await said(join(work, 'link-to-folder'))).toMatch(/link-to-folder: a link, not a folder/);
  });

  it('writes the export privately, 0600 files in 0700 folders, whatever the umask', async () => {
    for (const umask of [0o000, 0o022, 0o277]) {
      const previous = process.umask(umask);
      try {
        const folder = join(work, `private-${umask.toString(8)}`);
        const { files } = await exportModel(store, trainedId, folder);
        for (const dir of [folder, join(folder, 'tfjs')]) expect([umask, dir, (statSync(dir).mode & 0o777).toString(8)]).toEqual([umask, dir, '700']);
        for (const file of files) expect([umask, file, (statSync(join(folder, file)).mode & 0o777).toString(8)]).toEqual([umask, file, '600']);
      } finally {
        process.umask(previous);
      }
    }
  });
});
