// One-off: labelled copies of flowers17 for quality experiments (not committed data).
//   npx tsx scripts/make-uneven-library.ts [/tmp/flowers17-uneven]
// Uneven: class i of 17 (alphabetical) keeps round(10 + 70 * i / 16) photos, so sizes run from 10 to
// 80, like real folders.
//   npx tsx scripts/make-uneven-library.ts /tmp/flowers17-confusable --confusable
// Confusable: the 8 classes the untrained backbone separates worst (lowest per-class mAP@R in
// `lookalike eval`), 50 photos each: a small library of look-alike classes.
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FLOWERS17, photosOf } from '../src/engine/testing/test-photos.js';

const out = process.argv[2] ?? '/tmp/flowers17-uneven';
const confusable = process.argv.includes('--confusable');
if (existsSync(out)) throw new Error(`${out} exists already: remove it or name another folder`);
const CONFUSABLE = ['tulip', 'crocus', 'snowdrop', 'bluebell', 'lily_valley', 'cowslip', 'daffodil', 'buttercup'];
const classes = confusable ? CONFUSABLE : readdirSync(FLOWERS17).sort();
// Shuffle the sizes over classes with a fixed permutation, so size is not tied to the alphabet.
const order = classes.map((_, i) => (i * 7) % classes.length);
let total = 0;
for (const [i, cls] of classes.entries()) {
  const count = confusable ? 50 : Math.round(10 + (70 * order[i]) / (classes.length - 1));
  mkdirSync(join(out, cls), { recursive: true });
  for (const file of photosOf(cls).slice(0, count)) copyFileSync(join(FLOWERS17, cls, file), join(out, cls, file));
  total += count;
}
console.log(`${out}: ${classes.length} classes, ${total} photos`);
