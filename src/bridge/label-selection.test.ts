import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngineService, type EngineService } from '../engine/jobs/service/service.js';
import { drawPhoto } from '../engine/testing/test-photos.js';
import type { LabelsResult } from '../shared/api.js';
import { MAX_LABELLED_PHOTOS } from '../shared/settings.js';
import { startBridge, type Bridge } from './server.js';

let work: string;
let root: string;
let service: EngineService;
let bridge: Bridge;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'lookalike-bridge-labels-'));
  root = join(work, 'photos');
  // A library as large as a selection may be: one small real JPEG, copied (only the paths differ).
  const photo = await drawPhoto(join(work, 'one.jpg'), 16, 12);
  for (const folder of ['cats', 'dogs']) {
    mkdirSync(join(root, folder), { recursive: true });
    for (let i = 0; i < MAX_LABELLED_PHOTOS / 2 + 5; i++) copyFileSync(photo, join(root, folder, `${folder}-${i}.jpg`));
  }
  mkdirSync(join(work, 'renderer'));
  service = await createEngineService({ dbPath: join(work, 'l.db'), cacheDir: join(work, 'cache'), libraryRoot: root });
  bridge = await startBridge({ service, rendererDir: join(work, 'renderer') });
}, 600_000);
afterAll(async () => {
  await bridge?.close();
  await service?.close();
  rmSync(work, { recursive: true, force: true });
});

/** A call as the browser page makes it (JSON body, the token the page was given). */
function call(name: string, arg: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(arg);
    const req = request(
      { host: bridge.host, port: bridge.port, path: `/api/${name}`, method: 'POST', headers: { 'x-lookalike-token': bridge.token, 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('labelling a large selection through the bridge', () => {
  it(`puts ${MAX_LABELLED_PHOTOS} selected photos in a class in one call`, async () => {
    const { items, total } = (await call('listPhotos', { offset: 0, limit: 1000 })).body as { items: Array<{ id: number }>; total: number };
    expect(total).toBe(MAX_LABELLED_PHOTOS + 10);
    const first = items[0].id;
    // The selection as the grid holds it: ids, here the library's first 20,000.
    const photoIds = Array.from({ length: MAX_LABELLED_PHOTOS }, (_, i) => first + i);
    expect(JSON.stringify(photoIds).length).toBeGreaterThan(64 * 1024);
    const reply = await call('changeLabels', { kind: 'assign-photos', photoIds, className: 'pets' });
    expect(reply.status, JSON.stringify(reply.body).slice(0, 300)).toBe(200);
    const { library, labels } = reply.body as LabelsResult;
    expect(library.classes.find((c) => c.name === 'pets')?.photoCount).toBe(MAX_LABELLED_PHOTOS);
    expect(labels.photoLabels).toBe(MAX_LABELLED_PHOTOS);
    expect(labels.lastChange).toBe(`Put ${MAX_LABELLED_PHOTOS} photos in new class "pets"`);

    // One more than a change may name is refused by the engine, in words (not by the body limit).
    const tooMany = await call('changeLabels', { kind: 'unassign-photos', photoIds: [...photoIds, first + MAX_LABELLED_PHOTOS] });
    expect(tooMany).toEqual({ status: 400, body: expect.objectContaining({ kind: 'invalid-input', error: `at most ${MAX_LABELLED_PHOTOS} photos per change (${MAX_LABELLED_PHOTOS + 1} selected)` }) });
  });

  it('answers wrong types in label calls with a 400 naming the thing, not a 500', async () => {
    expect(await call('changeLabels', { kind: 'exclude-folder', folder: { name: 'cats' } })).toEqual({
      status: 400,
      body: expect.objectContaining({ kind: 'invalid-input', error: 'the folder ("folder" of the exclude-folder change) must be text (got an object)' }),
    });
    expect(await call('writeLabels', { fingerprint: { x: 1 } })).toEqual({
      status: 400,
      body: expect.objectContaining({ kind: 'invalid-input', error: expect.stringMatching(/needs the fingerprint of the preview it follows \(got an object\)/) }),
    });
    expect(await call('writeLabels', null)).toMatchObject({ status: 400, body: { kind: 'invalid-input' } });
  });
});
