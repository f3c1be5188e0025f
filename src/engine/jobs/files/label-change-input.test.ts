import { describe, expect, it } from 'vitest';
import { toWireError } from '../../../shared/errors.js';
import { MAX_LABELLED_PHOTOS } from '../../../shared/settings.js';
import { checkFingerprint, checkLabelChange } from './label-change-input.js';

const refusal = (check: () => unknown) => {
  try {
    check();
  } catch (error) {
    return toWireError(error);
  }
  throw new Error('expected a refusal');
};

describe('label calls checked at the door', () => {
  it('passes a well-formed change on with only the fields its kind has', () => {
    expect(checkLabelChange({ kind: 'rename-class', from: 'a', to: 'b', extra: { deep: true } })).toEqual({ kind: 'rename-class', from: 'a', to: 'b' });
    expect(checkLabelChange({ kind: 'unassign-photos', photoIds: [3, 4] })).toEqual({ kind: 'unassign-photos', photoIds: [3, 4] });
  });

  it('refuses a selection larger than a change may name, or ids that are not ids, saying which', () => {
    const ids = Array.from({ length: MAX_LABELLED_PHOTOS + 1 }, (_, i) => i + 1);
    expect(refusal(() => checkLabelChange({ kind: 'unassign-photos', photoIds: ids }))).toEqual({
      kind: 'invalid-input',
      message: `at most ${MAX_LABELLED_PHOTOS} photos per change (${MAX_LABELLED_PHOTOS + 1} selected)`,
    });
    expect(refusal(() => checkLabelChange({ kind: 'unassign-photos', photoIds: [1, -2] })).message).toBe('"photoIds" must hold photo ids (whole numbers); item 2 is -2');
    expect(refusal(() => checkLabelChange({ kind: 'unassign-photos', photoIds: [] })).message).toBe('select one or more photos first');
  });

  it('asks for the preview a write follows, saying what came instead', () => {
    expect(checkFingerprint({ fingerprint: 'abc123' })).toBe('abc123');
    for (const [sent, got] of [
      [undefined, 'nothing'],
      [null, 'nothing'],
      [{}, 'nothing'],
      [{ fingerprint: 7 }, 'a number'],
      [{ fingerprint: '' }, 'empty text'],
      [['abc'], 'nothing'],
    ] as const) {
      expect(refusal(() => checkFingerprint(sent))).toEqual({ kind: 'invalid-input', message: `writing labels to folders needs the fingerprint of the preview it follows (got ${got}); preview first` });
    }
  });
});
