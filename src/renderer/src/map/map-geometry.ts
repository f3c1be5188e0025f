import type { MapViewport } from './points-gl';

/** Share of the canvas's shorter side the whole map takes at first (a margin around it). */
const FIT = 0.92;
export const MIN_ZOOM = 0.5;
export const MAX_ZOOM = 400;

/** The whole map, centred, in a canvas of this size (canvas pixels). */
export function fitViewport(width: number, height: number): MapViewport {
  return { centreX: 0.5, centreY: 0.5, pixelsPerUnit: Math.max(1, Math.min(width, height) * FIT) };
}

export function toCanvas(view: MapViewport, width: number, height: number, x: number, y: number): [number, number] {
  return [(x - view.centreX) * view.pixelsPerUnit + width / 2, (y - view.centreY) * view.pixelsPerUnit + height / 2];
}

export function toMap(view: MapViewport, width: number, height: number, cx: number, cy: number): [number, number] {
  return [(cx - width / 2) / view.pixelsPerUnit + view.centreX, (cy - height / 2) / view.pixelsPerUnit + view.centreY];
}

/** Zoomed by `factor` about a canvas point, which stays where it is; within MIN_ZOOM..MAX_ZOOM of the fitted view. */
export function zoomAt(view: MapViewport, width: number, height: number, cx: number, cy: number, factor: number): MapViewport {
  const fitted = fitViewport(width, height).pixelsPerUnit;
  const pixelsPerUnit = Math.min(fitted * MAX_ZOOM, Math.max(fitted * MIN_ZOOM, view.pixelsPerUnit * factor));
  const [mx, my] = toMap(view, width, height, cx, cy);
  return { pixelsPerUnit, centreX: mx - (cx - width / 2) / pixelsPerUnit, centreY: my - (cy - height / 2) / pixelsPerUnit };
}

export function panBy(view: MapViewport, dx: number, dy: number): MapViewport {
  return { ...view, centreX: view.centreX - dx / view.pixelsPerUnit, centreY: view.centreY - dy / view.pixelsPerUnit };
}

/** The point nearest a canvas point within `radius` canvas pixels, or −1. */
export function nearestPoint(xs: Float32Array, ys: Float32Array, view: MapViewport, width: number, height: number, cx: number, cy: number, radius: number): number {
  const [mx, my] = toMap(view, width, height, cx, cy);
  let best = -1;
  let bestDistance = (radius / view.pixelsPerUnit) ** 2;
  for (let i = 0; i < xs.length; i++) {
    const d = (xs[i] - mx) ** 2 + (ys[i] - my) ** 2;
    if (d <= bestDistance) {
      best = i;
      bestDistance = d;
    }
  }
  return best;
}

/** Positions of the points inside a polygon (map coordinates, even-odd rule). */
export function pointsInPolygon(xs: Float32Array, ys: Float32Array, polygon: Array<[number, number]>): number[] {
  if (polygon.length < 3) return [];
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of polygon) {
    minX = Math.min(minX, x);
    maxX = Math.max(maxX, x);
    minY = Math.min(minY, y);
    maxY = Math.max(maxY, y);
  }
  const inside: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    const y = ys[i];
    if (x < minX || x > maxX || y < minY || y > maxY) continue;
    let crossings = false;
    for (let a = 0, b = polygon.length - 1; a < polygon.length; b = a++) {
      const [ax, ay] = polygon[a];
      const [bx, by] = polygon[b];
      if (ay > y !== by > y && x < ((bx - ax) * (y - ay)) / (by - ay) + ax) crossings = !crossings;
    }
    if (crossings) inside.push(i);
  }
  return inside;
}

/** Point size in canvas pixels: smaller the more points there are, growing as one zooms in. */
export function pointSize(count: number, zoom: number, pixelRatio: number): number {
  const base = Math.min(8, Math.max(2, 10 - 1.6 * Math.log10(Math.max(10, count))));
  return base * Math.min(3, Math.sqrt(Math.max(1, zoom))) * pixelRatio;
}
