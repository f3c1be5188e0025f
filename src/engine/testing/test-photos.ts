import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import sharp from 'sharp';
import { describe } from 'vitest';
import { makeSampleLibrary } from '../library/sample-library.js';

/**
 * `../shared` beside the checkout holds data the project may not redistribute (flowers17, a user
 * model). Suites that need it skip without it, with one line saying what they need; everything else
 * runs on photos drawn here.
 */
const CHECKOUT = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../..');
export const SHARED = resolve(CHECKOUT, '..', 'shared');
/** flowers17 (read-only): tests copy a few photos out of it. */
export const FLOWERS17 = join(SHARED, 'datasets', 'flowers17');
/** A TF.js layers model folder (MobileNetV2 0.35, ImageNet weights). */
export const MOBILENET_035 = join(SHARED, 'models', 'mobilenetv2-0.35-imagenet');

/** Why a suite needing these shared paths cannot run here, in one line, or null when they are all there. */
export function missingShared(paths: string[]): string | null {
  const missing = paths.filter((path) => !existsSync(path));
  if (missing.length === 0) return null;
  return `skipped: needs ${missing.map((path) => relative(CHECKOUT, path)).join(' and ')} beside the checkout (not found)`;
}

const announced = new Set<string>();

/**
 * `describe` for a suite that needs shared data; where it is missing, the suite is skipped with the
 * reason in its title and printed once (so a fresh clone's `npm test` says what did not run and why).
 */
export function describeWithShared(paths: string[], title: string, body: () => void, options: { timeout?: number } = {}): void {
  const reason = missingShared(paths);
  if (reason === null) {
    describe(title, options, body);
    return;
  }
  if (!announced.has(reason)) {
    announced.add(reason);
    console.warn(`${title}: ${reason}`);
  }
  describe.skip(`${title} (${reason})`, body);
}

/** A temp folder that is removed again when `fill` fails, so a failed setup leaves nothing behind. */
async function tempFolder(prefix: string, fill: (root: string) => Promise<void>): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), prefix));
  try {
    await fill(root);
    return root;
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

/**
 * A small labelled library of photos drawn here (the sample library's classes: circles, squares,
 * stripes, stars), in a temp folder: `perClass` JPEGs per class, optionally unlabelled ones in the
 * root and a damaged file in the first class. Returns its root.
 */
export function drawTestLibrary(options: { classes: string[]; perClass: number; unlabelled?: number; damaged?: boolean; seed?: number }): Promise<string> {
  return tempFolder('lookalike-lib-', async (root) => {
    await makeSampleLibrary(root, { classes: options.classes, perClass: options.perClass, unlabelled: options.unlabelled ?? 0, seed: options.seed });
    if (options.damaged) writeFileSync(join(root, options.classes[0], 'damaged.jpg'), 'this is not a JPEG');
  });
}

/**
 * One photo-like JPEG of the given size drawn here (a gradient sky, a sun, hills and grain), for tests
 * that need a real, non-square, many-coloured image rather than a flat one.
 */
export async function drawPhoto(path: string, width = 320, height = 240, seed = 1): Promise<string> {
  const hue = (seed * 67) % 360;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="hsl(${hue},70%,75%)"/><stop offset="1" stop-color="hsl(${(hue + 40) % 360},60%,45%)"/></linearGradient></defs>
    <rect width="${width}" height="${height}" fill="url(#sky)"/>
    <circle cx="${width * 0.7}" cy="${height * 0.3}" r="${height * 0.15}" fill="hsl(${(hue + 180) % 360},90%,60%)"/>
    <path d="M0 ${height * 0.75} Q ${width * 0.3} ${height * 0.5} ${width * 0.6} ${height * 0.7} T ${width} ${height * 0.65} V ${height} H 0 Z" fill="hsl(${(hue + 100) % 360},50%,30%)"/>
  </svg>`;
  const grain = Buffer.alloc(width * height * 3);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < grain.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    grain[i] = state >>> 24;
  }
  const noise = await sharp(grain, { raw: { width, height, channels: 3 } }).png().toBuffer();
  await sharp(Buffer.from(svg))
    .composite([{ input: noise, blend: 'soft-light' }])
    .jpeg({ quality: 90 })
    .toFile(path);
  return path;
}

/**
 * A small real library in a temp folder: `perClass` photos of each class copied from flowers17,
 * optionally one unlabelled photo in the root and a damaged file. Returns its root. Needs ../shared.
 */
export function copyFlowersLibrary(options: { classes: string[]; perClass: number; unlabelled?: boolean; damaged?: boolean; offset?: number }): string {
  const root = mkdtempSync(join(tmpdir(), 'lookalike-lib-'));
  try {
    const offset = options.offset ?? 0;
    for (const cls of options.classes) {
      mkdirSync(join(root, cls));
      for (const file of photosOf(cls).slice(offset, offset + options.perClass)) copyFileSync(join(FLOWERS17, cls, file), join(root, cls, file));
    }
    if (options.unlabelled) copyFileSync(join(FLOWERS17, 'sunflower', photosOf('sunflower')[70]), join(root, 'loose-sunflower.jpg'));
    if (options.damaged) writeFileSync(join(root, options.classes[0], 'damaged.jpg'), 'this is not a JPEG');
    return root;
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
}

export function photosOf(cls: string): string[] {
  return readdirSync(join(FLOWERS17, cls)).filter((f) => f.endsWith('.jpg')).sort();
}
