/**
 * Decoded photos as inputs of the whole network ("full" fine-tuning): RGB in [0, 1] (the graph
 * rescales them itself).
 *
 * Training augments on the device: a random square crop of 80 to 100% of the side, at a random
 * place, resized back to the side (bilinear, TF.js cropAndResize), and mirrored left-right half the
 * time (a crop box whose left edge lies right of its right edge is read mirrored). Embedding uses the
 * whole photo. Decoding is photo-inputs.ts's (this module needs no sharp: the GPU bench bundles it).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../common/rng.js';
import type { NetInputs } from './block-trainer.js';

/** The smallest crop's side, as a fraction of the photo's. */
export const MIN_CROP = 0.8;

/** Photos already decoded at the network's side (size × size × 3 bytes each). */
export function decodedInputs(pixels: Uint8Array[], size: number): NetInputs {
  return pixelInputs([], size, async (index) => pixels[index]);
}

/** Inputs whose pixels (size × size × 3 bytes each) come from pixelsOf. */
export function pixelInputs(classIds: number[], size: number, pixelsOf: (index: number) => Promise<Uint8Array>): NetInputs {
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
