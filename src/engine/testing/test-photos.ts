import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** flowers17 as shared with the project (read-only): tests copy a few photos out of it. */
export const FLOWERS17 = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../../../shared/datasets/flowers17');

/**
 * A small real library in a temp folder: `perClass` photos of each class copied from flowers17,
 * optionally one unlabelled photo in the root and a damaged file. Returns its root.
 */
export function copyFlowersLibrary(options: { classes: string[]; perClass: number; unlabelled?: boolean; damaged?: boolean; offset?: number }): string {
  const root = mkdtempSync(join(tmpdir(), 'lookalike-lib-'));
  const offset = options.offset ?? 0;
  for (const cls of options.classes) {
    mkdirSync(join(root, cls));
    for (const file of photosOf(cls).slice(offset, offset + options.perClass)) copyFileSync(join(FLOWERS17, cls, file), join(root, cls, file));
  }
  if (options.unlabelled) copyFileSync(join(FLOWERS17, 'sunflower', photosOf('sunflower')[70]), join(root, 'loose-sunflower.jpg'));
  if (options.damaged) writeFileSync(join(root, options.classes[0], 'damaged.jpg'), 'this is not a JPEG');
  return root;
}

export function photosOf(cls: string): string[] {
  return readdirSync(join(FLOWERS17, cls)).filter((f) => f.endsWith('.jpg')).sort();
}
