import { describe, expect, it } from 'vitest';
import { classNames, effectiveClass, folderOf, type LabelRules } from './label-rules.js';

const rules: LabelRules = {
  folders: new Map<string, string | null>([
    ['junk', null],
    ['kitten', 'cats'],
  ]),
  photos: new Map([
    ['loose.jpg', 'dogs'],
    ['kitten/actually-a-dog.jpg', 'dogs'],
  ]),
};

describe('labels chosen in the app', () => {
  it('finds the folder class of a path', () => {
    expect(folderOf('cats/deep/a.jpg')).toBe('cats');
    expect(folderOf('loose.jpg')).toBeNull();
  });

  it('gives a photo its own label first, then its folder rule, then its folder', () => {
    expect(effectiveClass(rules, 'loose.jpg')).toBe('dogs');
    expect(effectiveClass(rules, 'other-root.jpg')).toBeNull();
    expect(effectiveClass(rules, 'kitten/actually-a-dog.jpg')).toBe('dogs');
    expect(effectiveClass(rules, 'kitten/a.jpg')).toBe('cats');
    expect(effectiveClass(rules, 'junk/a.jpg')).toBeNull();
    expect(effectiveClass(rules, 'cats/a.jpg')).toBe('cats');
  });

  it('lists the classes the rules make of the folders, without excluded ones', () => {
    expect(classNames(rules, ['cats', 'kitten', 'junk', 'birds'])).toEqual(['birds', 'cats', 'dogs']);
  });
});
