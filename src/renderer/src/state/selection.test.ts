import { describe, expect, it } from 'vitest';
import { PhotoSelection } from './selection.svelte';

const ids = [10, 11, 12, 13, 14, 15];
const idAt = (i: number) => ids[i] ?? null;
const plain = { shiftKey: false, ctrlKey: false, metaKey: false };
const shift = { ...plain, shiftKey: true };
const ctrl = { ...plain, ctrlKey: true };

describe('selecting photos like a file manager', () => {
  it('a click picks one, Shift+click the run from it, Ctrl+click adds or removes one', () => {
    const selection = new PhotoSelection();
    selection.click(1, 11, plain, idAt);
    expect([...selection.ids]).toEqual([11]);
    selection.click(4, 14, shift, idAt);
    expect([...selection.ids].sort()).toEqual([11, 12, 13, 14]);
    selection.click(2, 12, ctrl, idAt);
    expect([...selection.ids].sort()).toEqual([11, 13, 14]);
    // Shift+click runs from the last Ctrl+clicked photo, replacing the rest.
    selection.click(0, 10, shift, idAt);
    expect([...selection.ids].sort()).toEqual([10, 11, 12]);
    // Ctrl+Shift adds the run to what is selected.
    selection.click(5, 15, { ...shift, ctrlKey: true }, idAt);
    expect([...selection.ids].sort()).toEqual([10, 11, 12, 13, 14, 15]);
    selection.clear();
    expect(selection.size).toBe(0);
  });

  it('skips positions not loaded yet in a run', () => {
    const selection = new PhotoSelection();
    selection.click(0, 10, plain, idAt);
    selection.click(3, 13, shift, (i) => (i === 2 ? null : idAt(i)));
    expect([...selection.ids].sort()).toEqual([10, 11, 13]);
  });
});
