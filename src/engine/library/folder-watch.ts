import { watch as fsWatch, type FSWatcher } from 'node:fs';

export interface FolderWatchEvents {
  /** Something under the folder was added, changed, moved or removed. */
  onChange: () => void;
  /** Watching stopped or could not start: changes are not seen until the folder is opened again. */
  onError: (reason: string) => void;
}

/**
 * Watches a library folder and everything below it; returns the function that stops watching. An
 * error is reported, never swallowed: the watcher then closes, and the person is told why. (Node's
 * recursive fs.watch covers Linux, macOS and Windows on Node 20; chokidar is not used.)
 */
export function watchFolder(root: string, events: FolderWatchEvents, watch: typeof fsWatch = fsWatch): () => void {
  let watcher: FSWatcher;
  try {
    watcher = watch(root, { recursive: true }, () => events.onChange());
  } catch (error) {
    events.onError(`changes to the folder are not watched here (${(error as Error).message}); open it again to pick them up`);
    return () => undefined;
  }
  watcher.on('error', (error: Error) => {
    watcher.close();
    events.onError(`stopped watching the folder for changes (${error.message}); open it again to pick them up`);
  });
  return () => watcher.close();
}
