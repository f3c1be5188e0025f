import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Mounted {
  path: string;
  unmount(): void;
}

/**
 * A tmpfs at `path` (a file system of its own: moves onto it are copies), with `files` written into it,
 * then made read-only when asked. Needs root on Linux; elsewhere returns the one-line reason to skip.
 */
export function mountTmpfs(path: string, options: { sizeKb?: number; files?: Record<string, string | Buffer>; readOnly?: boolean } = {}): Mounted | string {
  if (process.platform !== 'linux') return 'mounting a tmpfs needs Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  mkdirSync(path, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${options.sizeKb ?? 65536}k`, 'tmpfs', path], { stdio: 'pipe' });
  } catch (error) {
    return `cannot mount a tmpfs here (${String((error as { stderr?: Buffer }).stderr ?? error).trim()})`;
  }
  const unmount = () => execFileSync('umount', ['-l', path], { stdio: 'pipe' });
  for (const [name, bytes] of Object.entries(options.files ?? {})) writeFileSync(join(path, name), bytes);
  if (options.readOnly) execFileSync('mount', ['-o', 'remount,ro', path], { stdio: 'pipe' });
  return { path, unmount };
}
