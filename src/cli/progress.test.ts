import { PassThrough } from 'node:stream';
import { expect, it } from 'vitest';
import { createProgressPrinter } from './progress.js';

it('prints no "0/0" progress line when there is nothing to compute, and a line when there is', () => {
  const stream = new PassThrough();
  let written = '';
  stream.on('data', (chunk: Buffer) => (written += chunk.toString()));
  const print = createProgressPrinter(stream as unknown as NodeJS.WriteStream);
  print({ type: 'progress', kind: 'features', phase: 'Computing backbone features', done: 0, total: 0, etaSeconds: null });
  expect(written).toBe('');
  print({ type: 'progress', kind: 'features', phase: 'Computing backbone features', done: 10, total: 10, etaSeconds: 0 });
  expect(written).toBe('Computing backbone features 10/10, 0s left\n');
});
