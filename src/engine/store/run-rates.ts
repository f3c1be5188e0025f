import type { Database } from 'better-sqlite3';
import type { CostPhase } from '../../shared/api.js';

/**
 * A phase of a training run whose speed is kept: backbone features and cut maps (photos), the head
 * and the blocks (triplets), embedding for evaluation and the index (photos).
 */
export type RatePhase = CostPhase;

/** What one run measured of one phase: items done in so many active seconds (pauses left out). */
export interface PhaseRate {
  phase: RatePhase;
  /** What the speed depends on beyond the phase: the backbone, the cut, the fine-tune mode. */
  variant: string;
  items: number;
  seconds: number;
}

/** The SQL of measured speeds (table run_rates) and of what a library already has cached. */
export class RunRateStore {
  constructor(private readonly db: Database) {}

  /** A run's measurements; a phase measured again (a resumed run) replaces the earlier figure. */
  record(runId: number, rates: readonly PhaseRate[]): void {
    const insert = this.db.prepare('INSERT OR REPLACE INTO run_rates(run_id, phase, variant, items, seconds) VALUES (?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const r of rates) insert.run(runId, r.phase, r.variant, r.items, r.seconds);
    })();
  }

  ofRun(runId: number): PhaseRate[] {
    return this.db.prepare('SELECT phase, variant, items, seconds FROM run_rates WHERE run_id = ? ORDER BY phase, variant').all(runId) as PhaseRate[];
  }

  /** The newest run's measurement of a phase on this database, with the run's library and number. */
  latest(phase: RatePhase, variant: string): (PhaseRate & { runId: number }) | null {
    const row = this.db
      .prepare('SELECT run_id AS runId, phase, variant, items, seconds FROM run_rates WHERE phase = ? AND variant = ? AND items > 0 AND seconds > 0 ORDER BY run_id DESC LIMIT 1')
      .get(phase, variant) as (PhaseRate & { runId: number }) | undefined;
    return row ?? null;
  }

  /** Distinct photo contents of a library without sound cached features of a backbone (known failures left out, as the cache does). */
  photosWithoutFeatures(libraryId: number, backbone: string): number {
    return this.db
      .prepare(
        `SELECT count(DISTINCT p.hash) FROM photos p WHERE p.library_id = @libraryId
           AND NOT EXISTS (SELECT 1 FROM features f WHERE f.backbone = @backbone AND f.hash = p.hash)
           AND NOT EXISTS (SELECT 1 FROM feature_failures x WHERE x.backbone = @backbone AND x.hash = p.hash)`,
      )
      .pluck()
      .get({ libraryId, backbone }) as number;
  }

  /** Whether any activations of a backbone are cached, at any cut (none until a first last-blocks run). */
  hasCutMaps(backbone: string): boolean {
    return this.db.prepare('SELECT 1 FROM cut_activations WHERE backbone = ? LIMIT 1').get(backbone) !== undefined;
  }

  /** Distinct photo contents of a library without cached activations at a cut. */
  photosWithoutCutMaps(libraryId: number, backbone: string, cut: string): number {
    return this.db
      .prepare(
        `SELECT count(DISTINCT p.hash) FROM photos p WHERE p.library_id = @libraryId
           AND NOT EXISTS (SELECT 1 FROM cut_activations a WHERE a.backbone = @backbone AND a.cut = @cut AND a.hash = p.hash)
           AND NOT EXISTS (SELECT 1 FROM feature_failures x WHERE x.backbone = @backbone AND x.hash = p.hash)`,
      )
      .pluck()
      .get({ libraryId, backbone, cut }) as number;
  }
}
