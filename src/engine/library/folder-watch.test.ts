import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { watch as fsWatch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { watchFolder } from './folder-watch.js';

describe('watching a library folder', () => {
  it('says when something under the folder changes', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lookalike-watch-'));
    try {
      const changed = new Promise<void>((resolve) => {
        const stop = watchFolder(root, { onChange: () => (stop(), resolve()), onError: (reason) => expect.fail(reason) });
      });
      writeFileSync(join(root, 'new.jpg'), 'x');
      await changed;
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reports an error and stops, instead of closing silently', () => {
    const fake = Object.assign(new EventEmitter(), { closed: false, close: () => void (fake.closed = true) });
    const errors: string[] = [];
    watchFolder('/library', { onChange: () => undefined, onError: (reason) => errors.push(reason) }, (() => fake) as unknown as typeof fsWatch);
    fake.emit('error', new Error('EMFILE: too many open files'));
    expect(errors).toEqual(['stopped watching the folder for changes (EMFILE: too many open files); open it again to pick them up']);
    expect(fake.closed).toBe(true);
  });

  it('reports a folder that cannot be watched at all', () => {
    const errors: string[] = [];
    const refuse = (() => {
      throw new Error('ERR_FEATURE_UNAVAILABLE_ON_PLATFORM');
    }) as unknown as typeof fsWatch;
    const stop = watchFolder('/library', { onChange: () => undefined, onError: (reason) => errors.push(reason) }, refuse);
    expect(errors).toEqual(['changes to the folder are not watched here (ERR_FEATURE_UNAVAILABLE_ON_PLATFORM); open it again to pick them up']);
    expect(stop).not.toThrow();
  });
});
