import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { selectBackend } from '../ml/runtime/compute-backend.js';

/** The inner layer a test truncates the tiny model at, and its width. */
export const TINY_FEATURE_LAYER = 'features';
export const TINY_FEATURE_DIM = 6;

/**
 * A small TF.js layers model written as a model folder (model.json + weights.bin), for tests
 * of the user-model paths (load, truncate at a named layer, download and checksum) without ../shared:
 * 224x224 RGB -> strided conv -> conv named "features" (6 maps) -> pooled -> dense 3.
 */
export async function writeTinyLayersModel(): Promise<string> {
  await selectBackend();
  const folder = mkdtempSync(join(tmpdir(), 'lookalike-tiny-model-'));
  const model = sequential({
    layers: [
      layers.conv2d({ inputShape: [224, 224, 3], filters: 4, kernelSize: 5, strides: 4, activation: 'relu', name: 'stem' }),
      layers.conv2d({ filters: TINY_FEATURE_DIM, kernelSize: 3, strides: 2, activation: 'relu', name: TINY_FEATURE_LAYER }),
      layers.globalAveragePooling2d({}),
      layers.dense({ units: 3, name: 'logits' }),
    ],
  });
  try {
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const data = artifacts.weightData;
        const weights = Buffer.concat((Array.isArray(data) ? data : data ? [data] : []).map((part) => Buffer.from(part)));
        writeFileSync(join(folder, 'weights.bin'), weights);
        const manifest = [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }];
        writeFileSync(join(folder, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: artifacts.modelTopology, weightsManifest: manifest }));
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    return folder;
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  } finally {
    model.dispose();
  }
}
