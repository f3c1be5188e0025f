import { availableParallelism } from 'node:os';

// Imported first by the Electron entry, as bin/lookalike.js does for the CLI: sharp decodes on
// libuv's thread pool (4 threads unless told), which is sized once, at its first use. Whether
// Electron used the pool before this module ran has not been checked (no Electron binary here).
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));
