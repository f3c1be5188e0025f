import { describe, expect, it } from 'vitest';
import { checkClassName, classNameProblem } from './class-names.js';
import { toWireError } from './errors.js';

const refusal = (name: unknown) => {
  try {
    checkClassName(name);
  } catch (error) {
    return toWireError(error);
  }
  throw new Error(`"${String(name)}" was taken`);
};

describe('class names (one rule for the UI and the engine)', () => {
  it('takes the names people use, trimmed, in any script', () => {
    for (const name of ['tulips', 'Wild roses', 'con-artists', 'console', 'com10', 'lpt0', 'x.y', 'α'.repeat(100), '猫'.repeat(85), 'été 2024 (1)', 'a'.repeat(100)]) {
      expect(classNameProblem(name)).toBeNull();
    }
    expect(checkClassName('  tulips ')).toBe('tulips');
  });

  it('refuses what the scan would skip or a disk cannot hold, naming the name and the reason (400)', () => {
    const cases: Array<[string, RegExp]> = [
      ['   ', /^a class name cannot be empty$/],
      ['.hidden', /^"\.hidden" cannot be a class name: it starts with a dot: its folder would be hidden, and the library scan skips hidden folders$/],
      ['..', /"\.\." cannot be a class name: it starts with a dot/],
      ['roses.', /"roses\." cannot be a class name: it ends with a dot/],
      ['roses . ', /"roses \." cannot be a class name: it ends with a dot/],
      ['x'.repeat(101), /cannot be a class name: at most 100 characters \(this one has 101\)/],
      ['猫'.repeat(86), /cannot be a class name: at most 255 bytes in UTF-8, the longest folder name a disk holds \(this one has 258\)/],
      ['a\nb', /"a\?b" cannot be a class name: it has control characters/],
      ['tab\there', /it has control characters/],
      ['a/b', /"a\/b" cannot be a class name: it has \/, which folder names cannot hold/],
      ['a\\b', /it has \\, which folder names cannot hold/],
      ['why?', /it has \?/],
      ['12:30', /it has :/],
      ['<b>', /it has </],
      ['"quoted"', /it has "/],
      ['a|b', /it has \|/],
      ['star*', /it has \*/],
      ['CON', /"CON" cannot be a class name: CON is a device name Windows reserves, even with an extension/],
      ['con', /CON is a device name Windows reserves/],
      ['Nul.txt', /NUL is a device name Windows reserves/],
      ['aux .jpg', /AUX is a device name/],
      ['prn', /PRN is a device name/],
      ['COM1', /COM1 is a device name/],
      ['com9.tar.gz', /COM9 is a device name/],
      ['LPT1', /LPT1 is a device name/],
      ['lpt9', /LPT9 is a device name/],
    ];
    for (const [name, reason] of cases) {
      expect(classNameProblem(name), name).toMatch(reason);
      expect(refusal(name), name).toEqual({ kind: 'invalid-input', message: expect.stringMatching(reason) });
    }
  });

  it('refuses a name that is not text, saying what came instead', () => {
    expect(refusal(3)).toEqual({ kind: 'invalid-input', message: 'a class name must be text (got a number)' });
    expect(refusal({ name: 'x' })).toEqual({ kind: 'invalid-input', message: 'a class name must be text (got an object)' });
    expect(refusal(null)).toEqual({ kind: 'invalid-input', message: 'a class name must be text (got null)' });
  });

  it('shows a long name cut in its message', () => {
    expect(classNameProblem(`.${'x'.repeat(200)}`)).toMatch(/^"\.x{59}…" cannot be a class name/);
  });
});
