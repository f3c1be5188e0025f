import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../../shared/errors.js';
import { Store } from '../../store/store.js';
import { mountTmpfs, type Mounted } from '../../testing/mounts.js';
import { openLibrary } from '../library/library-sync.js';
import { changeLabels } from './label-changes.js';
import { movePhotosOut, undoMoveOut } from './move-out.js';
import { recoverMoves } from './file-moves.js';
import { thisMachine } from '../../store/move-journal.js';
import { previewLabelWrite, undoLabelWrite, writeLabels } from './write-labels.js';
import { runSql } from '../../testing/raw-sql.js';

let dir: string;
let root: string;
let store: Store;
let libraryId: number;
let tiny: Buffer;
const mounts: Mounted[] = [];

/** A real JPEG with distinct bytes (after its end marker) per name. */
const photo = (name: string, extra = 0) => Buffer.concat([tiny, Buffer.from(`#${name}`), Buffer.alloc(extra, 1)]);
const idOf = (relPath: string) => store.photos(libraryId).find((p) => p.relPath === relPath)!.id;
const kindOf = (error: unknown) => (error instanceof ApiError ? error.kind : String(error));
const reopen = async () => (libraryId = (await openLibrary({ store }, root)).libraryId);

beforeEach(async () => {
  tiny ??= await sharp({ create: { width: 8, height: 8, channels: 3, background: '#a36' } }).jpeg().toBuffer();
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'lookalike-moves-')));
  root = join(dir, 'library');
  mkdirSync(join(root, 'daisy'), { recursive: true });
  for (const name of ['a.jpg', 'b.jpg', 'c.jpg']) writeFileSync(join(root, 'daisy', name), photo(name));
  store = Store.open(join(dir, 'l.db'));
  await reopen();
});
afterEach(() => {
  store.close();
  for (const mount of mounts.splice(0).reverse()) mount.unmount();
  rmSync(dir, { recursive: true, force: true });
});

describe('moving duplicates out of the library (journaled, undoable)', () => {
  it('a destination refused as inside the library creates nothing there, also when reached through a link', async () => {
    await expect(movePhotosOut(store, libraryId, [idOf('daisy/a.jpg')], join(root, 'trash', 'deep'))).rejects.toThrow(/is inside the library/);
    symlinkSync(root, join(dir, 'to-library'));
    await expect(movePhotosOut(store, libraryId, [idOf('daisy/a.jpg')], join(dir, 'to-library', 'moved'))).rejects.toSatisfy((e) => kindOf(e) === 'invalid-input');
    expect(readdirSync(root).sort()).toEqual(['daisy']);
    expect((await openLibrary({ store }, root)).summary.classes.map((c) => c.name)).toEqual(['daisy']);
  });

  it('moves a duplicate that is a symlink as the link (still resolving), never the photo it points to; Undo puts the link back', async () => {
    mkdirSync(join(root, 'copies'));
    symlinkSync('../daisy/a.jpg', join(root, 'copies', 'a-copy.jpg'));
    await reopen();
    const out = join(dir, 'out');
    const { moved } = await movePhotosOut(store, libraryId, [idOf('copies/a-copy.jpg')], out);
    expect(moved).toEqual([{ from: join(root, 'copies', 'a-copy.jpg'), to: join(out, 'a-copy.jpg') }]);
    expect(readFileSync(join(root, 'daisy', 'a.jpg')).equals(photo('a.jpg'))).toBe(true); // the photo kept stays
    expect(lstatSync(join(out, 'a-copy.jpg')).isSymbolicLink()).toBe(true);
    expect(realpathSync(join(out, 'a-copy.jpg'))).toBe(join(root, 'daisy', 'a.jpg'));
    expect(await undoMoveOut(store, libraryId)).toBe(1);
    expect(readlinkSync(join(root, 'copies', 'a-copy.jpg'))).toBe('../daisy/a.jpg');
    expect(existsSync(out)).toBe(false); // the folder the move made goes with its undo
  });

  it('Undo puts the last move out back (and only it); a second Undo has nothing to undo', async () => {
    const out = join(dir, 'dups', 'sub');
    await movePhotosOut(store, libraryId, [idOf('daisy/a.jpg')], join(dir, 'first'));
    await movePhotosOut(store, libraryId, [idOf('daisy/b.jpg'), idOf('daisy/c.jpg')], out);
    expect(readdirSync(out).sort()).toEqual(['b.jpg', 'c.jpg']);
    expect(await undoMoveOut(store, libraryId)).toBe(2);
    expect(readdirSync(join(root, 'daisy')).sort()).toEqual(['b.jpg', 'c.jpg']);
    expect(readFileSync(join(root, 'daisy', 'b.jpg')).equals(photo('b.jpg'))).toBe(true);
    expect(existsSync(join(dir, 'dups'))).toBe(false);
    expect(readdirSync(join(dir, 'first'))).toEqual(['a.jpg']);
    await expect(undoMoveOut(store, libraryId)).rejects.toSatisfy((e) => kindOf(e) === 'conflict');
  });

  it('a photo on a read-only disk is not moved, no copy is left, and a retry takes the same name (no " (2)")', async (context) => {
    const ro = mountTmpfs(join(root, 'ro'), { files: { 'r.jpg': photo('r.jpg') }, readOnly: true });
    if (typeof ro === 'string') return context.skip(ro);
    mounts.push(ro);
    await reopen();
    const out = join(dir, 'out');
    await expect(movePhotosOut(store, libraryId, [idOf('ro/r.jpg')], out)).rejects.toThrow(/ro\/r\.jpg: cannot be removed from its folder \(the disk is read-only\), so it was not moved; the copy made at .*out\/r\.jpg was removed again \(nothing was moved\)/);
    expect(existsSync(out)).toBe(false); // the folder made for it goes again
    execFileSync('mount', ['-o', 'remount,rw', join(root, 'ro')]);
    await movePhotosOut(store, libraryId, [idOf('ro/r.jpg')], out);
    expect(readdirSync(out)).toEqual(['r.jpg']);
  });

  it('stopped part way by a full disk: says which photos moved and names the full destination; Undo puts them back', async (context) => {
    const small = mountTmpfs(join(dir, 'small'), { sizeKb: 64 });
    if (typeof small === 'string') return context.skip(small);
    mounts.push(small);
    writeFileSync(join(root, 'daisy', 'big.jpg'), photo('big.jpg', 256 * 1024));
    await reopen();
    const ids = ['daisy/a.jpg', 'daisy/big.jpg', 'daisy/c.jpg'].map(idOf);
    const error = (await movePhotosOut(store, libraryId, ids, join(dir, 'small')).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe(`${join(dir, 'small')}: the disk is full; big.jpg could not be written there, and the photo was left where it is (1 of 3 photos were moved before this: daisy/a.jpg; Undo puts them back)`);
    expect(readdirSync(join(dir, 'small'))).toEqual(['a.jpg']);
    expect(readdirSync(join(root, 'daisy')).sort()).toEqual(['b.jpg', 'big.jpg', 'c.jpg']);
    expect(await undoMoveOut(store, libraryId)).toBe(1);
    expect(readdirSync(join(root, 'daisy')).sort()).toEqual(['a.jpg', 'b.jpg', 'big.jpg', 'c.jpg']);
  });
});

describe('undo of a write of labels to folders', () => {
  it('moves a photo that is a symlink into its class folder as the link, re-pointed, keeping its id; the photo it points to stays', async () => {
    mkdirSync(join(root, 'inbox', 'deep'), { recursive: true });
    symlinkSync('../../daisy/a.jpg', join(root, 'inbox', 'deep', 'a-link.jpg'));
    await reopen();
    const linkId = idOf('inbox/deep/a-link.jpg');
    changeLabels(store, libraryId, { kind: 'assign-photos', photoIds: [linkId], className: 'tulip' });
    expect(await writeLabels(store, libraryId, (await previewLabelWrite(store, libraryId)).fingerprint)).toBe(1);
    expect(lstatSync(join(root, 'tulip', 'a-link.jpg')).isSymbolicLink()).toBe(true);
    expect(realpathSync(join(root, 'tulip', 'a-link.jpg'))).toBe(join(root, 'daisy', 'a.jpg'));
    expect(readFileSync(join(root, 'daisy', 'a.jpg')).equals(photo('a.jpg'))).toBe(true);
    expect((await openLibrary({ store }, root)).sync).toMatchObject({ added: 0, removed: 0 });
    expect(store.photo(linkId)!.relPath).toBe('tulip/a-link.jpg');
    expect(await undoLabelWrite(store, libraryId)).toBe(1);
    expect(readlinkSync(join(root, 'inbox', 'deep', 'a-link.jpg'))).toBe('../../daisy/a.jpg');
  });

  it('never writes outside the library through a folder swapped for a link since the write', async () => {
    changeLabels(store, libraryId, { kind: 'assign-photos', photoIds: [idOf('daisy/a.jpg')], className: 'tulip' });
    expect(await writeLabels(store, libraryId, (await previewLabelWrite(store, libraryId)).fingerprint)).toBe(1);
    const elsewhere = join(dir, 'elsewhere');
    mkdirSync(elsewhere);
    renameSync(join(root, 'daisy'), join(dir, 'daisy-away'));
    symlinkSync(elsewhere, join(root, 'daisy'));
    await expect(undoLabelWrite(store, libraryId)).rejects.toThrow(/daisy: leads to .*elsewhere now .*nothing was moved there/);
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(readdirSync(join(root, 'tulip'))).toEqual(['a.jpg']);
  });
});

describe('whose unfinished batch is it', () => {
  it('leaves the batch of a live process alone (new moves wait for it); the same pid in an earlier boot of the machine is over', async () => {
    const journal = store.moveJournal;
    const id = journal.begin({ libraryId, kind: 'move-out', fromRoot: root, toRoot: join(dir, 'out') }, [
      { photoId: idOf('daisy/a.jpg'), from: 'daisy/a.jpg', to: 'a.jpg', size: photo('a.jpg').length, labelBefore: null, labelAfter: null },
    ]);
    // The parent of this process: alive, on this machine, and not this process.
    runSql(store.path, 'UPDATE move_batches SET owner_pid = ?, owner_host = ? WHERE id = ?', process.ppid, thisMachine(), id);
    expect(await recoverMoves(store, libraryId)).toEqual([]);
    await expect(movePhotosOut(store, libraryId, [idOf('daisy/b.jpg')], join(dir, 'out'))).rejects.toThrow(/being moved now/);
    runSql(store.path, 'UPDATE move_batches SET owner_host = ? WHERE id = ?', `${thisMachine()} before a restart`, id);
    const [notice] = await recoverMoves(store, libraryId);
    expect(notice).toMatch(/Lookalike ended while moving photos out of the library .*: 0 of 1 photos had been moved, the other 1 were left where they were/);
    expect(journal.batch(id)!.state).toBe('interrupted');
    expect(existsSync(join(root, 'daisy', 'a.jpg'))).toBe(true);
  });
});
