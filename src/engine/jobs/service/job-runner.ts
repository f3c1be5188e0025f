import type { EngineEvent, JobKind, JobState } from '../../../shared/api.js';
import { conflict } from '../../../shared/errors.js';
import { JobControl } from '../../common/job-control.js';
import { describeHolder, holdJobLock, type JobLock, type LockHolder } from '../../store/job-lock.js';

/** The database's one-job-at-a-time claim as the runner uses it: a JobLock with its heartbeat (see jobClaimOf), or a fake in tests. */
export interface JobClaim {
  readonly owner: string;
  /** Null when the claim is ours now; else who holds it. */
  claim(kind: string): LockHolder | null;
  liveHolder(): LockHolder | null;
  /** Asks the holder (another process) to stop; who that is, or null when none holds it. */
  requestStop(): LockHolder | null;
  /** Keeps our claim alive while a job runs; `onStop` once when another process asks. Returns the release. */
  hold(onStop: () => void): () => void;
}

export function jobClaimOf(lock: JobLock): JobClaim {
  return {
    owner: lock.owner,
    claim: (kind) => lock.claim(kind),
    liveHolder: () => lock.liveHolder(),
    requestStop: () => lock.requestStop(),
    hold: (onStop) => holdJobLock(lock, onStop),
  };
}

export interface JobRunnerParts {
  claim: JobClaim;
  emit: (event: EngineEvent) => void;
  /** A job's failure in words, for its 'failed' event. */
  describe: (error: unknown) => string;
  /** Asked first when a job starts: throws when none may start now (files of the library moving). */
  mayStart?: () => void;
}

interface RunningJob {
  state: JobState;
  control: JobControl;
  done: Promise<void>;
}

/**
 * One long job at a time (scan, features, training, indexing, audit) under the database's job claim:
 * its state goes out as job events; its failure becomes a 'failed' event, never an unhandled rejection.
 */
export class JobRunner {
  private job: RunningJob | null = null;
  private trainStarting = false;

  constructor(private readonly parts: JobRunnerParts) {}

  /** The running job's state, or null when none runs. */
  get state(): JobState | null {
    return this.job?.state ?? null;
  }

  /** A training run is going, or being prepared to start. */
  get training(): boolean {
    return this.job?.state.kind === 'train' || this.trainStarting;
  }

  /** Runs `prepare` (which starts a training job) with `training` true throughout, so that nothing that would stop it slips in. */
  async whileTrainingStarts<T>(prepare: () => Promise<T>): Promise<T> {
    this.trainStarting = true;
    try {
      return await prepare();
    } finally {
      this.trainStarting = false;
    }
  }

  /**
   * Starts a job once the database's job claim is ours (synchronously: nothing can slip in between
   * the check and the claim). Throws a conflict when another process runs a job on this database.
   */
  start(kind: JobKind, runId: number | null, work: (control: JobControl) => Promise<string | null>): JobState {
    this.parts.mayStart?.();
    const holder = this.parts.claim.claim(kind);
    if (holder) throw conflict(describeHolder(holder));
    const control = new JobControl();
    const state: JobState = { kind, state: 'running', runId, message: null };
    const running: RunningJob = { state, control, done: Promise.resolve() };
    this.job = running;
    this.parts.emit({ type: 'job', job: state });
    const release = this.parts.claim.hold(() => {
      control.stop();
      this.setState({ ...running.state, state: 'stopping', message: 'stop asked from another Lookalike process' });
    });
    running.done = (async () => {
      try {
        const message = await work(control);
        this.setState({ kind, state: control.isStopped ? 'stopped' : 'done', runId, message });
      } catch (error) {
        this.setState({ kind, state: control.isStopped ? 'stopped' : 'failed', runId, message: this.parts.describe(error) });
      } finally {
        if (this.job === running) {
          this.job = null;
          release();
        }
      }
    })();
    return state;
  }

  /** Background indexing is refused like any job while another process works on the database: said, not thrown. */
  startQuietly(start: () => void): void {
    try {
      start();
    } catch (error) {
      this.parts.emit({ type: 'job', job: { kind: 'index', state: 'failed', runId: null, message: (error as Error).message } });
    }
  }

  /** Stops the running job, if any, and waits for it to end. */
  async stop(): Promise<void> {
    if (!this.job) return;
    this.job.control.stop();
    await this.job.done;
  }

  pause(): JobState | null {
    if (!this.job) return null;
    this.job.control.pause();
    this.setState({ ...this.job.state, state: 'paused' });
    return this.job.state;
  }

  resume(): JobState | null {
    if (!this.job) return null;
    this.job.control.resume();
    this.setState({ ...this.job.state, state: 'running' });
    return this.job.state;
  }

  /** Stops our job and waits for it; with none, asks another process's job on this database to stop (at its next heartbeat). */
  async stopAny(): Promise<JobState | null> {
    if (!this.job) {
      const other = this.parts.claim.requestStop();
      return other ? { kind: other.kind as JobKind, state: 'stopping', runId: null, message: `asked Lookalike process ${other.pid} to stop its ${other.kind} job` } : null;
    }
    const current = this.job;
    current.control.stop();
    this.setState({ ...current.state, state: 'stopping' });
    await current.done;
    return current.state;
  }

  /** Another process's live claim on this database, if any. */
  otherProcessHolder(): LockHolder | null {
    const holder = this.parts.claim.liveHolder();
    return holder && holder.owner !== this.parts.claim.owner ? holder : null;
  }

  /** Another process's job on this database, if one runs: then ours must wait (one job at a time per database). */
  refuseIfOtherProcessRuns(): void {
    const holder = this.otherProcessHolder();
    if (holder) throw conflict(describeHolder(holder));
  }

  private setState(state: JobState): void {
    if (this.job) this.job.state = state;
    this.parts.emit({ type: 'job', job: state });
  }
}
