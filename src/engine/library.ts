import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import type { Problem } from '../shared/api.js';
import { IMAGE_EXTENSIONS } from './image.js';

export interface ScannedFile {
  /** '/'-separated, relative to the root. */
  relPath: string;
  absPath: string;
  /** The first-level folder the photo sits under; null for photos directly in the root. */
  className: string | null;
  size: number;
  mtimeMs: number;
}

export interface ScanResult {
  /** Absolute real path of the root. */
  root: string;
  /** Every first-level folder, sorted, including empty ones. */
  classes: string[];
  files: ScannedFile[];
  problems: Problem[];
}

const STAT_CONCURRENCY = 64;

/**
 * Lists a labelled photo folder: each first-level sub-folder is a class, deeper photos belong to
 * their first-level folder, photos in the root are unlabelled. Only reads. Hidden entries and
 * non-images are skipped silently; anything else that can't be used becomes a problem, and the
 * scan goes on.
 */
export async function scanLibrary(rootPath: string): Promise<ScanResult> {
  const root = await openRoot(rootPath);
  const problems: Problem[] = [];
  const classes = new Set<string>();
  const candidates: Array<{ absPath: string; relPath: string; className: string | null }> = [];
  const visitedDirs = new Set<string>([root]);

  const walk = async (dir: string, className: string | null): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true, encoding: 'buffer' });
    } catch (error) {
      problems.push({ path: relPath(root, dir), reason: `cannot read folder (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` });
      return;
    }
    for (const entry of entries) {
      const name = entry.name.toString('utf8');
      if (name.startsWith('.')) continue;
      const absPath = join(dir, name);
      if (!Buffer.from(name, 'utf8').equals(entry.name)) {
        problems.push({ path: relPath(root, absPath), reason: 'file name is not valid UTF-8; rename it to include it' });
        continue;
      }
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await realpath(absPath).catch(() => null);
        if (!target) {
          problems.push({ path: relPath(root, absPath), reason: 'broken symlink' });
          continue;
        }
        if (target !== root && !target.startsWith(root + sep)) {
          problems.push({ path: relPath(root, absPath), reason: 'symlink points outside the library; skipped' });
          continue;
        }
        const targetStat = await stat(target).catch(() => null);
        isDir = Boolean(targetStat?.isDirectory());
        isFile = Boolean(targetStat?.isFile());
      }
      const childClass = className ?? name;
      if (isDir) {
        const real = await realpath(absPath).catch(() => absPath);
        if (visitedDirs.has(real)) {
          problems.push({ path: relPath(root, absPath), reason: 'folder already scanned (symlink loop or duplicate link); skipped' });
          continue;
        }
        visitedDirs.add(real);
        if (className === null) classes.add(name);
        await walk(absPath, childClass);
      } else if (isFile && IMAGE_EXTENSIONS.has(extname(name).toLowerCase())) {
        candidates.push({ absPath, relPath: relPath(root, absPath), className });
      }
    }
  };
  await walk(root, null);

  const files: ScannedFile[] = [];
  await forEachLimited(candidates, STAT_CONCURRENCY, async (candidate) => {
    try {
      const info = await stat(candidate.absPath);
      if (info.size === 0) {
        problems.push({ path: candidate.relPath, reason: 'file is empty' });
        return;
      }
      files.push({ ...candidate, size: info.size, mtimeMs: Math.round(info.mtimeMs) });
    } catch (error) {
      problems.push({ path: candidate.relPath, reason: `cannot read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` });
    }
  });
  files.sort((a, b) => compare(a.relPath, b.relPath));
  problems.sort((a, b) => compare(a.path, b.path));
  return { root, classes: [...classes].sort(compare), files, problems };
}

async function openRoot(rootPath: string): Promise<string> {
  const absolute = resolve(rootPath);
  const info = await lstat(absolute).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${absolute}: ${error.code === 'ENOENT' ? 'folder not found' : `cannot open (${error.code ?? error.message})`}`);
  });
  const real = info.isSymbolicLink() ? await realpath(absolute) : absolute;
  if (!(await stat(real)).isDirectory()) throw new Error(`${absolute}: not a folder`);
  return realpath(real);
}

function relPath(root: string, absPath: string): string {
  return relative(root, absPath).split(sep).join('/');
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

async function forEachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
