import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../store/store.js';
import { mountTmpfs, type Mounted } from '../../testing/mounts.js';
import { openLibrary } from '../library/library-sync.js';
import { changeLabels, labelsState } from './label-changes.js';
import { undoLabelWrite } from './write-labels.js';

const PHOTOS = 2_000;
const CHILD = fileURLToPath(new URL('./move-crash-child.ts', import.meta.url));

let dir: string;
let root: string;
let store: Store;
let libraryId: number;
let mounted: Mounted | string;
/** Photo id -> its path and the sha256 of its bytes before any write. */
let before: Map<number, { path: string; sha: string }>;

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Every file under a folder, as '/'-separated paths relative to the root (hidden ones included). */
function filesUnder(folder: string): string[] {
  return readdirSync(folder, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)).split('\\').join('/'));
}

/** Runs the child until it has reported `killAfter` moves, then SIGKILLs it; resolves with how far it said it got. */
function runChild(action: 'write' | 'undo', killAfter: number): Promise<{ reported: number; finished: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, join(dir, 'l.db'), root, action], { stdio: ['ignore', 'pipe', 'pipe'] });
    let reported = 0;
    let finished = false;
    let stderr = '';
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === 'finished') finished = true;
        else reported = Number(line);
      }
      if (reported >= killAfter) child.kill('SIGKILL');
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL' && code !== 0) reject(new Error(`child ${action} failed (${code}): ${stderr}`));
      else resolve({ reported, finished });
    });
  });
}

/** After a recovery: each photo exactly once, under its id, with its bytes; no temporary copy left; a rescan finds nothing new or gone. */
async function expectEveryPhotoOnce(): Promise<void> {
  const opened = await openLibrary({ store }, root);
  expect(opened.sync).toMatchObject({ added: 0, removed: 0 });
  const files = filesUnder(root);
  expect(files.filter((f) => f.includes('.lookalike-moving-'))).toEqual([]);
  expect(files).toHaveLength(PHOTOS);
  const rows = new Map(store.photos(libraryId).map((p) => [p.id, p.relPath]));
  expect(rows.size).toBe(PHOTOS);
  for (const [id, { sha: bytes }] of before) {
    const path = rows.get(id);
    expect(path, `photo ${id}`).toBeDefined();
    expect(sha(readFileSync(join(root, path!))), `photo ${id} at ${path}`).toBe(bytes);
  }
  return undefined;
}

describe('moves survive kill -9: a write and an undo of 2,000 photos to a class folder on another file system', () => {
  beforeAll(async () => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'lookalike-crash-')));
    root = join(dir, 'library');
    mkdirSync(join(root, 'inbox'), { recursive: true });
    mounted = mountTmpfs(join(root, 'birds'));
    if (typeof mounted === 'string') return;
    const tiny = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#3a6' } }).jpeg().toBuffer();
    // Distinct bytes per photo (a JPEG ignores what follows its end marker), so each file can be told apart.
    for (let i = 0; i < PHOTOS; i++) writeFileSync(join(root, 'inbox', `photo-${String(i).padStart(4, '0')}.jpg`), Buffer.concat([tiny, Buffer.from(`#${i}`)]));
    store = Store.open(join(dir, 'l.db'));
    libraryId = (await openLibrary({ store }, root)).libraryId;
    changeLabels(store, libraryId, { kind: 'assign-photos', photoIds: store.photos(libraryId).map((p) => p.id), className: 'birds' });
    before = new Map(store.photos(libraryId).map((p) => [p.id, { path: p.relPath, sha: sha(readFileSync(join(root, p.relPath))) }]));
  }, 120_000);
  afterAll(() => {
    store?.close();
    if (typeof mounted !== 'string') mounted?.unmount();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('after each kill every photo exists exactly once with its id, and Undo brings the library back as it was', { timeout: 120_000 }, async (context) => {
    if (typeof mounted === 'string') return context.skip(mounted);
    const journal = store.moveJournal;

    // Killed part way through the write: the moved ones stay moved, the write is the one Undo is about.
    const write = await runChild('write', 300);
    expect(write.finished).toBe(false);
    await expectEveryPhotoOnce();
    const afterWrite = journal.last(libraryId, 'write-labels')!;
    expect(afterWrite.state).toBe('interrupted');
    const moved = journal.steps(afterWrite.id, 'done').length;
    expect(moved).toBeGreaterThanOrEqual(300);
    expect(moved).toBeLessThan(PHOTOS);
    expect(filesUnder(join(root, 'birds'))).toHaveLength(moved);
    expect(afterWrite.notice).toMatch(new RegExp(`Lookalike ended while writing labels to folders .*: ${moved} of ${PHOTOS} photos had been moved`));
    expect(labelsState(store, libraryId).lastWrite).toMatchObject({ moved, notice: afterWrite.notice });
    expect((await openLibrary({ store }, root)).summary.moveNotices).toEqual([afterWrite.notice]);

    // Killed part way through its undo: the photos are where the journal says, each once.
    const undo = await runChild('undo', 100);
    expect(undo.finished).toBe(false);
    await expectEveryPhotoOnce();
    expect(journal.batch(afterWrite.id)!.state).toBe('undo-interrupted');
    const stillMoved = journal.steps(afterWrite.id, 'done').length;
    expect(stillMoved).toBeLessThanOrEqual(moved - 100);
    expect(filesUnder(join(root, 'birds'))).toHaveLength(stillMoved);

    // Undo again finishes it: every photo back at its own path.
    expect(await undoLabelWrite(store, libraryId)).toBe(stillMoved);
    await expectEveryPhotoOnce();
    expect(new Map(store.photos(libraryId).map((p) => [p.id, p.relPath]))).toEqual(new Map([...before].map(([id, p]) => [id, p.path])));
    expect(filesUnder(join(root, 'birds'))).toEqual([]);

    // A second write killed later on: Undo is about it (not the write before), and puts back exactly what it moved.
    await runChild('write', 250);
    await expectEveryPhotoOnce();
    const second = journal.last(libraryId, 'write-labels')!;
    expect(second.id).toBeGreaterThan(afterWrite.id);
    const movedBySecond = journal.steps(second.id, 'done').length;
    expect(await undoLabelWrite(store, libraryId)).toBe(movedBySecond);
    await expectEveryPhotoOnce();
    expect(new Map(store.photos(libraryId).map((p) => [p.id, p.relPath]))).toEqual(new Map([...before].map(([id, p]) => [id, p.path])));
  });
});
