// One-off: which gap g and whether L2-normalising f gives the best validation P@30 on flowers17.
import { readFileSync } from 'node:fs';
import { selectBackend } from '../src/engine/ml/runtime/compute-backend.js';
import { evaluateRetrieval } from '../src/engine/ml/training/retrieval-metrics.js';
import { normalizeVector } from '../src/engine/ml/training/head.js';
import { stratifiedSplit } from '../src/engine/ml/training/split.js';
import { trainHead } from '../src/engine/ml/training/trainer.js';

await selectBackend();
const { classIds, vectors } = JSON.parse(readFileSync(process.argv[2] ?? '/tmp/flowers-features.json', 'utf8')) as { classIds: number[]; vectors: number[][] };
const feats = vectors.map((v) => normalizeVector(Float32Array.from(v)));
const split = stratifiedSplit(classIds.map((classId, id) => ({ id, classId })), 0.2, 1);
const set = (ids: number[]) => ({ vectors: ids.map((i) => feats[i]), classIds: ids.map((i) => classIds[i]) });
const data = { train: set(split.train), validation: set(split.validation) };
console.log('baseline', await evaluateRetrieval(data.validation, data.train, 30));
const gaps = (process.argv[3] ?? '0.1,0.2,0.5,1,2').split(',').map(Number);
const epochs = Number(process.argv[4] ?? 10);
for (const normalize of [true, false]) {
  for (const gap of gaps) {
    const t = Date.now();
    const out = await trainHead(data, { inputDim: feats[0].length, dim: 128, hidden: 0, normalize }, { epochs, batchSize: 32, learningRate: 0.001, gap, seed: 1, tripletsPerEpoch: data.train.vectors.length * 8, k: 30 }, {
      onEpoch: (e) => { if (e.epoch === epochs || e.epoch % 5 === 0) console.log(`  normalize=${normalize} gap=${gap} epoch ${e.epoch} loss ${e.meanLoss.toFixed(4)} P@30 ${e.validation.precision_at_k.toFixed(4)} mAP@R ${e.validation.map_at_r.toFixed(4)}`); },
    });
    console.log(`normalize=${normalize} gap=${gap}: ${((Date.now() - t) / 1000).toFixed(1)}s`);
    out.head.dispose();
  }
}
