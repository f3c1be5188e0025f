import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The `electronFuses:` block of electron-builder.yml, as key -> value (a flat YAML map). */
function fuses(): Record<string, string> {
  const lines = readFileSync(join(import.meta.dirname, '..', '..', 'electron-builder.yml'), 'utf8').split('\n');
  const start = lines.findIndex((line) => /^electronFuses:\s*$/.test(line));
  if (start === -1) return {};
  const entries: Array<[string, string]> = [];
  for (const line of lines.slice(start + 1)) {
    const match = /^\s+(\w+):\s*(\S+)\s*$/.exec(line);
    if (!match) break;
    entries.push([match[1], match[2]]);
  }
  return Object.fromEntries(entries);
}

describe('packaging (electron-builder.yml)', () => {
  it('flips the Electron fuses: no RunAsNode, NODE_OPTIONS or --inspect; encrypted cookies; asar integrity', () => {
    expect(fuses()).toMatchObject({
      runAsNode: 'false',
      enableNodeOptionsEnvironmentVariable: 'false',
      enableNodeCliInspectArguments: 'false',
      enableCookieEncryption: 'true',
      enableEmbeddedAsarIntegrityValidation: 'true',
      onlyLoadAppFromAsar: 'true',
    });
  });
});
