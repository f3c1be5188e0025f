import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts the module `name` that sits beside `callerUrl` (pass `import.meta.url`) on a worker thread:
 * `name.js` from the build; from TypeScript sources (tests, tsx) the thread first registers tsx's
 * loader, then imports `name.ts`.
 */
export function startModuleWorker(callerUrl: string, name: string, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, callerUrl), options);
  const source = new URL(`./${name}.ts`, callerUrl).href;
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
