// One-off: backbone features of all flowers17 photos into a JSON cache for tuning experiments.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extractFeatures } from '../src/engine/ml/backbone/features.js';
import { parseBackboneSpec } from '../src/engine/ml/backbone/backbone.js';

const root = process.argv[2] ?? '../shared/datasets/flowers17';
const backbone = process.argv[3] ?? 'nsfwjs-mobilenetv2-1.4';
const out = process.argv[4] ?? '/tmp/flowers-features.json';
const classes = readdirSync(root).sort();
const jobs = classes.flatMap((c, ci) => readdirSync(join(root, c)).sort().map((f) => ({ absPath: join(root, c, f), label: `${c}/${f}`, classId: ci })));
const vectors: number[][] = new Array(jobs.length);
const t = Date.now();
const summary = await extractFeatures(parseBackboneSpec(backbone), jobs.map((j, index) => ({ index, absPath: j.absPath, label: j.label })), {
  onFeatures: (items) => items.forEach(({ index, vector }) => (vectors[index] = Array.from(vector))),
  onProgress: (d, total) => d % 200 === 0 && console.error(d, total, (Date.now() - t) / 1000),
});
console.error(summary, (Date.now() - t) / 1000, 's', jobs.length / ((Date.now() - t) / 1000), 'photos/s');
writeFileSync(out, JSON.stringify({ classIds: jobs.map((j) => j.classId), vectors }));
