import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { createThreadedEngineService } from '../src/engine/jobs/service-thread.js';
import type { EngineService, EngineServiceOptions } from '../src/engine/jobs/service-contract.js';
import { startBridge, type Bridge } from '../src/bridge/server.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Builds the renderer from the current sources with the app's own Vite config, into `outDir`. */
export async function buildRenderer(outDir: string): Promise<void> {
  const [{ build, mergeConfig }, config] = await Promise.all([import('vite'), import('../electron.vite.config.js')]);
  const renderer = (config.default as { renderer: Record<string, unknown> }).renderer;
  await build(mergeConfig(renderer, { configFile: false, logLevel: 'warn', build: { outDir, emptyOutDir: true } }));
}

export interface BrowserApp {
  service: EngineService;
  bridge: Bridge;
  browser: Browser;
  /** Closes the browser, the bridge and the engine (what was started); removes nothing. */
  close(): Promise<void>;
}

/**
 * The app as a person meets it in a browser: the renderer built into `dir`, the engine on its own
 * thread with its database and thumbnail cache in `dir`, the bridge in front, and Debian's Chromium.
 */
export async function startBrowserApp(dir: string, options: Omit<EngineServiceOptions, 'dbPath' | 'cacheDir'> = {}): Promise<BrowserApp> {
  const rendererDir = join(dir, 'renderer');
  await buildRenderer(rendererDir);
  const cacheDir = join(dir, 'cache');
  const service = await createThreadedEngineService({ ...options, dbPath: join(dir, 'lookalike.db'), cacheDir });
  const bridge = await startBridge({ service, rendererDir, cacheDir }).catch(async (error: unknown) => {
    await service.close();
    throw error;
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }).catch(async (error: unknown) => {
    await bridge.close();
    await service.close();
    throw error;
  });
  return {
    service,
    bridge,
    browser,
    async close() {
      await browser.close();
      await bridge.close();
      await service.close();
    },
  };
}
