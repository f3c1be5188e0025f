import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SAMPLE_CLASSES } from '../src/engine/library/sample-library.js';
import { CHROMIUM, describeInChromium } from './harness.js';

const ROOT = join(import.meta.dirname, '..');
const START = join(ROOT, 'scripts', 'start.mjs');

/** `npm start` as a person runs it (in browser mode, with its own data folder): its output until the URL line, and a way to stop it. */
function start(home: string): Promise<{ output: string; url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [START], { cwd: ROOT, detached: true, env: { ...process.env, LOOKALIKE_HOME: home, LOOKALIKE_BROWSER: '1' } });
  let output = '';
  return new Promise((resolve, reject) => {
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const url = /running at (http\S+)/.exec(output)?.[1];
      const stop = () =>
        new Promise<void>((stopped) => {
          child.once('exit', () => stopped());
          process.kill(-child.pid!, 'SIGTERM');
        });
      if (url) resolve({ output, url, stop });
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => reject(new Error(`npm start ended (${code}) before serving:\n${output}`)));
  });
}

describeInChromium('npm start', () => {
  let home: string;
  let work: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'lookalike-e2e-start-home-'));
    work = await mkdtemp(join(tmpdir(), 'lookalike-e2e-start-'));
  });
  afterAll(async () => {
    for (const dir of [home, work]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a mistyped folder without drawing in it; with none, opens the sample library from its data folder, and reuses the build the second time', { timeout: 900_000 }, async () => {
    const typo = join(work, 'Pictres');
    const refused = spawnSync(process.execPath, [START, typo], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, LOOKALIKE_HOME: home } });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`${typo}: folder not found; check the name, or run \`npm start -- --sample\``);
    expect(existsSync(typo)).toBe(false);

    const first = await start(home);
    await first.stop();
    const second = await start(home);
    try {
      expect(second.output).toMatch(/^Sources unchanged since the last build: starting it\./);
      expect(existsSync(join(home, 'sample-library'))).toBe(true);
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
      try {
        const page = await browser.newPage();
        await page.goto(second.url);
        await page.waitForSelector('[data-testid=class-row]', { timeout: 120_000 });
        const classes = await page.$$eval('[data-testid=class-row]', (rows) => rows.map((r) => r.getAttribute('data-class-name')).sort());
        expect(classes).toEqual([...SAMPLE_CLASSES].sort());
      } finally {
        await browser.close();
      }
    } finally {
      await second.stop();
    }
  });
});
