import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, expect, it } from 'vitest';

// The compiled engine, as the app and the CLI load it (`npm test` builds it first).
const BACKEND = pathToFileURL(resolve(__dirname, '../../../../out/node/engine/ml/runtime/compute-backend.js')).href;
const dir = mkdtempSync(join(tmpdir(), 'lookalike-gpu-probe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A machine whose Vulkan driver manifest names a driver that is not there: Dawn and the loader complain on stderr. */
function chooseBackend(env: Record<string, string>) {
  const manifest = join(dir, 'broken-icd.json');
  writeFileSync(manifest, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: join(dir, 'no-such-driver.so'), api_version: '1.3.0' } }));
  const script = `import(${JSON.stringify(BACKEND)}).then(async (m) => { const b = await m.selectBackend(); process.stdout.write(b.name + ': ' + b.reason); })`;
  const env2 = { ...process.env, VK_ICD_FILENAMES: manifest, LOOKALIKE_BACKEND: '', ...env };
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: env2 });
}

it.skipIf(process.platform !== 'linux')('passes over a GPU that is not there quietly; its warnings only with LOOKALIKE_VERBOSE', () => {
  const quiet = chooseBackend({});
  expect(quiet.status, quiet.stderr).toBe(0);
  expect(quiet.stdout).toMatch(/webgpu: dawn\.node found no adapter/);
  expect(quiet.stderr).toBe('');
  const verbose = chooseBackend({ LOOKALIKE_VERBOSE: '1' });
  expect(verbose.stderr).toMatch(/GPU probe \(dawn\.node\) said:\n[\s\S]*vkCreateInstance/);
});
