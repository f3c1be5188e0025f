import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_STATUS, toWireError } from '../../../shared/errors.js';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { Store } from '../../store/store.js';
import { packHeadWeights } from '../models/model-transfer.js';
import { createEngineService, type EngineService } from './service.js';

const HEAD = { inputDim: 1792, dim: 8, hidden: 0, normalize: true };

let work: string;
let library: string;
let service: EngineService;
let modelId: number;

/** The HTTP status and message the bridge would answer with. */
const answer = (call: Promise<unknown>) =>
  call.then(
    () => 'answered',
    (error: unknown) => {
      const wire = toWireError(error);
      return `${HTTP_STATUS[wire.kind]} ${wire.message}`;
    },
  );

describe('the models calls of the API', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lookalike-service-models-'));
    library = join(work, 'empty-library');
    mkdirSync(library);
    const store = Store.open(join(work, 'l.db'));
    try {
      const libraryId = store.upsertLibrary(realpathSync(library));
      const layers = [{ kernel: new Float32Array(HEAD.inputDim * HEAD.dim), bias: new Float32Array(HEAD.dim), inputs: HEAD.inputDim, units: HEAD.dim }];
      modelId = store.createModel({ libraryId, name: 'Trained run 1', kind: 'trained', backbone: BUILTIN_BACKBONE.id, backboneDim: HEAD.inputDim, dim: HEAD.dim, config: { head: HEAD, backboneSpec: { kind: 'builtin', id: BUILTIN_BACKBONE.id }, settings: null }, runId: null, weights: packHeadWeights({ config: HEAD, layers }) });
    } finally {
      store.close();
    }
    service = await createEngineService({ dbPath: join(work, 'l.db'), cacheDir: join(work, 'cache'), reopenLast: false });
    await service.handlers.openLibrary({ root: library });
  });
  afterAll(async () => {
    await service?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('exportModel: a file, /dev/null, a NUL byte or a non-string folder is a 400 naming it, not a 500 in Node’s words', async () => {
    const { exportModel } = service.handlers;
    writeFileSync(join(work, 'taken'), 'x');
    expect(await answer(exportModel({ modelId, folder: join(work, 'taken') }))).toMatch(/^400 .*taken: a file is there, not a folder/);
    expect(await answer(exportModel({ modelId, folder: '/dev/null' }))).toMatch(/^400 \/dev\/null: a device or special file is there/);
    expect(await answer(exportModel({ modelId, folder: `${work}/a\0b` }))).toMatch(/^400 .*the path holds a NUL character/);
    expect(await answer(exportModel({ modelId, folder: 7 as unknown as string }))).toBe('400 the export folder must be given as a path (got number)');
    expect(await answer(exportModel({ modelId, folder: join(work, 'out') }))).toBe('answered');
  });

  it('importModel: a relative path or nothing is a 400 saying what to give', async () => {
    const { importModel } = service.handlers;
    expect(await answer(importModel({ source: 'exports/model' }))).toMatch(/^400 exports\/model: give the full path of the folder/);
    expect(await answer(importModel({ source: 5 as unknown as string }))).toBe('400 choose an exported model folder (or its card.json)');
    expect(await answer(importModel({ source: join(work, 'nothing-here') }))).toMatch(/^404 .*nothing-here\/card\.json: no model card here/);
  });

  it('removeModel removes a model and answers with the models left; the untrained one stays', async () => {
    const { removeModel, listModels } = service.handlers;
    expect((await listModels()).map((m) => m.id)).toContain(modelId);
    expect((await removeModel({ modelId })).map((m) => m.id)).not.toContain(modelId);
    expect(await answer(removeModel({ modelId }))).toBe(`404 no model ${modelId} in this library`);
  });
});
