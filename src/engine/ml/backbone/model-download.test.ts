import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBackbone, parseBackboneSpec } from './backbone.js';
import { downloadModel } from './model-download.js';
import { TINY_FEATURE_DIM, TINY_FEATURE_LAYER, writeTinyLayersModel } from '../../testing/tiny-model.js';

/** The model the server publishes: a small one built for the test. */
let published: string;
let server: Server;
let base: string;
let cache: string;
const requests: string[] = [];

/** The checksum the user would publish: model.json then each shard, in manifest order. */
const expectedSha = () => {
  const hash = createHash('sha256').update(readFileSync(join(published, 'model.json')));
  hash.update(readFileSync(join(published, 'weights.bin')));
  return hash.digest('hex');
};

beforeAll(async () => {
  published = await writeTinyLayersModel();
  cache = mkdtempSync(join(tmpdir(), 'lookalike-dl-'));
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const name = (req.url ?? '').replace(/^\/models\//, '');
    if (!['model.json', 'weights.bin'].includes(name)) return void res.writeHead(404).end();
    // A file the server cannot read is answered (500), never left hanging.
    try {
      res.end(readFileSync(join(published, name)));
    } catch (error) {
      res.writeHead(500).end(String(error));
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/models`;
});
afterAll(() => {
  // Setup may have failed part-way: close and remove only what was made.
  server?.close();
  for (const dir of [published, cache]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('download-on-first-use backbones (against a local HTTP server)', () => {
  it('downloads once, verifies the checksum, and serves later loads from the cache', async () => {
    const folder = await downloadModel(`${base}/model.json`, expectedSha(), cache);
    expect(readdirSync(folder).sort()).toEqual(['model.json', 'weights.bin']);
    expect(requests).toEqual(['/models/model.json', '/models/weights.bin']);
    await downloadModel(`${base}/model.json`, expectedSha(), cache);
    expect(requests).toHaveLength(2);
  });

  it('refuses a wrong checksum and caches nothing', async () => {
    const wrong = '0'.repeat(64);
    await expect(downloadModel(`${base}/model.json`, wrong, cache)).rejects.toThrow(/checksum mismatch/);
    expect(readdirSync(cache)).not.toContain(wrong);
  });

  it('names the URL and the HTTP status when a file is missing', async () => {
    await expect(downloadModel(`${base}/nothing.json`, expectedSha().replace(/^./, (c) => (c === 'f' ? 'e' : 'f')), cache)).rejects.toThrow(/nothing.json: download failed \(HTTP 404\)/);
  });

  it('runs as a backbone named by URL, layer, range and checksum', async () => {
    process.env.LOOKALIKE_HOME = cache;
    try {
      const backbone = await loadBackbone(parseBackboneSpec(`${base}/model.json#${TINY_FEATURE_LAYER}@-1,1=sha256:${expectedSha()}`));
      expect(backbone.dim).toBe(TINY_FEATURE_DIM);
      backbone.dispose();
    } finally {
      delete process.env.LOOKALIKE_HOME;
    }
    expect(() => parseBackboneSpec(`${base}/model.json#out_relu@-1,1`)).toThrow(/needs its checksum/);
  });
});
