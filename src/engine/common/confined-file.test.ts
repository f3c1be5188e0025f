import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfinedFile } from './confined-file.js';

let work: string;
let folder: string;

/** The refusal's message, or a note that there was none. */
const refusal = (read: Promise<unknown>) =>
  read.then(
    () => 'read without refusal',
    (error: Error & { kind?: string }) => `${error.kind}: ${error.message}`,
  );

describe('reading a file that a document from outside names', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'lookalike-confined-'));
    folder = join(work, 'model');
    mkdirSync(join(folder, 'tfjs'), { recursive: true });
    writeFileSync(join(folder, 'tfjs', 'weights.bin'), Buffer.alloc(64, 7));
    writeFileSync(join(work, 'secret.txt'), 'TOP-SECRET-LINE\n');
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('reads a regular file inside the folder, within its limit', async () => {
    expect(await readConfinedFile(folder, 'tfjs/weights.bin', { bytes: 64, why: 'this test allows' })).toEqual(Buffer.alloc(64, 7));
    // A link inside the folder to a file inside it is fine.
    symlinkSync('tfjs/weights.bin', join(folder, 'alias.bin'));
    expect(await readConfinedFile(folder, 'alias.bin', { bytes: 64, why: 'this test allows' })).toHaveLength(64);
  });

  it('refuses a name that climbs out of the folder, without echoing what is there', async () => {
    const message = await refusal(readConfinedFile(folder, '../secret.txt', { bytes: 1 << 20, why: 'this test allows' }));
    expect(message).toMatch(/^invalid-input: .*secret\.txt: outside the folder it came with/);
    expect(message).not.toContain('TOP-SECRET');
    expect(await refusal(readConfinedFile(folder, '../../../../../../etc/passwd', { bytes: 1 << 20, why: 'this test allows' }))).toMatch(/passwd: outside the folder it came with/);
    expect(await refusal(readConfinedFile(folder, '/etc/passwd', { bytes: 1 << 20, why: 'this test allows' }))).toMatch(/^invalid-input: \/etc\/passwd: named by its full path; only files inside .*model are read$/);
  });

  it('refuses a symlink that leads out of the folder, to a file or to /dev/zero', async () => {
    symlinkSync(join(work, 'secret.txt'), join(folder, 'leak.bin'));
    symlinkSync('/dev/zero', join(folder, 'zero.bin'));
    const leak = await refusal(readConfinedFile(folder, 'leak.bin', { bytes: 1 << 20, why: 'this test allows' }));
    expect(leak).toMatch(/leak\.bin: outside the folder it came with/);
    expect(leak).not.toContain('TOP-SECRET');
    expect(await refusal(readConfinedFile(folder, 'zero.bin', { bytes: 1 << 20, why: 'this test allows' }))).toMatch(/zero\.bin: outside the folder it came with/);
  });

  it('refuses a named pipe at once, without waiting for a writer', async () => {
    execFileSync('mkfifo', [join(folder, 'pipe.bin')]);
    const message = await Promise.race([refusal(readConfinedFile(folder, 'pipe.bin', { bytes: 1 << 20, why: 'this test allows' })), new Promise<string>((done) => setTimeout(() => done('still waiting after 5 s'), 5000))]);
    expect(message).toMatch(/^invalid-input: .*pipe\.bin: not a regular file \(a named pipe\)$/);
  });

  it('refuses a file larger than its limit before reading it (a sparse 8 GB file)', async () => {
    writeFileSync(join(folder, 'huge.bin'), '');
    truncateSync(join(folder, 'huge.bin'), 8 * 1024 ** 3);
    expect(await refusal(readConfinedFile(folder, 'huge.bin', { bytes: 1024, why: 'this test allows' }))).toMatch(/huge\.bin: 8\.0 GB, more than the 1\.0 KB this test allows/);
  });

  it('refuses a folder, a missing file and an unusable name, in words', async () => {
    expect(await refusal(readConfinedFile(folder, 'tfjs', { bytes: 1024, why: 'this test allows' }))).toMatch(/tfjs: not a regular file \(a folder\)/);
    expect(await refusal(readConfinedFile(folder, 'nothing.bin', { bytes: 1024, why: 'this test allows' }))).toMatch(/nothing\.bin: file not found$/);
    expect(await refusal(readConfinedFile(folder, 42, { bytes: 1024, why: 'this test allows' }))).toMatch(/: 42 is not a usable file name$/);
    expect(await refusal(readConfinedFile(folder, 'a\0b', { bytes: 1024, why: 'this test allows' }))).toMatch(/is not a usable file name/);
    expect(readFileSync(join(work, 'secret.txt'), 'utf8')).toBe('TOP-SECRET-LINE\n');
  });
});
