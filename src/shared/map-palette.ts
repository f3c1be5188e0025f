/**
 * Class colours of the map, the same in the app and in `lookalike map` PNGs: 20 hues readable on the
 * dark background (Tableau 20 order, lighter first); past 20 classes they repeat. Photos without a
 * class are grey.
 */
export const CLASS_COLOURS: ReadonlyArray<readonly [number, number, number]> = [
  [78, 161, 255],
  [255, 157, 74],
  [92, 214, 120],
  [255, 99, 110],
  [187, 146, 255],
  [255, 213, 79],
  [74, 222, 222],
  [255, 138, 216],
  [166, 214, 90],
  [213, 163, 120],
  [150, 190, 255],
  [255, 190, 140],
  [150, 235, 170],
  [255, 160, 165],
  [215, 190, 255],
  [255, 232, 150],
  [150, 240, 240],
  [255, 190, 235],
  [205, 235, 150],
  [235, 200, 170],
];
export const UNLABELLED_COLOUR: readonly [number, number, number] = [120, 124, 132];

/** The colour of class position `classIndex` (−1: no class). */
export function classColour(classIndex: number): readonly [number, number, number] {
  return classIndex < 0 ? UNLABELLED_COLOUR : CLASS_COLOURS[classIndex % CLASS_COLOURS.length];
}

export const cssColour = ([r, g, b]: readonly [number, number, number]): string => `rgb(${r}, ${g}, ${b})`;
