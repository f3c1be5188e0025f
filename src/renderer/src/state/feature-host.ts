import type { LibrarySummary, Transport } from '../../../shared/api';

/**
 * What a feature store is given by the app instead of the whole app state: the engine's API, the
 * library open now, and the app's notices (a store that needs less, like Find similar, picks from it).
 */
export interface FeatureHost {
  readonly api: Transport['api'];
  /** The library open now; null before one is. */
  library(): LibrarySummary | null;
  notify(error: unknown): void;
}
