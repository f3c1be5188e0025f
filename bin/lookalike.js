#!/usr/bin/env node
import { availableParallelism } from 'node:os';

// sharp decodes on libuv's thread pool (4 threads unless told): one per core, so that decoding keeps
// up with a backbone on the GPU. Read once, at the pool's first use, so set before anything loads.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));

// The CLI is compiled by `npm run build:node` (run by `npm ci`/`npm install` through `prepare`).
import('../out/node/cli/index.js')
  .then((cli) => cli.main(process.argv.slice(2)))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((error) => {
    if (error && error.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('out/node/cli')) {
      console.error('lookalike: the CLI is not built yet; run `npm run build:node` first.');
    } else {
      console.error(error);
    }
    process.exitCode = 1;
  });
