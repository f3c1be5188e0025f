import type { EngineEvent } from '../../shared/api.js';
import type { JobControl } from '../common/job-control.js';
import type { Store } from '../store/store.js';

/** What every long operation gets: the store, where to send events, and its pause/stop control. */
export interface JobContext {
  store: Store;
  emit?: (event: EngineEvent) => void;
  control?: JobControl;
}
