import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { noCycleRule } from './no-cycle.js';

let folder: string;
beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'lookalike-no-cycle-'));
});
afterEach(() => rmSync(folder, { recursive: true, force: true }));

const write = (files: Record<string, string>) => {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(folder, name), text);
};

/** Lints the folder with the rule alone and returns "file:line message" for each problem. */
async function lint(): Promise<string[]> {
  const eslint = new ESLint({
    cwd: folder,
    overrideConfigFile: true,
    overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser }, plugins: { cycles: { rules: { 'no-cycle': noCycleRule } } }, rules: { 'cycles/no-cycle': 'error' } }],
  });
  const results = await eslint.lintFiles(['.']);
  return results.flatMap((result) => result.messages.map((message) => `${result.filePath.slice(folder.length + 1)}:${message.line} ${message.message}`)).sort();
}

describe('the no-cycle lint rule', () => {
  it('reports each import of a cycle with its chain, type-only imports and `.svelte` names for `.svelte.ts` included', async () => {
    write({
      'app.svelte.ts': "import { Marks } from './marks.svelte';\nexport const app = new Marks();\n",
      'marks.svelte.ts': "import type { Notice } from './notices.js';\nexport class Marks { notice: Notice | null = null; }\n",
      'notices.ts': "import type { app } from './app.svelte';\nexport type Notice = typeof app;\n",
      'apart.ts': "import { app } from './app.svelte';\nexport const alsoApp = app;\n",
    });
    expect(await lint()).toEqual([
      'app.svelte.ts:1 Import cycle: app.svelte.ts -> marks.svelte.ts -> notices.ts -> app.svelte.ts. Move what both need into a module of its own.',
      'marks.svelte.ts:1 Import cycle: marks.svelte.ts -> notices.ts -> app.svelte.ts -> marks.svelte.ts. Move what both need into a module of its own.',
      'notices.ts:1 Import cycle: notices.ts -> app.svelte.ts -> marks.svelte.ts -> notices.ts. Move what both need into a module of its own.',
    ]);
  });

  it('is quiet once the cycle is broken, re-reading a module whose file changed, and ignores dynamic import()', async () => {
    write({
      'trainer.ts': "import { runEpochs } from './epoch-loop.js';\nexport const train = runEpochs;\n",
      'epoch-loop.ts': "import type { train } from './trainer.js';\nexport const runEpochs = (): typeof train | null => null;\n",
    });
    expect(await lint()).toHaveLength(2);
    write({ 'epoch-loop.ts': "export const runEpochs = async () => (await import('./trainer.js')).train;\n" });
    // A later mtime than the first read's, whatever the file system's clock resolution.
    utimesSync(join(folder, 'epoch-loop.ts'), new Date(), new Date(Date.now() + 5_000));
    expect(await lint()).toEqual([]);
  });
});
