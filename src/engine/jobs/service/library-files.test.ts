import { describe, expect, it } from 'vitest';
import type { JobState } from '../../../shared/api.js';
import { fakeClaim } from './service-fakes.js';
import { LABEL_WRITE, LibraryFiles, PHOTOS_MOVE } from './library-files.js';

/** The parts LibraryFiles is given, all fakes: a runner whose job the test sets, a scan that records its folders. */
function filesWithFakes() {
  const claim = fakeClaim();
  const log: string[] = [];
  const runner = {
    state: null as JobState | null,
    training: false,
    async stop() {
      if (runner.state) log.push(`stopped ${runner.state.kind}`);
      runner.state = null;
    },
    refuseIfOtherProcessRuns() {
      const holder = runner.otherProcessHolder();
      if (holder) throw new Error(`pid ${holder.pid} runs a ${holder.kind} job`);
    },
    otherProcessHolder: () => {
      const holder = claim.liveHolder();
      return holder && holder.owner !== claim.owner ? holder : null;
    },
  };
  const files = new LibraryFiles<string>({
    claim,
    runner,
    scan: async (folder) => {
      log.push(`scanned ${folder} holding ${claim.liveHolder()?.kind ?? 'nothing'}`);
      return `opened ${folder}`;
    },
    libraryRoot: (id) => `/library-${id}`,
    onRescanned: () => log.push('rescanned'),
    indexInBackground: (id) => log.push(`indexing ${id}`),
  });
  return { files, claim, runner, log };
}

const indexing: JobState = { kind: 'index', state: 'running', runId: null, message: null };

describe('library files: one scan or batch of moves at a time (fakes for the runner, the claim and the scan)', () => {
  it('moves under the job claim after stopping indexing, rescans, gives the claim back and indexes again', async () => {
    const { files, claim, runner, log } = filesWithFakes();
    runner.state = indexing;
    const reply = await files.move(3, LABEL_WRITE, async (id) => {
      log.push(`moving in ${id} holding ${claim.liveHolder()?.kind}`);
      return 2;
    }, (id, moved) => `${moved} moved in ${id}`);
    expect(reply).toBe('2 moved in 3');
    expect(log).toEqual(['stopped index', 'moving in 3 holding label write', 'scanned /library-3 holding label write', 'rescanned', 'indexing 3']);
    expect(claim.liveHolder()).toBeNull();
    expect(files.busy).toBe(false);
  });

  it('refuses a second batch while one moves, a move under training, and a label change while another process moves files', async () => {
    const { files, claim, runner } = filesWithFakes();
    let finish: () => void = () => undefined;
    const first = files.move(1, PHOTOS_MOVE, () => new Promise<void>((resolve) => (finish = resolve)), () => 'first');
    await expect(files.move(1, LABEL_WRITE, async () => undefined, () => 'second')).rejects.toMatchObject({ kind: 'conflict', message: 'the photo move is going; wait for it to finish' });
    expect(() => files.refuseWhileAnyMove()).toThrow(/photo move is going/);
    await new Promise((resolve) => setImmediate(resolve));
    finish();
    expect(await first).toBe('first');

    runner.training = true;
    await expect(files.move(1, LABEL_WRITE, async () => undefined, () => 'refused')).rejects.toThrow(/a training run is going and the label write would stop it/);
    runner.training = false;

    claim.other(PHOTOS_MOVE);
    expect(() => files.refuseWhileAnyMove()).toThrow(/pid 4242.*a photo move job/);
    await expect(files.scanToOpen('/photos')).rejects.toThrow(/pid 4242.*a photo move job/);
    claim.other('train'); // another process's training does not keep a library from opening
    expect(await files.scanToOpen('/photos')).toBe('opened /photos');
  });

  it('opens a library under the claim, indexing asked for meanwhile left to the opener', async () => {
    const { files, log } = filesWithFakes();
    const opening = files.scanToOpen('/photos');
    expect(files.busy).toBe(true);
    files.indexWhenDone();
    expect(await opening).toBe('opened /photos');
    expect(log).toEqual(['scanned /photos holding scan']);
    expect(files.busy).toBe(false);
  });

  it('closing waits for the batch in flight, tells it to stop, skips the rescan, and refuses new moves', async () => {
    const { files, log } = filesWithFakes();
    let finish: () => void = () => undefined;
    const moving = files.move(1, LABEL_WRITE, () => new Promise<void>((resolve) => (finish = resolve)), () => 'stopped part way');
    await new Promise((resolve) => setImmediate(resolve));
    const closed = files.close();
    expect(files.moveOptions.shouldStop?.()).toBe(true);
    finish();
    await closed;
    expect(await moving).toBe('stopped part way');
    expect(log).toEqual(['rescanned']);
    await expect(files.move(1, LABEL_WRITE, async () => undefined, () => 'late')).rejects.toThrow('Lookalike is closing');
  });
});
