/**
 * The one place where what the system says (errno codes, SQLite result codes, Node's own limits)
 * becomes a sentence a person can act on, naming the file it is about.
 */

const FILE_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'file not found',
  ENOTDIR: 'file not found (a folder on its path is a file)',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a folder, not a file',
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EROFS: 'the disk is read-only',
  EIO: 'input/output error (the disk or drive may be failing or disconnected)',
  ENXIO: 'not a regular file (a device or socket)',
  ENODEV: 'not a regular file (a device)',
  ELOOP: 'symlink loop (the link leads back to itself)',
  ENAMETOOLONG: 'the path is too long',
  EMFILE: 'too many files open at once',
  ENFILE: 'too many files open at once',
  EBUSY: 'in use by another program',
  ETXTBSY: 'in use by another program',
  ESTALE: 'the network share is no longer available',
  ETIMEDOUT: 'timed out (a network share or drive that does not answer)',
  ERR_FS_FILE_TOO_LARGE: 'too large to read at once',
};

const SQLITE_ERRORS: ReadonlyArray<[RegExp, string]> = [
  [/^SQLITE_FULL/, 'the disk is full: the database could not be written (free some space and try again)'],
  [/^SQLITE_READONLY/, 'the database cannot be written (the file or its folder is read-only)'],
  [/^SQLITE_CANTOPEN/, 'the database file cannot be opened (its folder is missing or not writable)'],
  [/^SQLITE_(CORRUPT|NOTADB)/, 'the database file is damaged'],
  [/^SQLITE_(BUSY|LOCKED)/, 'the database is busy (another Lookalike process is writing to it)'],
  [/^SQLITE_IOERR/, 'input/output error while using the database (the disk may be full, failing or disconnected)'],
  [/^SQLITE_(PERM|AUTH)/, 'permission denied on the database'],
  [/^SQLITE_NOMEM/, 'out of memory'],
];

/** A file-system error in words, without the path (the caller names the file). */
export function describeFileError(error: unknown): string {
  const { code, message } = (error ?? {}) as NodeJS.ErrnoException;
  if (code && FILE_ERRORS[code]) return FILE_ERRORS[code];
  if (code?.startsWith('SQLITE_')) return describeSqliteCode(code);
  return code ? `cannot be read (${code})` : String(message ?? error);
}

function describeSqliteCode(code: string): string {
  return SQLITE_ERRORS.find(([pattern]) => pattern.test(code))?.[1] ?? `database error (${code})`;
}

/**
 * Any error's message in words, naming the file: SQLite errors name `dbPath`, errno errors their own
 * path (else `path`: some, such as EISDIR on read, carry none); messages that already are sentences (ours) pass unchanged.
 */
export function errorInWords(error: unknown, context: { dbPath?: string; path?: string } = {}): string {
  const { code, path, message } = (error ?? {}) as NodeJS.ErrnoException;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) return `${context.dbPath ?? 'the database'}: ${describeSqliteCode(code)}`;
  if (typeof code === 'string' && FILE_ERRORS[code]) return `${path ?? pathInMessage(message) ?? context.path ?? 'a file'}: ${FILE_ERRORS[code]}`;
  return error instanceof Error ? error.message : String(error);
}

/** Node's errno messages end in `, open '/the/path'`. */
function pathInMessage(message: string | undefined): string | undefined {
  return message ? /, \w+ '([^']+)'(?: -> '[^']+')?$/.exec(message)?.[1] : undefined;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}
