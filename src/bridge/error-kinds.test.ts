import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineService } from '../engine/jobs/service/service-contract.js';
import { createThreadedEngineService } from '../engine/jobs/service/service-thread.js';
import { drawTestLibrary } from '../engine/testing/test-photos.js';
import { startBridge, TOKEN_HEADER, type Bridge } from './server.js';

// The real engine on its thread behind the real bridge: the status a person's mistake gets.
let work: string;
let root: string;
let service: EngineService;
let bridge: Bridge;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'lookalike-kinds-'));
  root = await drawTestLibrary({ classes: ['circles', 'stripes'], perClass: 3 });
  mkdirSync(join(work, 'renderer'));
  writeFileSync(join(work, 'renderer', 'index.html'), '<!doctype html><title>Lookalike</title>');
  service = await createThreadedEngineService({ dbPath: join(work, 'l.db'), cacheDir: join(work, 'cache'), reopenLast: false });
  bridge = await startBridge({ service, rendererDir: join(work, 'renderer'), cacheDir: join(work, 'cache') });
});
afterAll(async () => {
  // Setup may have failed part-way: close and remove only what was made.
  await bridge?.close();
  await service?.close();
  for (const dir of [root, work]) if (dir) rmSync(dir, { recursive: true, force: true });
});

async function call(name: string, arg: unknown): Promise<{ status: number; body: { error?: string; kind?: string } & Record<string, unknown> }> {
  const response = await fetch(`http://${bridge.host}:${bridge.port}/api/${name}`, {
    method: 'POST',
    headers: { [TOKEN_HEADER]: bridge.token, 'content-type': 'application/json' },
    body: JSON.stringify(arg),
  });
  return { status: response.status, body: (await response.json()) as { error?: string; kind?: string } };
}

describe('error kinds from the engine thread through the bridge', () => {
  it('answers the person’s mistakes with 4xx and the engine’s message', async () => {
    expect(await call('listPhotos', { offset: 0, limit: 5 })).toEqual({ status: 409, body: { kind: 'conflict', error: 'open a library folder first' } });

    const missing = await call('openLibrary', { root: join(work, 'no-such-folder') });
    expect(missing).toEqual({ status: 404, body: { kind: 'not-found', error: `${join(work, 'no-such-folder')}: folder not found` } });

    const relative = await call('openLibrary', { root: 'Pictures/holiday' });
    expect(relative.status).toBe(400);
    expect(relative.body).toMatchObject({ kind: 'invalid-input', error: expect.stringMatching(/^Pictures\/holiday: give the full path/) });

    // ~ is the home folder of the user running the engine, not a folder named "~".
    const tilde = await call('openLibrary', { root: '~/lookalike-no-such-folder' });
    expect(tilde).toEqual({ status: 404, body: { kind: 'not-found', error: `${join(homedir(), 'lookalike-no-such-folder')}: folder not found` } });

    const indexed = new Promise<void>((resolve) => service.subscribe((e) => e.type === 'job' && e.job.kind === 'index' && e.job.state === 'done' && resolve()));
    expect((await call('openLibrary', { root })).status).toBe(200);
    await indexed;
    const photos = (await call('listPhotos', { offset: 0, limit: 1 })).body as unknown as { items: Array<{ id: number }> };
    const photoId = photos.items[0].id;

    const badK = await call('findSimilar', { photoId, k: -1 });
    expect(badK).toEqual({ status: 400, body: { kind: 'invalid-input', error: 'k must be a positive whole number (got -1)' } });
    const noPhoto = await call('findSimilar', { photoId: 999_999, k: 5 });
    expect(noPhoto).toEqual({ status: 404, body: { kind: 'not-found', error: 'no photo 999999 in this library' } });
    const textAsJpeg = await call('findSimilar', { imageBase64: Buffer.from('just some notes').toString('base64'), fileName: 'notes.jpg', k: 5 });
    expect(textAsJpeg.status).toBe(400);
    expect(textAsJpeg.body).toMatchObject({ kind: 'invalid-input', error: expect.stringMatching(/^notes\.jpg: not a supported image/) });
    const badGap = await call('startTraining', { gap: 0 });
    expect(badGap.status).toBe(400);
    expect(badGap.body).toMatchObject({ kind: 'invalid-input', error: expect.stringMatching(/^gap g must be a positive number.*\(got 0\)$/) });

    // And a good call still works after them all.
    expect((await call('findSimilar', { photoId, k: 3 })).status).toBe(200);
  });

  it('lists folders for the browser’s folder picker, with the breadcrumb and the libraries opened before', async () => {
    const listing = await call('listFolders', { path: root });
    expect(listing.status).toBe(200);
    expect(listing.body).toMatchObject({
      path: root,
      folders: [
        { name: 'circles', path: join(root, 'circles') },
        { name: 'stripes', path: join(root, 'stripes') },
      ],
      recent: [{ path: root }],
    });
    const crumbs = listing.body.crumbs as Array<{ path: string }>;
    expect(crumbs[0].path).toBe('/');
    expect(crumbs.at(-1)!.path).toBe(root);
    expect((await call('listFolders', {})).body.path).toBe(homedir());
    expect((await call('listFolders', { path: join(root, 'circles', 'circles-01.jpg') })).body.kind).toBe('invalid-input');
  });
});
