import { describe, expect, it } from 'vitest';
import { createRng } from '../../common/rng.js';
import { classThresholds, noveltyRule, quantile, voteClasses, type LabelledPhoto, type LabelledVector, type VoteQuery } from './suggest.js';

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

describe('the novelty rule: "none of your classes" where training collapsed a new kind onto a class', () => {
  // Under the model (2-D) classes 1-4 sit 10 apart on a line, and photos of a fifth kind, never
  // labelled, were pulled onto class 1, as training does. In the untrained features (8-D) each kind has
  // its own place. All spread 1 around their centre.
  const rng = createRng(5);
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const around = (centre: number[]) => Float32Array.from(centre, (v) => v + normal());
  const untrainedCentre = (kind: number) => Array.from({ length: 8 }, (_, d) => (d === kind ? 4 : 0));
  const modelCentre = (kind: number) => [kind === 5 ? 10 : 10 * kind, 0];
  let nextId = 1;
  const photo = (kind: number) => ({ id: nextId++, classId: kind, vector: around(modelCentre(kind)), untrained: around(untrainedCentre(kind)) });
  const many = (kind: number, count: number): LabelledPhoto[] => Array.from({ length: count }, () => photo(kind));
  const ofKinds = (count: number, kinds = [1, 2, 3, 4]) => kinds.flatMap((kind) => many(kind, count));
  const asQuery = ({ id, vector, untrained }: LabelledPhoto): VoteQuery => ({ id, vector, untrained });
  const train = ofKinds(40);
  const validation = ofKinds(20);
  const known = ofKinds(10).map(asQuery);
  const unseen = many(5, 20).map(asQuery);
  const unsorted = [...known, ...unseen];
  const references = [...train, ...validation];

  it('says none for most photos of the new kind and few of the known ones, where the model\'s distance alone says none for few of them', () => {
    const rule = noveltyRule({ validation, train, unsorted })!;
    const noneShare = (votes: ReturnType<typeof voteClasses>) => votes.filter((v) => v.classId === null).length / votes.length;
    const withRule = voteClasses(unsorted, references, { thresholds: new Map(), fallback: Infinity, novelty: rule });
    const byId = new Map(withRule.map((v) => [v.id, v]));
    expect(noneShare(unseen.map((q) => byId.get(q.id)!))).toBeGreaterThanOrEqual(0.8);
    expect(noneShare(known.map((q) => byId.get(q.id)!))).toBeLessThanOrEqual(0.2);
    // The model's distance alone (per-class thresholds) cannot tell: the new kind lies where class 1 does.
    const alone = voteClasses(unseen, references, { ...classThresholds(validation, train) });
    expect(noneShare(alone)).toBeLessThan(0.5);
  });

  it('shows what a verdict rests on: each share of held-out photos it is stranger than, high for the new kind', () => {
    const rule = noveltyRule({ validation, train, unsorted })!;
    const median = (values: number[]) => quantile(values, 0.5);
    const [strangers, usual] = [unseen, known].map((queries) => voteClasses(queries, references, { thresholds: new Map(), fallback: Infinity, novelty: rule }).map((v) => v.strangeness!));
    expect(median(strangers.map((s) => s.untrained!))).toBeGreaterThan(0.9);
    expect(median(usual.map((s) => s.untrained!))).toBeLessThan(0.8);
    // Most of a stranger's nearest photos are unsorted (the other strangers), where a class's photos have about two.
    expect(median(strangers.map((s) => s.unsorted!.count))).toBeGreaterThanOrEqual(8);
    expect(strangers[0].unsorted!.usual).toBeLessThan(3);
    expect(strangers.every((s) => s.model >= 0 && s.model <= 1)).toBe(true);
  });

  it('judges on the model\'s distance alone without untrained features, and not at all without validation photos', () => {
    const bare = (p: LabelledPhoto): LabelledPhoto => ({ id: p.id, classId: p.classId, vector: p.vector });
    const rule = noveltyRule({ validation: validation.map(bare), train: train.map(bare), unsorted: unseen.map(({ id, vector }) => ({ id, vector })) })!;
    const [vote] = voteClasses([{ id: unseen[0].id, vector: unseen[0].vector }], references, { thresholds: new Map(), fallback: Infinity, novelty: rule });
    expect(vote.strangeness).toMatchObject({ untrained: null, unsorted: null });
    expect(noveltyRule({ validation: [], train, unsorted })).toBeNull();
  });

  it('does not call a class new because most of its photos are still unsorted', () => {
    // Most of class 1's photos are still unsorted: its unsorted photos have unsorted neighbours, as is usual for class 1.
    const fewTrain = [...many(1, 20), ...ofKinds(40, [2, 3, 4])];
    const fewValidation = [...many(1, 12), ...ofKinds(20, [2, 3, 4])];
    const pile = many(1, 100).map(asQuery);
    const rule = noveltyRule({ validation: fewValidation, train: fewTrain, unsorted: pile })!;
    const votes = voteClasses(pile, [...fewTrain, ...fewValidation], { thresholds: new Map(), fallback: Infinity, novelty: rule });
    expect(votes.filter((v) => v.classId === null).length / votes.length).toBeLessThanOrEqual(0.25);
  });
});
