// One-off: an uneven copy of flowers17 for quality experiments (not committed data): class i of 17
// (alphabetical) keeps round(10 + 70 * i / 16) photos, so sizes run from 10 to 80, like real folders.
//   npx tsx scripts/make-uneven-library.ts [/tmp/flowers17-uneven]
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FLOWERS17, photosOf } from '../src/engine/testing/test-photos.js';

const out = process.argv[2] ?? '/tmp/flowers17-uneven';
if (existsSync(out)) throw new Error(`${out} exists already: remove it or name another folder`);
const classes = readdirSync(FLOWERS17).sort();
// Shuffle the sizes over classes with a fixed permutation, so size is not tied to the alphabet.
const order = classes.map((_, i) => (i * 7) % classes.length);
let total = 0;
for (const [i, cls] of classes.entries()) {
  const count = Math.round(10 + (70 * order[i]) / (classes.length - 1));
  mkdirSync(join(out, cls), { recursive: true });
  for (const file of photosOf(cls).slice(0, count)) copyFileSync(join(FLOWERS17, cls, file), join(out, cls, file));
  total += count;
}
console.log(`${out}: ${classes.length} classes, ${total} photos`);
