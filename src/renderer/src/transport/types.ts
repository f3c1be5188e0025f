import type { Transport } from '../../../shared/api';

/**
 * The Transport of src/shared/api.ts plus what only some transports can do. The UI checks for these
 * before offering them (the folder picker exists only in Electron).
 */
export interface AppTransport extends Transport {
  /** The native folder picker; null when cancelled. */
  pickFolder?: () => Promise<string | null>;
  /** Shows a photo in the system file manager (Electron only). */
  revealPhoto?: (photoId: number) => Promise<void>;
  /** Called with false when the event stream drops and with true when it is back. */
  onConnection?: (listener: (connected: boolean) => void) => () => void;
}
