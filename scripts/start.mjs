#!/usr/bin/env node
// `npm start [-- <folder> | --sample [folder]] [--verbose]`: builds (only when the sources changed
// since the last build), then opens the app on the folder: the Electron window where Electron is
// installed, otherwise the same UI served to a browser by the local bridge. With no folder it opens
// the sample library in the app's own data folder, drawing it there the first time.
import { spawnSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const fail = (message) => {
  console.error(`lookalike: ${message}`);
  process.exit(1);
};

const run = (command, args, options = {}) => {
  const result = spawnSync(command, args, { stdio: 'inherit', shell: process.platform === 'win32', ...options });
  if (result.status !== 0) process.exit(result.status ?? 1);
};

let parsed;
try {
  parsed = parseArgs({ options: { sample: { type: 'boolean' }, verbose: { type: 'boolean' } }, allowPositionals: true, strict: true });
} catch (error) {
  fail(`${error.message}\nusage: npm start [-- <folder of photos> | --sample [folder]] [--verbose]`);
}
if (parsed.positionals.length > 1) fail('give one folder of photos (put it in quotes if its name has spaces)');

const dataDir = process.env.LOOKALIKE_HOME ?? join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'lookalike');
const given = parsed.positionals[0] === undefined ? undefined : resolve(parsed.positionals[0]);
const library = given ?? join(dataDir, 'sample-library');
// The sample library is drawn only where asked (--sample) or in the app's own data folder: a
// mistyped folder is an error, never a new folder of drawn photos.
const drawSample = !existsSync(library) && (parsed.values.sample || given === undefined);
if (!drawSample && !statSync(library, { throwIfNoEntry: false })?.isDirectory()) {
  fail(`${library}: ${existsSync(library) ? 'not a folder' : 'folder not found'}; check the name, or run \`npm start -- --sample\` to try the app on a drawn sample library`);
}

/** What the build is made from: a fingerprint of every source and config file's path, size and time. */
function sourceFingerprint() {
  const hash = createHash('sha256');
  const add = (path) => {
    const info = statSync(path, { throwIfNoEntry: false });
    if (!info) return;
    if (info.isDirectory()) {
      for (const name of readdirSync(path).sort()) add(join(path, name));
    } else hash.update(`${path}\0${info.size}\0${info.mtimeMs}\n`);
  };
  for (const path of ['src', 'resources', 'package.json', 'package-lock.json', 'electron.vite.config.ts', 'svelte.config.js', 'tsconfig.base.json', 'tsconfig.node.json', 'tsconfig.web.json']) add(path);
  return hash.digest('hex');
}

/** `npm run build`, its output shown only when it fails (or with --verbose). */
function buildQuietly() {
  if (parsed.values.verbose) return run('npm', ['run', 'build']);
  const result = spawnSync('npm', ['run', '--silent', 'build'], { encoding: 'utf8', shell: process.platform === 'win32', maxBuffer: 64 * 1024 * 1024 });
  if (result.status === 0) return;
  process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
  fail('the build failed (its output is above)');
}

const BUILD_STAMP = join('out', '.start-build-stamp');
const BUILT = ['out/node/cli/index.js', 'out/renderer/index.html', 'out/main/index.js'];
const fingerprint = sourceFingerprint();
const stamp = existsSync(BUILD_STAMP) ? readFileSync(BUILD_STAMP, 'utf8') : null;
if (stamp === fingerprint && BUILT.every((path) => existsSync(path))) {
  console.log('Sources unchanged since the last build: starting it.');
} else {
  console.log(`Building the app (${stamp === null ? 'first start' : 'the sources changed'}; this takes a minute or two)…`);
  buildQuietly();
  writeFileSync(BUILD_STAMP, fingerprint);
}

if (drawSample) {
  console.log(`Drawing a sample library in ${library}…`);
  run(process.execPath, ['bin/lookalike.js', 'sample', library], { stdio: ['ignore', 'ignore', 'inherit'] });
}

const electronBinary = (() => {
  try {
    const path = createRequire(import.meta.url)('electron');
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
})();

/**
 * Native modules are built for Node (tests, CLI). Electron has its own ABI: where better-sqlite3 does
 * not load inside Electron, rebuild it for Electron (this fetches Electron's headers, so it needs the
 * internet); `npm rebuild better-sqlite3` switches back for Node.
 */
function ensureNativeModulesForElectron(binary) {
  const probe = spawnSync(binary, ['-e', "require('better-sqlite3')(':memory:').close()"], { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
  if (probe.status === 0) return;
  console.log('Rebuilding better-sqlite3 for Electron (run `npm rebuild better-sqlite3` before `npm test` afterwards)…');
  run('npx', ['--yes', '@electron/rebuild', '--only', 'better-sqlite3']);
}

const env = { ...process.env, ...(parsed.values.verbose ? { LOOKALIKE_VERBOSE: '1' } : {}) };
if (electronBinary && !process.env.LOOKALIKE_BROWSER) {
  ensureNativeModulesForElectron(electronBinary);
  console.log(`Opening Lookalike on ${library}`);
  spawn(electronBinary, ['.'], { stdio: 'inherit', env: { ...env, LOOKALIKE_LIBRARY: library } }).on('exit', (code) => process.exit(code ?? 0));
} else {
  if (!process.env.LOOKALIKE_BROWSER) console.log('Electron is not installed here: serving the same UI to your browser instead.');
  const serving = spawn(process.execPath, ['bin/lookalike.js', 'serve', library], { stdio: 'inherit', env });
  serving.on('exit', (code) => process.exit(code ?? 0));
  // Ctrl+C reaches the server too (same terminal); a plain kill of this script stops it as well.
  process.once('SIGTERM', () => serving.kill('SIGTERM'));
}
