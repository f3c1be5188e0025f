/**
 * Photos as inputs of the whole network ("full" fine-tuning): decoded by sharp at the network's side,
 * RGB in [0, 1] (the graph rescales them itself), kept decoded in memory up to a bound.
 *
 * Training augments on the device, after decoding: a random square crop of 80 to 100% of the side,
 * at a random place, resized back to the side (bilinear, TF.js cropAndResize), and mirrored
 * left-right half the time (a crop box whose left edge lies right of its right edge is read
 * mirrored). Embedding uses the whole photo.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../common/rng.js';
import { decodeForModel } from '../library/image.js';
import type { NetInputs } from './block-trainer.js';

export interface PhotoSource {
  /** A file path or the file's bytes. */
  image: string | Buffer;
  /** How messages name the photo. */
  label: string;
}

/** The smallest crop's side, as a fraction of the photo's. */
export const MIN_CROP = 0.8;
/** Decoded photos kept in memory (about 3,500 at 224×224); beyond that they are decoded again each time. */
const CACHE_BYTES = 512 * 2 ** 20;

/** Photos decoded when first asked for (a photo that cannot be decoded fails its batch, naming it). */
export function photoInputs(photos: PhotoSource[], classIds: number[], size: number): NetInputs {
  const cached = new Map<number, Uint8Array>();
  const cacheLimit = Math.floor(CACHE_BYTES / (size * size * 3));
  return pixelInputs(classIds, size, async (index) => {
    const hit = cached.get(index);
    if (hit) return hit;
    const { pixels } = await decodeForModel(photos[index].image, size, photos[index].label);
    if (cached.size < cacheLimit) cached.set(index, pixels);
    return pixels;
  });
}

/** Photos already decoded at the network's side (size × size × 3 bytes each). */
export function decodedInputs(pixels: Uint8Array[], size: number): NetInputs {
  return pixelInputs([], size, async (index) => pixels[index]);
}

function pixelInputs(classIds: number[], size: number, pixelsOf: (index: number) => Promise<Uint8Array>): NetInputs {
  return {
    classIds,
    batch: async (indices, augment) => {
      const decoded = await Promise.all(indices.map(pixelsOf));
      const values = new Float32Array(indices.length * size * size * 3);
      decoded.forEach((pixels, i) => {
        if (pixels.length !== size * size * 3) throw new Error(`photo ${indices[i]} has ${pixels.length} bytes, expected ${size * size * 3}`);
        const base = i * size * size * 3;
        for (let j = 0; j < pixels.length; j++) values[base + j] = pixels[j] / 255;
      });
      const x = tf.tensor4d(values, [indices.length, size, size, 3]);
      if (!augment) return x;
      const boxes = indices.map(() => cropBox(augment));
      const augmented = tf.image.cropAndResize(x, boxes, indices.map((_, i) => i), [size, size]);
      x.dispose();
      return augmented;
    },
  };
}

/** [top, left, bottom, right] in [0, 1] for cropAndResize: a random square crop, mirrored half the time. */
export function cropBox(augment: Rng): [number, number, number, number] {
  const side = MIN_CROP + (1 - MIN_CROP) * augment();
  const top = (1 - side) * augment();
  const left = (1 - side) * augment();
  return augment() < 0.5 ? [top, left + side, top + side, left] : [top, left, top + side, left + side];
}
