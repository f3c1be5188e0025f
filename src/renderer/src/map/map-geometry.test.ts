import { describe, expect, it } from 'vitest';
import { fitViewport, nearestPoint, panBy, pointsInPolygon, toCanvas, toMap, zoomAt } from './map-geometry';

const xs = Float32Array.of(0.1, 0.5, 0.52, 0.9);
const ys = Float32Array.of(0.1, 0.5, 0.5, 0.9);

describe('map geometry', () => {
  it('zooms about the cursor: the map point under it stays there', () => {
    const view = fitViewport(800, 600);
    const before = toMap(view, 800, 600, 610, 150);
    const zoomed = zoomAt(view, 800, 600, 610, 150, 3);
    expect(zoomed.pixelsPerUnit).toBeCloseTo(view.pixelsPerUnit * 3);
    const after = toCanvas(zoomed, 800, 600, before[0], before[1]);
    expect(after[0]).toBeCloseTo(610);
    expect(after[1]).toBeCloseTo(150);
    // Panning moves the map with the pointer.
    const panned = panBy(zoomed, 40, -20);
    const moved = toCanvas(panned, 800, 600, before[0], before[1]);
    expect(moved[0]).toBeCloseTo(650);
    expect(moved[1]).toBeCloseTo(130);
  });

  it('finds the point under the cursor within a radius, the nearest of two close ones', () => {
    const view = fitViewport(800, 600);
    const [cx, cy] = toCanvas(view, 800, 600, 0.515, 0.5);
    expect(nearestPoint(xs, ys, view, 800, 600, cx, cy, 8)).toBe(2);
    const [fx, fy] = toCanvas(view, 800, 600, 0.3, 0.7);
    expect(nearestPoint(xs, ys, view, 800, 600, fx, fy, 8)).toBe(-1);
  });

  it('selects the points inside a lasso, also a concave one', () => {
    expect(pointsInPolygon(xs, ys, [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]])).toEqual([1, 2]);
    // A U shape whose notch holds point 1 (0.5, 0.5) but whose arm holds point 2 (0.52, 0.5).
    const u: Array<[number, number]> = [[0.45, 0.3], [0.49, 0.3], [0.49, 0.55], [0.51, 0.55], [0.51, 0.3], [0.55, 0.3], [0.55, 0.6], [0.45, 0.6]];
    expect(pointsInPolygon(xs, ys, u)).toEqual([2]);
    expect(pointsInPolygon(xs, ys, [[0, 0], [1, 1]])).toEqual([]);
  });
});
