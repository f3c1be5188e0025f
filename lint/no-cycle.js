import { readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * A local ESLint rule: no module may import, directly or through others, a module that imports it
 * back. Type-only imports count too (they tie the two modules' designs together just the same);
 * dynamic `import()` does not (it is how a module loads another lazily). Other modules' imports are
 * read from disk and kept while their file's mtime is unchanged, so a lint run parses each once.
 */

const SCRIPT_BLOCK = /<script\b[^>]*>([\s\S]*?)<\/script>/g;
/** path -> { mtimeMs, targets }: the files a module imports, resolved. */
const importsByFile = new Map();

const modifiedAt = (path) => {
  try {
    const stat = statSync(path);
    return stat.isFile() ? stat.mtimeMs : null;
  } catch {
    return null;
  }
};

/** The file a relative specifier names: `x.js` written for `x.ts`, `x.svelte` for `x.svelte.ts`, a folder's index. */
function resolveImport(fromFile, specifier) {
  if (!specifier.startsWith('.')) return null;
  const base = resolve(dirname(fromFile), specifier);
  const candidates = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, `${base}/index.ts`];
  return candidates.find((path) => modifiedAt(path) !== null) ?? null;
}

function specifiersIn(path) {
  const text = readFileSync(path, 'utf8');
  const code = path.endsWith('.svelte') ? [...text.matchAll(SCRIPT_BLOCK)].map((block) => block[1]).join('\n') : text;
  const source = ts.createSourceFile(path, code, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  return source.statements.flatMap((statement) =>
    (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)
      ? [statement.moduleSpecifier.text]
      : [],
  );
}

function importsOf(path) {
  const mtimeMs = modifiedAt(path);
  if (mtimeMs === null) return [];
  const known = importsByFile.get(path);
  if (known?.mtimeMs === mtimeMs) return known.targets;
  const targets = [...new Set(specifiersIn(path).map((specifier) => resolveImport(path, specifier)).filter((target) => target !== null))];
  importsByFile.set(path, { mtimeMs, targets });
  return targets;
}

/** The shortest chain of imports from `start` to `goal` (both included), or null. */
function chainBetween(start, goal) {
  const cameFrom = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift();
    if (file === goal) {
      const chain = [];
      for (let at = goal; at !== null; at = cameFrom.get(at)) chain.unshift(at);
      return chain;
    }
    for (const next of importsOf(file)) {
      if (cameFrom.has(next)) continue;
      cameFrom.set(next, file);
      queue.push(next);
    }
  }
  return null;
}

export const noCycleRule = {
  meta: {
    type: 'problem',
    schema: [],
    messages: { cycle: 'Import cycle: {{chain}}. Move what both need into a module of its own.' },
  },
  create(context) {
    const file = context.filename;
    const check = (node) => {
      const target = typeof node.source?.value === 'string' ? resolveImport(file, node.source.value) : null;
      if (target === null) return;
      const chain = chainBetween(target, file);
      if (chain === null) return;
      const names = [file, ...chain].map((path) => relative(context.cwd, path).split('\\').join('/'));
      context.report({ node, messageId: 'cycle', data: { chain: names.join(' -> ') } });
    };
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check };
  },
};
