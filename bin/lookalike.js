#!/usr/bin/env node
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
