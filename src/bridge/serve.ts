import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createThreadedEngineService } from '../engine/jobs/service/service-thread.js';
import { userCacheDir } from '../engine/common/paths.js';
import { startBridge } from './server.js';

export interface ServeOptions {
  dbPath?: string;
  /** 0 or absent: any free port. */
  port?: number;
  /** A library folder to open at start. */
  libraryRoot?: string;
  /** The built renderer; default out/renderer of this package. */
  rendererDir?: string;
  cacheDir?: string;
  /** Where the URL line goes; default stdout. */
  log?: (line: string) => void;
}

export interface Serving {
  url: string;
  close(): Promise<void>;
}

/** The built renderer beside this module: out/renderer from out/node/bridge (built) or src/bridge (tsx, tests). */
export function defaultRendererDir(): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [resolve(here, '..', '..', 'renderer'), resolve(here, '..', '..', 'out', 'renderer')]) {
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  return null;
}

/** `lookalike serve`: the engine behind the local bridge, for a browser on this machine. */
export async function serve(options: ServeOptions = {}): Promise<Serving> {
  const rendererDir = options.rendererDir ?? defaultRendererDir();
  if (!rendererDir || !existsSync(join(rendererDir, 'index.html'))) {
    throw new Error(`the app is not built (no ${rendererDir ?? 'out/renderer'}/index.html); run \`npm run build\` first`);
  }
  const cacheDir = options.cacheDir ?? userCacheDir();
  const service = await createThreadedEngineService({ dbPath: options.dbPath, cacheDir, libraryRoot: options.libraryRoot });
  let bridge;
  try {
    bridge = await startBridge({ service, port: options.port, rendererDir, cacheDir });
  } catch (error) {
    await service.close();
    throw error;
  }
  (options.log ?? ((line: string) => console.log(line)))(`Lookalike is running at ${bridge.url}\n(only this computer can reach it; the token in the address is the key; Ctrl+C stops it)`);
  const open = bridge;
  return {
    url: open.url,
    async close() {
      await open.close();
      await service.close();
    },
  };
}
