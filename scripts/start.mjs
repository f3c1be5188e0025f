#!/usr/bin/env node
// `npm start`: builds, draws the sample library once, then opens the app: the Electron window where
// Electron is installed, otherwise the same UI served to a browser by the local bridge.
import { spawnSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

const run = (command, args, options = {}) => {
  const result = spawnSync(command, args, { stdio: 'inherit', shell: process.platform === 'win32', ...options });
  if (result.status !== 0) process.exit(result.status ?? 1);
};

const dataDir = process.env.LOOKALIKE_HOME ?? join(process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'lookalike');
const library = process.argv[2] ?? join(dataDir, 'sample-library');

run('npm', ['run', 'build']);
if (!existsSync(library)) run(process.execPath, ['bin/lookalike.js', 'sample', library]);

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

if (electronBinary && !process.env.LOOKALIKE_BROWSER) {
  ensureNativeModulesForElectron(electronBinary);
  console.log(`Opening Lookalike on ${library}`);
  spawn(electronBinary, ['.'], { stdio: 'inherit', env: { ...process.env, LOOKALIKE_LIBRARY: library } }).on('exit', (code) => process.exit(code ?? 0));
} else {
  console.log('Electron is not installed here: serving the same UI to your browser instead.');
  spawn(process.execPath, ['bin/lookalike.js', 'serve', library], { stdio: 'inherit' }).on('exit', (code) => process.exit(code ?? 0));
}
