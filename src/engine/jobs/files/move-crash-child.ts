/**
 * A process that writes labels to folders (or undoes the last write) on a database and prints one
 * line per photo moved, for the crash test to kill with SIGKILL at a point of its choosing.
 * Usage: node --import tsx move-crash-child.ts <db> <library root> write|undo
 */
import { Store } from '../../store/store.js';
import { previewLabelWrite, undoLabelWrite, writeLabels } from './write-labels.js';

const [dbPath, root, action] = process.argv.slice(2);
const store = Store.open(dbPath);
const libraryId = store.libraryIdOf(root)!;
const onProgress = (done: number) => process.stdout.write(`${done}\n`);
if (action === 'write') {
  const preview = await previewLabelWrite(store, libraryId);
  await writeLabels(store, libraryId, preview.fingerprint, { onProgress });
} else {
  await undoLabelWrite(store, libraryId, { onProgress });
}
store.close();
process.stdout.write('finished\n');
