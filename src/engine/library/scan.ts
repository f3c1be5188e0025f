import type { Dirent, Stats } from 'node:fs';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { extname, join, relative, resolve, sep } from 'node:path';
import type { Problem } from '../../shared/api.js';
import { invalidInput, notFound } from '../../shared/errors.js';
import { IMAGE_EXTENSIONS } from './image.js';
import { checkPhotoStats, type ImageError } from './photo-gate.js';
import { isInsideFolder } from '../common/paths.js';
import { describeFileError } from '../common/error-words.js';

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
  /** Sorted by relPath. */
  files: ScannedFile[];
  problems: Problem[];
  /**
   * What could not be read this time, as relPaths: files, and folders ending in '/'. Photos stored
   * from there are kept as they were (a folder that is briefly unreadable must not cost its embeddings).
   */
  unreadable: string[];
}

const STAT_CONCURRENCY = 64;

/**
 * Lists a labelled photo folder: each first-level sub-folder is a class, deeper photos belong to
 * their first-level folder, photos in the root are unlabelled. Only reads, and only stats files
 * (no decoding). Hidden entries and non-images are skipped silently; anything else that can't be
 * used becomes a problem and the scan goes on. Throws only when the root itself can't be listed.
 */
export async function scanLibrary(rootPath: string, options: { exclude?: string[] } = {}): Promise<ScanResult> {
  const root = await openRoot(rootPath);
  const exclude = new Set((await Promise.all((options.exclude ?? []).map((path) => realpath(path).catch(() => null)))).filter((p): p is string => p !== null && p !== root));
  const walker = new FolderWalker(root, exclude);
  await walker.walk();
  const files = await statCandidates(walker.candidates, (file, reason) => {
    walker.problem(file.location, reason);
    walker.unreadable.push(file.relPath);
  });
  files.sort((a, b) => compare(a.relPath, b.relPath));
  const problems = walker.problems.sort((a, b) => compare(a.path, b.path) || compare(a.reason, b.reason));
  return { root, classes: [...walker.classes].sort(compare), files, problems, unreadable: walker.unreadable.sort(compare) };
}

interface Candidate {
  absPath: string;
  relPath: string;
  className: string | null;
  /** Where the entry really is, relative to the root: problems are reported there, and once. */
  location: string;
}

interface Folder {
  absPath: string;
  /** '' for the root. */
  relPath: string;
  realPath: string;
  /** realPath relative to the root. */
  location: string;
  /** Location of the entry that led here: the folder itself, or the symlink to it. */
  reachedFrom: string;
  className: string | null;
  parent: Folder | null;
  /** Reached through a symlink (itself or an ancestor). */
  viaLink: boolean;
}

interface Entry {
  name: string;
  relPath: string;
  absPath: string;
  location: string;
}

/**
 * Walks every real folder before any folder reached through a symlink, so a photo is listed under
 * its real path and a link to a folder already listed is the one reported. Each real folder is
 * walked at most once per class: that bounds the walk whatever the links do, and a link into
 * another class's folder still brings those photos into the link's class.
 */
class FolderWalker {
  readonly classes = new Set<string>();
  readonly candidates: Candidate[] = [];
  readonly unreadable: string[] = [];
  private readonly realFolders: Folder[] = [];
  private readonly linkedFolders: Folder[] = [];
  private readonly walked = new Set<string>();
  private readonly reported = new Map<string, Problem>();

  /** `exclude`: the app's own folders (real paths), never walked, never a class. */
  constructor(
    private readonly root: string,
    private readonly exclude: ReadonlySet<string>,
  ) {}

  get problems(): Problem[] {
    return [...this.reported.values()];
  }

  async walk(): Promise<void> {
    const root = this.root;
    this.realFolders.push({ absPath: root, relPath: '', realPath: root, location: '', reachedFrom: '', className: null, parent: null, viaLink: false });
    for (let folder = this.next(); folder; folder = this.next()) await this.readFolder(folder);
  }

  /** Reports a problem once, however many paths lead to it. */
  problem(path: string, reason: string): void {
    this.reported.set(`${path}\0${reason}`, { path, reason });
  }

  private next(): Folder | undefined {
    return this.realFolders.pop() ?? this.linkedFolders.pop();
  }

  private async readFolder(folder: Folder): Promise<void> {
    if (!this.claim(folder)) return;
    let dirents: Dirent<Buffer>[];
    try {
      dirents = await readdir(folder.absPath, { withFileTypes: true, encoding: 'buffer' });
    } catch (error) {
      const reason = `cannot read folder (${describeFsError(error)})`;
      if (folder.parent === null) throw new Error(`${folder.absPath}: ${reason}`);
      this.problem(folder.location, reason);
      this.unreadable.push(`${folder.relPath}/`);
      return;
    }
    dirents.sort((a, b) => Buffer.compare(a.name, b.name));
    for (const dirent of dirents) await this.visit(folder, dirent);
  }

  private async visit(folder: Folder, dirent: Dirent<Buffer>): Promise<void> {
    const name = dirent.name.toString('utf8');
    if (name.startsWith('.')) return;
    const entry: Entry = { name, relPath: under(folder.relPath, name), absPath: join(folder.absPath, name), location: under(folder.location, name) };
    if (!Buffer.from(name, 'utf8').equals(dirent.name)) {
      // The lossy-decoded name can't be opened, so the entry is unusable; only a non-image file is skipped silently.
      const silentlySkipped = dirent.isFile() && !isImageName(name);
      if (!silentlySkipped) {
        this.problem(entry.location, `${dirent.isDirectory() ? 'folder' : 'file'} name is not valid UTF-8; rename it to include it`);
      }
      return;
    }
    if (dirent.isSymbolicLink()) await this.visitLink(folder, entry);
    else if (dirent.isDirectory()) {
      if (!(await this.isAppFolder(join(folder.realPath, name)))) this.addFolder(folder, entry, join(folder.realPath, name), false);
    }
    else if (dirent.isFile() && isImageName(name)) this.addPhoto(folder, entry);
  }

  private async visitLink(folder: Folder, link: Entry): Promise<void> {
    let target: string;
    let info: Stats;
    try {
      target = await realpath(link.absPath);
      info = await stat(target);
    } catch (error) {
      this.problem(link.location, describeBrokenLink(error));
      return;
    }
    if (!isInsideFolder(target, this.root)) {
      this.problem(link.location, 'symlink points outside the library; skipped');
    } else if (info.isDirectory()) {
      if (await this.isAppFolder(target)) return;
      if (this.isLoop(folder, target)) this.problem(link.location, 'symlink loop (points back to a folder that contains it); skipped');
      else this.addFolder(folder, link, target, true);
    } else if (info.isFile() && isImageName(link.name)) {
      this.addPhoto(folder, link);
    }
  }

  private addPhoto(folder: Folder, entry: Entry): void {
    this.candidates.push({ absPath: entry.absPath, relPath: entry.relPath, className: folder.className, location: entry.location });
  }

  private addFolder(parent: Folder, entry: Entry, realPath: string, isLink: boolean): void {
    if (parent.className === null) this.classes.add(entry.name);
    const viaLink = isLink || parent.viaLink;
    (viaLink ? this.linkedFolders : this.realFolders).push({
      absPath: entry.absPath,
      relPath: entry.relPath,
      realPath,
      location: isLink ? relativeTo(this.root, realPath) : entry.location,
      reachedFrom: entry.location,
      className: parent.className ?? entry.name,
      parent,
      viaLink,
    });
  }

  /**
   * Lookalike's own folders (the thumbnail cache, the data folder) and any cache folder marked the
   * standard way (CACHEDIR.TAG): indexing them would index our own thumbnails, more with every view.
   */
  private async isAppFolder(realPath: string): Promise<boolean> {
    if (this.exclude.has(realPath)) return true;
    return isCacheFolder(realPath);
  }

  /** Claimed when read, not when found, so that every real folder is claimed before any link to it. */
  private claim(folder: Folder): boolean {
    const key = walkKey(folder.className, folder.realPath);
    if (this.walked.has(key)) {
      this.problem(folder.reachedFrom, 'folder already included in this class through another path (symlink); skipped');
      return false;
    }
    this.walked.add(key);
    return true;
  }

  /** The target contains the folder the link sits in, really or along the path the walk took to it. */
  private isLoop(folder: Folder, target: string): boolean {
    if (isInsideFolder(folder.realPath, target)) return true;
    for (let ancestor: Folder | null = folder; ancestor; ancestor = ancestor.parent) {
      if (ancestor.realPath === target) return true;
    }
    return false;
  }
}

/** A folder marked as a cache by the Cache Directory Tagging Specification (https://bford.info/cachedir/). */
export async function isCacheFolder(folder: string): Promise<boolean> {
  try {
    const handle = await open(join(folder, CACHEDIR_TAG), 'r');
    try {
      const head = Buffer.alloc(CACHEDIR_SIGNATURE.length);
      await handle.read(head, 0, head.length, 0);
      return head.toString('latin1') === CACHEDIR_SIGNATURE;
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}

export const CACHEDIR_TAG = 'CACHEDIR.TAG';
export const CACHEDIR_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';

async function statCandidates(candidates: Candidate[], problem: (file: Candidate, reason: string) => void): Promise<ScannedFile[]> {
  const files: ScannedFile[] = [];
  await forEachLimited(candidates, STAT_CONCURRENCY, async (candidate) => {
    const { absPath, relPath, className } = candidate;
    let info: Stats;
    try {
      info = await stat(absPath);
    } catch (error) {
      problem(candidate, `cannot read file (${describeFsError(error)})`);
      return;
    }
    try {
      checkPhotoStats(info, relPath);
    } catch (error) {
      problem(candidate, (error as ImageError).reason);
      return;
    }
    files.push({ relPath, absPath, className, size: info.size, mtimeMs: Math.round(info.mtimeMs) });
  });
  return files;
}

async function openRoot(rootPath: string): Promise<string> {
  const absolute = resolve(rootPath);
  let real: string;
  let info: Stats;
  try {
    real = await realpath(absolute);
    info = await stat(real);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notFound(`${absolute}: folder not found`);
    throw new Error(`${absolute}: cannot open (${describeFsError(error)})`);
  }
  if (!info.isDirectory()) throw invalidInput(`${absolute}: not a folder`);
  return real;
}

function describeBrokenLink(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return 'broken symlink (its target does not exist)';
    case 'ELOOP':
      return 'symlink loop (the link leads back to itself)';
    default:
      return `cannot follow symlink (${describeFsError(error)})`;
  }
}

function describeFsError(error: unknown): string {
  return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it no longer exists' : describeFileError(error);
}

function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
}

function under(folder: string, name: string): string {
  return folder ? `${folder}/${name}` : name;
}

function relativeTo(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

function walkKey(className: string | null, realPath: string): string {
  return `${className ?? ''}\0${realPath}`;
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
