import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'electron-vite';
import type { Plugin } from 'vite';
import { contentSecurityPolicy } from './src/shared/csp.js';
import { PHOTO_SCHEME } from './src/preload/contract.js';

/** The page's CSP as a <meta> tag, from the one definition the Electron shell and the bridge also use. */
function cspMetaTag(): Plugin {
  return {
    name: 'lookalike-csp',
    transformIndexHtml: () => [
      { tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: contentSecurityPolicy({ images: [`${PHOTO_SCHEME}:`] }) }, injectTo: 'head-prepend' },
    ],
  };
}

// The Electron binary is optional (it cannot be downloaded everywhere, CI included). electron-vite
// reads the Electron version to pick build targets; when electron is not installed, take the major
// version we declare in package.json so that `npm run build` works without it.
const declared = (JSON.parse(readFileSync(resolve(import.meta.dirname, 'package.json'), 'utf8')) as { optionalDependencies?: Record<string, string> })
  .optionalDependencies?.electron;
process.env.ELECTRON_MAJOR_VER ||= /(\d+)/.exec(declared ?? '')?.[1] ?? '41';

export default defineConfig({
  main: {
    build: {
      target: 'node22',
      // The engine is not bundled: main imports its Node build (out/node) at run time, because its
      // feature workers are separate files.
      externalizeDeps: true,
    },
  },
  preload: {
    build: {
      target: 'node22',
      // A sandboxed preload is one CommonJS file with nothing to require but electron.
      externalizeDeps: false,
      rolldownOptions: { output: { format: 'cjs', entryFileNames: '[name].cjs' } },
    },
  },
  renderer: {
    root: resolve(import.meta.dirname, 'src/renderer'),
    plugins: [cspMetaTag(), svelte({ configFile: resolve(import.meta.dirname, 'svelte.config.js') })],
    build: {
      target: 'chrome120',
      minify: true,
      outDir: resolve(import.meta.dirname, 'out/renderer'),
      rolldownOptions: { input: resolve(import.meta.dirname, 'src/renderer/index.html') },
    },
  },
});
