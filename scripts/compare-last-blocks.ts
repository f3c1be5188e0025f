// One-off: a training as `lookalike train` runs it, with the last-blocks phase set (lr factor, crop,
// mirror), on a database shared by the runs of one library (the split, the features and the cut
// are computed once), then its per-class scores as `lookalike eval` gives them.
//   npx tsx scripts/compare-last-blocks.ts <library> <db> '<settings JSON>' ['<block phase JSON>']
// e.g. '{"fineTune":"last-blocks","fineTuneBlocks":2,"epochs":4,"seed":1}' '{"learningRateFactor":0.3,"crop":false}'
// Prints one JSON line: settings, phase, seconds, P@30, mAP@R, the model id and its per-class scores.
import { resolveSettings, trainingProblem } from '../src/shared/settings.js';
import { planTraining } from '../src/engine/jobs/door.js';
import { openLibrary } from '../src/engine/jobs/library/library-sync.js';
import { evaluateModelInDetail } from '../src/engine/jobs/training/evaluation.js';
import { trainModel } from '../src/engine/jobs/training/training.js';
import { selectBackend } from '../src/engine/ml/runtime/compute-backend.js';
import { Store } from '../src/engine/store/store.js';

const [library, db, settingsJson = '{}', phaseJson = '{}'] = process.argv.slice(2);
const settings = resolveSettings(JSON.parse(settingsJson));
const refused = trainingProblem(settings, { backend: await selectBackend() });
if (refused) throw new Error(refused);
const store = Store.open(db);
const { libraryId } = await openLibrary({ store }, library);
const plan = { ...planTraining(store, libraryId, settings, { k: 30 }), blockPhase: JSON.parse(phaseJson) };
const result = await trainModel({ store }, libraryId, plan);
const detail = await evaluateModelInDetail(store, libraryId, result.modelId, 30);
store.close();
console.log(
  JSON.stringify({
    settings: JSON.parse(settingsJson),
    phase: plan.blockPhase,
    seconds: result.seconds,
    p_at_30: result.trained.precision_at_k,
    map_at_r: result.trained.map_at_r,
    model: result.modelId,
    classes: detail.classes.map((c) => ({ name: c.name, p: c.trained?.precision_at_k, map: c.trained?.map_at_r })),
  }),
);
