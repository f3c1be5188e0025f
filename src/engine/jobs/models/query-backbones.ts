/**
 * Backbones loaded for queries from outside the feature cache (a dropped-in photo, a library photo
 * whose features are missing): kept, one per backbone, since dropping in several photos in a row is common.
 */
import { decodeForModel } from '../../library/image.js';
import { describeSpec, loadBackbone, type Backbone, type BackboneSpec } from '../../ml/backbone/backbone.js';
import type { PhotoSource } from '../../ml/training/decoded-photos.js';

const backboneCache = new Map<string, Promise<Backbone>>();

/** Frees the backbones kept for queries (closing the engine; tests that count tensors). */
export async function releaseQueryBackbones(): Promise<void> {
  const loading = [...backboneCache.values()];
  backboneCache.clear();
  for (const backbone of await Promise.allSettled(loading)) if (backbone.status === 'fulfilled') backbone.value.dispose();
}

/** The backbone features of one image, decoded at the backbone's input size. */
export async function backboneFeature(spec: BackboneSpec, source: PhotoSource): Promise<Float32Array> {
  const key = describeSpec(spec);
  let loading = backboneCache.get(key);
  if (!loading) {
    loading = loadBackbone(spec);
    backboneCache.set(key, loading);
    loading.catch(() => backboneCache.delete(key));
  }
  const backbone = await loading;
  const decoded = await decodeForModel(source.image, backbone.inputSize, source.label);
  const [feature] = await backbone.embed([decoded.pixels]);
  return feature;
}
