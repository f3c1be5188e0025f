/**
 * A fine-tuned network on the built-in graph and what it runs on: the graph (loaded once), the cut
 * a model was fine-tuned above, the cut activations cached per photo (last-blocks) or the photos
 * themselves (full). Training (fine-tune.ts) and the stored models (fine-tuned-embedder.ts) share it.
 */
import { resolve } from 'node:path';
import { activeClock } from '../../common/job-control.js';
import { createThroughput } from '../../common/throughput.js';
import type { Problem } from '../../../shared/api.js';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { decodeActivations, encodeActivations, type ActivationMap } from '../../ml/backbone/activation-codec.js';
import { loadFineTuned, type FineTunedNet, type MapSet } from '../../ml/training/block-trainer.js';
import type { PhotoSource } from '../../ml/training/decoded-photos.js';
import type { HeadConfig } from '../../ml/training/head.js';
import { BuiltinGraph, type CutPoint } from '../../ml/backbone/trainable-backbone.js';
import { decodeForModel } from '../../library/image.js';
import type { ModelRow, PhotoRow, Store } from '../../store/store.js';
import type { JobContext } from '../job-context.js';

/** What a fine-tuned model records in its config, beside the head. */
export interface FineTuneConfig {
  blocks: number;
  cutNode: string;
  /** Side of the random crops of the cut map (last-blocks); for full, 0: photos are cropped instead (photo-inputs.ts). */
  crop: number;
  mirror: boolean;
  /** Set for full: the side of the photos the whole network trains and embeds at. */
  inputSize?: number;
}

const DECODE_BATCH = 16;

let graphLoading: Promise<BuiltinGraph> | undefined;

/** The built-in graph, loaded once per process (a second or two) and kept for queries. */
export function builtinGraph(): Promise<BuiltinGraph> {
  if (!graphLoading) {
    graphLoading = BuiltinGraph.load();
    graphLoading.catch(() => (graphLoading = undefined));
  }
  return graphLoading;
}

/** How the cut's activations are keyed in the store. */
export function cutKey(cut: CutPoint): string {
  return `${cut.node}@${BUILTIN_BACKBONE.inputSize}`;
}

/** Computes and stores the cut activations of every photo that has none (photos the backbone could not read are left out). */
export async function cacheCutActivations(ctx: JobContext, libraryId: number, cut: CutPoint, backboneKey: string): Promise<{ computed: number; problems: Problem[] }> {
  const { store } = ctx;
  const graph = await builtinGraph();
  const have = store.cutActivationHashes(backboneKey, cutKey(cut));
  const failed = store.featureFailures(backboneKey);
  const seen = new Set<string>();
  const missing = store.photos(libraryId).filter((p) => !have.has(p.hash) && !failed.has(p.hash) && !seen.has(p.hash) && seen.add(p.hash));
  const root = store.libraryRoot(libraryId);
  const problems: Problem[] = [];
  const pace = createThroughput(activeClock(ctx.control));
  let computed = 0;
  for (let start = 0; start < missing.length; start += DECODE_BATCH) {
    await ctx.control?.checkpoint();
    if (ctx.control?.isStopped) break;
    const batch = missing.slice(start, start + DECODE_BATCH);
    const decoded = await Promise.all(
      batch.map((photo) =>
        decodeForModel(resolve(root, photo.relPath), BUILTIN_BACKBONE.inputSize, photo.relPath).then(
          (image) => ({ photo, pixels: image.pixels }),
          (error: unknown) => {
            problems.push({ path: photo.relPath, reason: `cannot read (${(error as Error).message})` });
            return null;
          },
        ),
      ),
    );
    const readable = decoded.filter((d) => d !== null);
    const maps = await graph.activations(readable.map((d) => d.pixels), cut);
    store.putCutActivations(backboneKey, cutKey(cut), readable.map((d, i) => ({ hash: d.photo.hash, data: encodeActivations(maps[i], cut.shape) })));
    computed += readable.length;
    const done = Math.min(start + DECODE_BATCH, missing.length);
    const runtime = graph.runtime === 'onnxruntime' ? 'ONNX Runtime' : graph.runtime.replace(/^tfjs-/, 'TF.js ');
    const { etaSeconds } = pace(done, missing.length);
    ctx.emit?.({ type: 'progress', kind: 'features', phase: `Computing backbone activations below block ${cut.blocks} from the end (${runtime})`, done, total: missing.length, etaSeconds });
  }
  for (const problem of problems) ctx.emit?.({ type: 'problem', problem });
  return { computed, problems };
}

export function loadMaps(store: Store, backboneKey: string, cut: CutPoint, photos: PhotoRow[]): Map<string, ActivationMap> {
  const blobs = store.cutActivations(backboneKey, cutKey(cut), [...new Set(photos.map((p) => p.hash))]);
  return new Map([...blobs].map(([hash, blob]) => [hash, decodeActivations(blob)]));
}

/** Labelled photos with cached maps, on their stored side of the split. */
export function labelledMaps(store: Store, libraryId: number, backboneKey: string, cut: CutPoint): Record<'train' | 'validation', MapSet> {
  const photos = store.photos(libraryId).filter((p) => p.classId !== null && p.split !== null);
  const maps = loadMaps(store, backboneKey, cut, photos);
  const sets: Record<'train' | 'validation', MapSet> = { train: { maps: [], classIds: [] }, validation: { maps: [], classIds: [] } };
  for (const photo of photos) {
    const map = maps.get(photo.hash);
    if (!map) continue;
    sets[photo.split!].maps.push(map);
    sets[photo.split!].classIds.push(photo.classId!);
  }
  return sets;
}

export interface LabelledPhotos {
  sources: PhotoSource[];
  classIds: number[];
}

/** Labelled photos on their stored side of the split, leaving out those the backbone could not read. */
export function labelledPhotos(store: Store, libraryId: number, backboneKey: string): Record<'train' | 'validation', LabelledPhotos> {
  const failed = store.featureFailures(backboneKey);
  const root = store.libraryRoot(libraryId);
  const sets: Record<'train' | 'validation', LabelledPhotos> = { train: { sources: [], classIds: [] }, validation: { sources: [], classIds: [] } };
  for (const photo of store.photos(libraryId)) {
    if (photo.classId === null || photo.split === null || failed.has(photo.hash)) continue;
    sets[photo.split].sources.push({ image: resolve(root, photo.relPath), label: photo.relPath });
    sets[photo.split].classIds.push(photo.classId);
  }
  return sets;
}

export function fineTuneConfig(model: ModelRow): FineTuneConfig | null {
  return (model.config.fineTune as FineTuneConfig | undefined) ?? null;
}

/** Where a fine-tuned model's network starts: the graph's input (full) or the cut below its last blocks. */
export function cutOf(graph: BuiltinGraph, config: FineTuneConfig): CutPoint {
  return config.inputSize !== undefined ? graph.inputCut(config.inputSize) : graph.cutPoint(config.blocks);
}

/** A stored fine-tuned model as a network on the built-in graph; the caller disposes net.head and net.blocks. */
export async function openFineTuned(store: Store, model: ModelRow): Promise<{ net: FineTunedNet; cut: CutPoint; graph: BuiltinGraph }> {
  const config = fineTuneConfig(model)!;
  const graph = await builtinGraph();
  const cut = cutOf(graph, config);
  if (cut.node !== config.cutNode) throw new Error(`model ${model.id} was fine-tuned above ${config.cutNode}, which this backbone no longer has`);
  const weights = store.modelWeights(model.id);
  if (!weights) throw new Error(`model ${model.id} has no stored weights`);
  return { net: loadFineTuned((saved) => graph.trainable(cut, saved), model.config.head as HeadConfig, weights), cut, graph };
}

export function disposeNet(net: FineTunedNet): void {
  net.head.dispose();
  net.blocks.dispose();
}
