import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRng, randomInt, type Rng } from '../common/rng.js';

/**
 * A small labelled library drawn here, so a new user can try the app without photos of their own
 * (and without copying anyone's dataset): four classes of simple scenes, varied in colour, size,
 * position and clutter, plus a few unlabelled ones in the root.
 */
const CLASSES: Record<string, (rng: Rng, colour: string) => string> = {
  circles: (rng, colour) => shapes(rng, 1 + randomInt(rng, 3), (x, y, s) => `<circle cx="${x}" cy="${y}" r="${s / 2}" fill="${colour}"/>`),
  squares: (rng, colour) => shapes(rng, 1 + randomInt(rng, 3), (x, y, s) => `<rect x="${x - s / 2}" y="${y - s / 2}" width="${s}" height="${s}" fill="${colour}" transform="rotate(${randomInt(rng, 30) - 15} ${x} ${y})"/>`),
  stripes: (rng, colour) => {
    const width = 8 + randomInt(rng, 20);
    const angle = randomInt(rng, 180);
    const lines = Array.from({ length: 24 }, (_, i) => `<rect x="${i * width * 2 - 256}" y="-256" width="${width}" height="768" fill="${colour}"/>`).join('');
    return `<g transform="rotate(${angle} 128 128)">${lines}</g>`;
  },
  stars: (rng, colour) =>
    shapes(rng, 1 + randomInt(rng, 2), (x, y, s) => {
      const points = Array.from({ length: 10 }, (_, i) => {
        const r = i % 2 === 0 ? s / 2 : s / 5;
        const a = (Math.PI * i) / 5 - Math.PI / 2;
        return `${(x + r * Math.cos(a)).toFixed(1)},${(y + r * Math.sin(a)).toFixed(1)}`;
      });
      return `<polygon points="${points.join(' ')}" fill="${colour}"/>`;
    }),
};

export const SAMPLE_CLASSES = Object.keys(CLASSES);

export async function makeSampleLibrary(root: string, options: { perClass?: number; unlabelled?: number; seed?: number; classes?: string[] } = {}): Promise<string> {
  await refuseNonEmpty(root);
  const perClass = options.perClass ?? 24;
  const rng = createRng(options.seed ?? 7);
  const jobs: Array<Promise<unknown>> = [];
  const unknown = (options.classes ?? []).filter((name) => !(name in CLASSES));
  if (unknown.length > 0) throw new Error(`no sample class named ${unknown.join(', ')} (there are ${SAMPLE_CLASSES.join(', ')})`);
  for (const [name, draw] of Object.entries(CLASSES)) {
    if (options.classes && !options.classes.includes(name)) continue;
    await mkdir(join(root, name), { recursive: true });
    for (let i = 0; i < perClass; i++) jobs.push(render(join(root, name, `${name}-${String(i + 1).padStart(2, '0')}.jpg`), draw, rng));
  }
  const names = Object.keys(CLASSES);
  for (let i = 0; i < (options.unlabelled ?? 4); i++) {
    const name = names[i % names.length];
    jobs.push(render(join(root, `unsorted-${i + 1}.jpg`), CLASSES[name], rng));
  }
  await Promise.all(jobs);
  return root;
}

function render(path: string, draw: (rng: Rng, colour: string) => string, rng: Rng): Promise<void> {
  const hue = randomInt(rng, 360);
  const background = `hsl(${(hue + 120 + randomInt(rng, 120)) % 360}, ${20 + randomInt(rng, 40)}%, ${60 + randomInt(rng, 30)}%)`;
  const colour = `hsl(${hue}, ${50 + randomInt(rng, 50)}%, ${30 + randomInt(rng, 30)}%)`;
  const clutter = Array.from({ length: 6 }, () => `<circle cx="${randomInt(rng, 256)}" cy="${randomInt(rng, 256)}" r="${1 + randomInt(rng, 4)}" fill="rgba(0,0,0,0.25)"/>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="${background}"/>${clutter}${draw(rng, colour)}</svg>`;
  // 'wx': a file that appeared meanwhile is never overwritten.
  return sharp(Buffer.from(svg))
    .jpeg({ quality: 88 })
    .toBuffer()
    .then((jpeg) => writeFile(path, jpeg, { flag: 'wx' }));
}

/** The sample goes into a new or empty folder only: nothing of the user's is ever overwritten. */
async function refuseNonEmpty(root: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new Error(`${root}: is a file, not a folder; choose a new or empty folder for the sample library`);
    throw error;
  }
  if (entries.length > 0) {
    throw new Error(`${root}: the folder is not empty (${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}); choose a new or empty folder for the sample library, nothing was written`);
  }
}

function shapes(rng: Rng, count: number, one: (x: number, y: number, size: number) => string): string {
  return Array.from({ length: count }, () => one(48 + randomInt(rng, 160), 48 + randomInt(rng, 160), 40 + randomInt(rng, 90))).join('');
}
