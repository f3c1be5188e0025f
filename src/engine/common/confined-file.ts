import { constants } from 'node:fs';
import { open, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { invalidInput } from '../../shared/errors.js';
import { describeFileError, formatBytes } from './error-words.js';
import { isStrictlyInside } from './paths.js';

/** The most a file may hold, and why, in words that finish "more than the 56 KB …". */
export interface ByteLimit {
  bytes: number;
  why: string;
}

/**
 * Reads a file that a document from outside names (a model card's file list): the name is data.
 * It must resolve, links followed, to a regular file strictly inside `folder`, no larger than
 * `limit`; the kind and size are checked on the open handle (open, then fstat), so nothing is
 * swapped in between, and a FIFO or a device is refused without a byte read and without blocking.
 * Refusals name the file (and its `purpose`, when given) and the reason, never its contents.
 */
export async function readConfinedFile(folder: string, name: unknown, limit: ByteLimit, purpose?: string): Promise<Buffer> {
  if (typeof name !== 'string' || name === '' || name.includes('\0')) throw invalidInput(`${folder}: ${JSON.stringify(name)?.slice(0, 80)} is not a usable file name`);
  const shown = resolve(folder, name) + (purpose ? ` (${purpose})` : '');
  if (isAbsolute(name)) throw invalidInput(`${name}: named by its full path; only files inside ${folder} are read`);
  const root = await realpath(folder).catch((error: unknown) => {
    throw invalidInput(`${folder}: ${describeFileError(error)}`);
  });
  const real = await realpath(resolve(root, name)).catch((error: unknown) => {
    throw invalidInput(`${shown}: ${describeFileError(error)}`);
  });
  const outside = () => invalidInput(`${shown}: outside the folder it came with (${root}); only files inside that folder are read`);
  if (!isStrictlyInside(real, root)) throw outside();
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. O_NOFOLLOW: the real
  // path was just resolved; a link put there since is refused, not followed.
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch((error: unknown) => {
    throw invalidInput(`${shown}: ${describeFileError(error)}`);
  });
  try {
    // A folder on the way swapped for a link between realpath and open: where the handle really
    // points is checked again (Linux says it; elsewhere the check above stands alone).
    const opened = process.platform === 'linux' ? await readlink(`/proc/self/fd/${handle.fd}`).catch(() => real) : real;
    if (!isStrictlyInside(opened, root)) throw outside();
    const stats = await handle.stat();
    if (!stats.isFile()) throw invalidInput(`${shown}: not a regular file (a ${kindOf(stats)})`);
    if (stats.size > limit.bytes) throw invalidInput(`${shown}: ${formatBytes(stats.size)}, more than the ${formatBytes(limit.bytes)} ${limit.why}`);
    // Read at most one byte past the size fstat gave: a file that grows meanwhile is refused, not read whole.
    const buffer = Buffer.alloc(stats.size + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > stats.size) throw invalidInput(`${shown}: changed while it was read (it grew); try again when nothing writes to it`);
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

function kindOf(stats: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (stats.isDirectory()) return 'folder';
  if (stats.isFIFO()) return 'named pipe';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'device';
  return 'special file';
}
