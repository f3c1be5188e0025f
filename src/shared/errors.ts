/**
 * What kind of failure an API call ended in, part of the contract: the engine throws it, the engine
 * thread and both transports carry it, the bridge turns it into an HTTP status (4xx for the person's
 * mistakes, 5xx only for real failures), and the UI words its message by it.
 */
export type ErrorKind = 'invalid-input' | 'not-found' | 'conflict' | 'failed';

export const ERROR_KINDS: readonly ErrorKind[] = ['invalid-input', 'not-found', 'conflict', 'failed'];

/** An error as it crosses a thread or a transport: plain data. */
export interface WireError {
  kind: ErrorKind;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Bad input from the person: a wrong setting, a relative path, a file that is not an image. */
export const invalidInput = (message: string) => new ApiError('invalid-input', message);
/** What the call names does not exist: a folder, a photo, a model. */
export const notFound = (message: string) => new ApiError('not-found', message);
/** The call does not fit the current state: no library open yet, a run already going. */
export const conflict = (message: string) => new ApiError('conflict', message);

export const HTTP_STATUS: Readonly<Record<ErrorKind, number>> = { 'invalid-input': 400, 'not-found': 404, conflict: 409, failed: 500 };

export function isErrorKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && (ERROR_KINDS as readonly string[]).includes(value);
}

/**
 * The kind and message of anything thrown. ApiErrors keep their kind (also a copy from another
 * realm, matched by shape); RangeError is what setting and k checks throw, so it is bad input;
 * everything else is a failure.
 */
export function toWireError(error: unknown): WireError {
  const message = error instanceof Error ? error.message : String(error);
  const kind = (error as { kind?: unknown } | null)?.kind;
  if (error instanceof Error && error.name === 'ApiError' && isErrorKind(kind)) return { kind, message };
  if (error instanceof RangeError) return { kind: 'invalid-input', message };
  return { kind: 'failed', message };
}

/** A call's outcome as plain data, for a transport that cannot carry an error's kind itself (Electron IPC). */
export type Reply<T> = { ok: true; value: T } | { ok: false; error: WireError };

/** Back from plain data to a throwable error; an unknown kind reads as a failure. */
export function fromWireError(wire: { kind?: unknown; message?: unknown }): ApiError {
  return new ApiError(isErrorKind(wire.kind) ? wire.kind : 'failed', typeof wire.message === 'string' ? wire.message : 'unknown error');
}
