import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng, type Rng } from '../../common/rng.js';
import { decodeForModel } from '../../library/image.js';
import { drawPhoto } from '../../testing/test-photos.js';
import { expectNoTensorLeaks } from '../../testing/tensor-leaks.js';
import { photoInputs } from './decoded-photos.js';
import { cropBox, MIN_CROP } from './pixel-batches.js';

/** An Rng that gives these values in turn: to pick a crop box exactly. */
function scripted(values: number[]): Rng {
  let i = 0;
  return () => values[i++ % values.length];
}

async function read(x: tf.Tensor): Promise<Float32Array> {
  const values = (await x.data()) as Float32Array;
  x.dispose();
  return values;
}

describe('photos as inputs of the whole network', () => {
  let dir: string;
  let files: string[];
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = mkdtempSync(join(tmpdir(), 'lookalike-photo-inputs-'));
    files = await Promise.all([1, 2].map((seed) => drawPhoto(join(dir, `p${seed}.jpg`), 120, 90, seed)));
    writeFileSync(join(dir, 'damaged.jpg'), 'not a JPEG');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  expectNoTensorLeaks();

  it('gives the decoded photos as RGB in [0, 1], in the order asked', async () => {
    const inputs = photoInputs(files.map((f) => ({ image: f, label: f })), [0, 1], 32);
    const x = await inputs.batch([1, 0]);
    expect(x.shape).toEqual([2, 32, 32, 3]);
    const values = await read(x);
    const second = (await decodeForModel(files[1], 32)).pixels;
    for (let j = 0; j < second.length; j += 97) expect(values[j]).toBeCloseTo(second[j] / 255, 6);
    expect(Math.max(...values)).toBeLessThanOrEqual(1);
  });

  it('augments with a crop resized back to the side, mirrored when the box says so', async () => {
    const inputs = photoInputs([{ image: files[0], label: 'a' }], [0], 32);
    const whole = await read(await inputs.batch([0]));
    // Side 1 at (0, 0), mirrored: the photo flipped left-right.
    const mirrored = await read(await inputs.batch([0], scripted([1, 0, 0, 0.1])));
    const flipped = await read(tf.tidy(() => tf.reverse(tf.tensor4d(whole, [1, 32, 32, 3]), 2)));
    for (let j = 0; j < whole.length; j++) expect(mirrored[j]).toBeCloseTo(flipped[j], 4);
    // A smaller crop, not mirrored, differs from the whole photo.
    const cropped = await read(await inputs.batch([0], scripted([0, 0.5, 0.5, 0.9])));
    expect(cropped.some((v, j) => Math.abs(v - whole[j]) > 0.05)).toBe(true);
  });

  it('draws crop boxes of 80 to 100% of the side inside the photo, mirrored about half the time', () => {
    const rng = createRng(7);
    const boxes = Array.from({ length: 400 }, () => cropBox(rng));
    for (const [top, a, bottom, b] of boxes) {
      const side = bottom - top;
      expect(side).toBeGreaterThanOrEqual(MIN_CROP - 1e-9);
      expect(Math.abs(b - a)).toBeCloseTo(side, 9);
      expect(Math.min(top, a, b)).toBeGreaterThanOrEqual(0);
      expect(Math.max(bottom, a, b)).toBeLessThanOrEqual(1 + 1e-9);
    }
    const mirrored = boxes.filter(([, left, , right]) => right < left).length;
    expect(mirrored).toBeGreaterThan(150);
    expect(mirrored).toBeLessThan(250);
  });

  it('names a photo it cannot decode', async () => {
    const inputs = photoInputs([{ image: join(dir, 'damaged.jpg'), label: 'flowers/damaged.jpg' }], [0], 32);
    await expect(inputs.batch([0])).rejects.toThrow(/flowers\/damaged\.jpg/);
  });
});
