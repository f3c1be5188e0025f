import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/**
 * Fetches a TF.js model (model.json and its weight shards) once into a cache folder, for stronger
 * backbones on machines with internet. The checksum covers model.json and every shard in manifest
 * order; nothing is cached unless it matches, and a cached copy is checked again before use.
 */
export async function downloadModel(url: string, sha256: string, cacheRoot: string): Promise<string> {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`${url}: a downloaded backbone needs its sha256 (64 hex digits)`);
  const folder = join(cacheRoot, sha256);
  if (existsSync(join(folder, 'model.json')) && (await digestOfFolder(folder)) === sha256) return folder;

  const modelJson = await fetchBytes(url);
  const manifest = parseManifest(modelJson, url);
  const shards: Array<{ name: string; bytes: Buffer }> = [];
  for (const path of manifest) shards.push({ name: safeName(path, url), bytes: await fetchBytes(new URL(path, url).href) });
  const actual = digest([modelJson, ...shards.map((s) => s.bytes)]);
  if (actual !== sha256) throw new Error(`${url}: checksum mismatch (expected ${sha256}, got ${actual}); nothing was cached`);

  // Written beside the final folder, then renamed: a half-written cache is never taken for a whole one.
  const partial = `${folder}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  await writeFile(join(partial, 'model.json'), modelJson);
  for (const shard of shards) await writeFile(join(partial, shard.name), shard.bytes);
  await rm(folder, { recursive: true, force: true });
  await rename(partial, folder);
  return folder;
}

async function digestOfFolder(folder: string): Promise<string> {
  const modelJson = await readFile(join(folder, 'model.json'));
  const shards = await Promise.all(parseManifest(modelJson, folder).map((path) => readFile(join(folder, basename(path)))));
  return digest([modelJson, ...shards]);
}

function digest(parts: Buffer[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

function parseManifest(modelJson: Buffer, source: string): string[] {
  try {
    const parsed = JSON.parse(modelJson.toString('utf8')) as { weightsManifest: Array<{ paths: string[] }> };
    return parsed.weightsManifest.flatMap((group) => group.paths);
  } catch {
    throw new Error(`${source}: not a TF.js model.json`);
  }
}

/** Shards are stored flat by file name; a name that tries to leave the folder is refused. */
function safeName(path: string, url: string): string {
  const name = basename(path);
  if (name !== path.replace(/^\.\//, '') || name === '..' || name === '.') throw new Error(`${url}: weight path "${path}" is not a plain file name`);
  return name;
}

async function fetchBytes(url: string): Promise<Buffer> {
  let response: Response;
  try {
    response = await fetch(url, { redirect: 'follow' });
  } catch (error) {
    throw new Error(`${url}: cannot download (${(error as Error).message})`);
  }
  if (!response.ok) throw new Error(`${url}: download failed (HTTP ${response.status})`);
  return Buffer.from(await response.arrayBuffer());
}
