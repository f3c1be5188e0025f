/**
 * A failure with a kind, so that a transport can tell the person's mistakes (4xx) from real failures
 * (5xx). A minimal stand-in for src/shared/errors.ts of issue #11: the same class name and kinds,
 * which that module recognises by shape; the two are to be unified on merge.
 */
export type ErrorKind = 'invalid-input' | 'not-found' | 'conflict' | 'failed';

export class ApiError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const invalidInput = (message: string) => new ApiError('invalid-input', message);
export const notFound = (message: string) => new ApiError('not-found', message);
export const conflict = (message: string) => new ApiError('conflict', message);
