/**
 * Photo files as inputs of the whole network ("full" fine-tuning): decoded by sharp at the network's
 * side and kept decoded in memory up to a bound; batches and augmentation are pixel-inputs.ts's.
 */
import { decodeForModel } from '../../library/image.js';
import type { NetInputs } from './block-trainer.js';
import { pixelInputs } from './pixel-batches.js';

export interface PhotoSource {
  /** A file path or the file's bytes. */
  image: string | Buffer;
  /** How messages name the photo. */
  label: string;
}

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

