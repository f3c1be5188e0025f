import { describe, expect, it } from 'vitest';
import { classThresholds, quantile, voteClasses, type LabelledVector } from './suggest.js';

const at = (...values: number[]) => Float32Array.from(values);
/** Class 1 around (0,0), class 2 around (10,0): three photos each, 1 apart. */
const REFERENCES: LabelledVector[] = [
  { id: 1, classId: 1, vector: at(0, 0) },
  { id: 2, classId: 1, vector: at(1, 0) },
  { id: 3, classId: 1, vector: at(0, 1) },
  { id: 4, classId: 2, vector: at(10, 0) },
  { id: 5, classId: 2, vector: at(11, 0) },
  { id: 6, classId: 2, vector: at(10, 1) },
];
const WIDE = { thresholds: new Map<number, number>(), fallback: 100 };

describe('class votes for unlabelled photos', () => {
  it('gives the class most of the nearest photos have, its share as confidence, and its nearest photos as support', () => {
    const [vote] = voteClasses([{ id: 9, vector: at(1, 1) }], REFERENCES, { ...WIDE, voters: 4 });
    expect(vote.classId).toBe(1);
    expect(vote.nearestClassId).toBe(1);
    expect(vote.confidence).toBe(3 / 4);
    expect(vote.support.map((s) => s.id)).toEqual([2, 3, 1]);
    expect(vote.distance).toBeCloseTo(1);
  });

  it('says none of the classes when even the nearest photo of the voted class is past its threshold', () => {
    const thresholds = new Map([
      [1, 2],
      [2, 2],
    ]);
    const [near, far] = voteClasses(
      [
        { id: 9, vector: at(11, 1) },
        { id: 10, vector: at(5, 20) },
      ],
      REFERENCES,
      { thresholds, fallback: 2, voters: 3 },
    );
    expect(near).toMatchObject({ classId: 2, confidence: 1 });
    expect(far.classId).toBeNull();
    expect(far.confidence).toBe(0);
    expect(far.nearestClassId).not.toBeNull();
    expect(far.support.length).toBeGreaterThan(0);
  });

  it('never suggests a class the person rejected for that photo, and a photo is not its own neighbour', () => {
    const rejected = new Map([[9, new Set([1])]]);
    const [vote] = voteClasses([{ id: 9, vector: at(0, 0) }], REFERENCES, { ...WIDE, rejected, voters: 3 });
    expect(vote.classId).toBe(2);
    const [self] = voteClasses([{ id: 1, vector: at(0, 0) }], REFERENCES, { ...WIDE, voters: 1 });
    expect(self.support[0].id).not.toBe(1);
  });

  it('says none when there is nothing labelled to vote', () => {
    const [vote] = voteClasses([{ id: 9, vector: at(0, 0) }], [], WIDE);
    expect(vote).toMatchObject({ classId: null, nearestClassId: null, confidence: 0, support: [] });
  });
});

describe('per-class thresholds from the validation split', () => {
  it("scales each class's median distance by the pooled quantile, so a spread-out class gets a wider threshold", () => {
    const validation: LabelledVector[] = [
      { id: 7, classId: 1, vector: at(0, -1) }, // 1 from photo 1
      { id: 8, classId: 1, vector: at(-2, 0) }, // 2 from photo 1
      { id: 9, classId: 2, vector: at(10, -4) }, // 4 from photo 4
      { id: 10, classId: 2, vector: at(10, -8) }, // 8 from photo 4
    ];
    const { thresholds, fallback } = classThresholds(validation, REFERENCES, 1);
    // Medians 1.5 and 6; distance/median ratios 2/3, 4/3 in both classes: the largest, 4/3, keeps all.
    expect(thresholds.get(1)).toBeCloseTo(1.5 * (4 / 3));
    expect(thresholds.get(2)).toBeCloseTo(6 * (4 / 3));
    expect(fallback).toBeCloseTo(8);
  });

  it('has no threshold without validation photos', () => {
    expect(classThresholds([], REFERENCES).fallback).toBe(Infinity);
  });

  it('interpolates quantiles', () => {
    expect(quantile([4, 1, 3, 2], 0.5)).toBeCloseTo(2.5);
    expect(quantile([1, 2, 3], 1)).toBe(3);
  });
});
