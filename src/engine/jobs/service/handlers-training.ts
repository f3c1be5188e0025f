import type { ApiHandlers, RunInfo, TrainSettings } from '../../../shared/api.js';
import { conflict, invalidInput } from '../../../shared/errors.js';
import { resolveSettings, trainingProblem } from '../../../shared/settings.js';
import type { RunRow } from '../../store/store.js';
import { planTraining } from '../door.js';
import { prepareRun, trainModel } from '../training/training.js';
import { trainingCost } from '../training/training-cost.js';
import { runClasses } from '../files/label-changes.js';
import type { LiveLosses } from './live-losses.js';
import { runMarks } from '../files/not-similar-marks.js';
import type { ServiceParts } from './service-parts.js';

type TrainingHandlers = Pick<ApiHandlers, 'startTraining' | 'pauseTraining' | 'resumeTraining' | 'stopTraining' | 'listRuns' | 'runHistory' | 'trainingCost'>;

/** Training runs: start, pause, resume, stop, and their history (live losses included). */
export function trainingHandlers({ store, library, runner, files, startJob, backend, liveLosses }: Pick<ServiceParts, 'store' | 'library' | 'runner' | 'files' | 'startJob' | 'backend'> & { liveLosses: LiveLosses }): TrainingHandlers {
  return {
    async startTraining(partial) {
      const id = library.require();
      const settings = resolveSettings(partial ?? {});
      const refused = trainingProblem(settings, { backend: await backend() });
      if (refused) throw invalidInput(refused);
      // Checked and claimed before the next await: two starts arriving together cannot both pass.
      if (runner.training) throw conflict('a training run is already going; stop it first');
      files.refuseWhileBusy();
      const plan = planTraining(store, id, settings, { k: 'fit' });
      runner.refuseIfOtherProcessRuns();
      return runner.whileTrainingStarts(async () => {
        await runner.stop();
        const runId = prepareRun(store, id, settings);
        startJob('train', runId, async (ctx) => {
          const result = await trainModel(ctx, id, plan, { runId });
          return `P@${result.trained.k} ${result.baseline.precision_at_k.toFixed(3)} → ${result.trained.precision_at_k.toFixed(3)}`;
        });
        return { runId };
      });
    },

    async pauseTraining() {
      return runner.pause();
    },

    async resumeTraining() {
      return runner.resume();
    },

    async stopTraining() {
      // Stop reaches a job of another process on this database too: it stops at its next heartbeat.
      return runner.stopAny();
    },

    async listRuns() {
      if (library.id === null) return [];
      return store.runs(library.id).map((run) => ({ ...toRunInfo(run), classes: runClasses(store, run.id), marksUsed: runMarks(store, run.id) }));
    },

    async trainingCost(partial) {
      const id = library.require();
      return trainingCost(store, id, resolveSettings(partial ?? {}), await backend());
    },

    async runHistory({ runId }) {
      return { losses: liveLosses.history(runId, store.lossPoints(runId)), epochs: store.epochs(runId) };
    },
  };
}

function toRunInfo({ libraryId: _libraryId, settings, ...run }: RunRow): RunInfo {
  return { ...run, settings: settings as unknown as TrainSettings };
}
