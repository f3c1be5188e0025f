import sharp from 'sharp';
import type { LibraryMap } from '../../../shared/api.js';
import { classColour } from '../../../shared/map-palette.js';

const BACKGROUND = [19, 20, 23] as const;
/** The map's share of the image's side (a margin around it). */
const FIT = 0.94;
const LEGEND_WIDTH = 220;
const LEGEND_LINE = 22;

/**
 * A map as a PNG, drawn here without a browser: every photo a disc in its class colour on a square
 * RGBA canvas of `size` pixels (drawn in photo order, later ones on top), with the class legend in
 * a column on the right.
 */
export async function mapPng(map: LibraryMap, size: number): Promise<Buffer> {
  const pixels = Buffer.alloc(size * size * 4);
  for (let i = 0; i < size * size; i++) pixels.set([...BACKGROUND, 255], i * 4);
  const radius = Math.max(1.2, Math.min(5, (size / 1000) * (7 - 1.2 * Math.log10(Math.max(10, map.photoIds.length)))));
  const offset = (size * (1 - FIT)) / 2;
  for (let i = 0; i < map.photoIds.length; i++) disc(pixels, size, offset + map.x[i] * size * FIT, offset + map.y[i] * size * FIT, radius, classColour(map.classOf[i]));
  const height = Math.max(size, (map.classes.length + 4) * LEGEND_LINE);
  return sharp(pixels, { raw: { width: size, height: size, channels: 4 } })
    .extend({ right: LEGEND_WIDTH, bottom: height - size, background: { r: BACKGROUND[0], g: BACKGROUND[1], b: BACKGROUND[2], alpha: 1 } })
    .composite([{ input: Buffer.from(legendSvg(map, height)), left: size, top: 0 }])
    .png()
    .toBuffer();
}

/** A filled disc, its edge pixels blended by coverage (4×4 samples), so small points stay round. */
function disc(pixels: Buffer, size: number, cx: number, cy: number, radius: number, colour: readonly [number, number, number]): void {
  for (let y = Math.max(0, Math.floor(cy - radius)); y <= Math.min(size - 1, Math.ceil(cy + radius)); y++) {
    for (let x = Math.max(0, Math.floor(cx - radius)); x <= Math.min(size - 1, Math.ceil(cx + radius)); x++) {
      let covered = 0;
      for (let sy = 0; sy < 4; sy++) for (let sx = 0; sx < 4; sx++) if ((x + (sx + 0.5) / 4 - cx) ** 2 + (y + (sy + 0.5) / 4 - cy) ** 2 <= radius * radius) covered++;
      if (covered === 0) continue;
      const at = (y * size + x) * 4;
      const alpha = covered / 16;
      for (let c = 0; c < 3; c++) pixels[at + c] = Math.round(pixels[at + c] * (1 - alpha) + colour[c] * alpha);
    }
  }
}

const escapeXml = (text: string) => text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

function legendSvg(map: LibraryMap, height: number): string {
  const rows = [...map.classes.map((name, i) => ({ name, colour: classColour(i) })), { name: 'no class', colour: classColour(-1) }];
  const lines = rows.map(
    (row, i) =>
      `<circle cx="16" cy="${62 + i * LEGEND_LINE}" r="6" fill="rgb(${row.colour.join(',')})"/><text x="30" y="${67 + i * LEGEND_LINE}" fill="#e8e9eb" font-size="14" font-family="sans-serif">${escapeXml(row.name)}</text>`,
  );
  const name = map.modelName.length > 28 ? `${map.modelName.slice(0, 27)}…` : map.modelName;
  const title = `<text x="8" y="20" fill="#b7bbc2" font-size="13" font-family="sans-serif">${escapeXml(name)}</text><text x="8" y="${20 + LEGEND_LINE * 0.8}" fill="#8a9099" font-size="12" font-family="sans-serif">${map.photoIds.length} photos</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${LEGEND_WIDTH}" height="${height}">${title}${lines.join('')}</svg>`;
}
