import { dirname, relative, resolve } from 'node:path';
import svelte from 'eslint-plugin-svelte';
import tseslint from 'typescript-eslint';
import svelteConfig from './svelte.config.js';
import { noCycleRule } from './lint/no-cycle.js';

/**
 * The house's walls, declared once: what each folder of src/ may import from besides itself (a
 * folder or a single module, without its extension). Data flows one way: folder -> engine -> API ->
 * UI. Test files may also import the engine's test helpers (src/engine/testing).
 */
const LAYERS = {
  'src/shared': [],
  'src/engine/common': ['src/shared'],
  'src/engine/library': ['src/shared', 'src/engine/common'],
  'src/engine/store': ['src/shared', 'src/engine/common', 'src/engine/library'],
  'src/engine/ml': ['src/shared', 'src/engine/common', 'src/engine/library'],
  'src/engine/jobs': ['src/shared', 'src/engine/common', 'src/engine/library', 'src/engine/ml', 'src/engine/store'],
  'src/engine/testing': ['src/shared', 'src/engine/common', 'src/engine/library', 'src/engine/ml'],
  // The CLI comes in through the engine's one door.
  'src/cli': ['src/shared', 'src/engine/index'],
  'src/bridge': ['src/shared', 'src/engine/jobs', 'src/engine/common'],
  'src/main': ['src/shared', 'src/engine/jobs', 'src/engine/common', 'src/preload/contract'],
  'src/preload': ['src/shared'],
  'src/renderer': ['src/shared', 'src/preload/contract'],
};
const TEST_HELPERS = 'src/engine/testing';
const ROOT = import.meta.dirname;

const within = (path, folder) => path === folder || path.startsWith(`${folder}/`);
const layerOf = (path) => Object.keys(LAYERS).filter((layer) => within(path, layer)).sort((a, b) => b.length - a.length)[0];

/** A tiny local rule, after VS Code's code-layering: an import across folders must be listed in LAYERS. */
const layersRule = {
  meta: { type: 'problem', schema: [], messages: { wall: '{{from}} may not import {{to}} (allowed: {{allowed}}; see LAYERS in eslint.config.js)' } },
  create(context) {
    const file = relative(ROOT, context.filename).split('\\').join('/');
    const from = layerOf(file);
    if (!from) return {};
    const check = (node, source) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const target = relative(ROOT, resolve(dirname(context.filename), source)).split('\\').join('/').replace(/\.(js|ts|svelte)$/, '');
      const to = layerOf(target);
      if (!to || to === from) return;
      const allowed = [...LAYERS[from], ...(/\.test\.ts$/.test(file) ? [TEST_HELPERS] : [])];
      if (allowed.some((folder) => within(target, folder))) return;
      context.report({ node, messageId: 'wall', data: { from, to: target, allowed: allowed.join(', ') || 'nothing outside it' } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
      TSImportType: (node) => check(node, node.argument?.literal?.value ?? node.argument?.value),
    };
  },
};

export default tseslint.config(
  { ignores: ['out/**', 'dist/**', 'node_modules/**', 'bin/**', 'test-results/**', '.cache/**', '.gpu/**'] },
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'], svelteConfig } },
  },
  {
    files: ['src/**/*.ts', 'src/**/*.svelte'],
    plugins: { local: { rules: { layers: layersRule } } },
    rules: { 'local/layers': 'error' },
  },
  {
    files: ['**/*.ts', '**/*.svelte'],
    plugins: { cycles: { rules: { 'no-cycle': noCycleRule } } },
    rules: { 'cycles/no-cycle': 'error' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['src/engine/**/*.ts', 'src/cli/**/*.ts', 'src/shared/**/*.ts', 'src/bridge/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'The engine runs under plain Node: only src/main and src/preload may import electron.' }] }],
    },
  },
  {
    // The renderer is a web page: it reaches the engine only through a Transport.
    files: ['src/renderer/**/*.ts', 'src/renderer/**/*.svelte'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'electron', message: 'The renderer talks to the engine through a Transport only.' }], patterns: ['**/engine/**', 'node:*'] }],
    },
  },
);
