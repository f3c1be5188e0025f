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
import { builtinSegments, describeSpec, finalPartOf, type BackboneSpec } from '../../ml/backbone/backbone.js';
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

/** The cut maps are the plain built-in graph's, whatever layers a model's head also pools: one cache for every model. */
export const CUT_BACKBONE_KEY = describeSpec({ kind: 'builtin', id: BUILTIN_BACKBONE.id });

/** How the cut's activations are keyed in the store. */
export function cutKey(cut: CutPoint): string {
  return `${cut.node}@${BUILTIN_BACKBONE.inputSize}`;
}

/**
 * Computes and stores the cut activations of every photo that has none (photos the backbone, whose
 * features are cached under `featuresKey`, could not read are left out).
 */
export async function cacheCutActivations(ctx: JobContext, libraryId: number, cut: CutPoint, featuresKey: string): Promise<{ computed: number; problems: Problem[] }> {
  const { store } = ctx;
  const graph = await builtinGraph();
  const have = store.cutActivationHashes(CUT_BACKBONE_KEY, cutKey(cut));
  const failed = store.featureFailures(featuresKey);
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
    store.putCutActivations(CUT_BACKBONE_KEY, cutKey(cut), readable.map((d, i) => ({ hash: d.photo.hash, data: encodeActivations(maps[i], cut.shape) })));
    computed += readable.length;
    const done = Math.min(start + DECODE_BATCH, missing.length);
    const runtime = graph.runtime === 'onnxruntime' ? 'ONNX Runtime' : graph.runtime.replace(/^tfjs-/, 'TF.js ');
    const { etaSeconds } = pace(done, missing.length);
    ctx.emit?.({ type: 'progress', kind: 'features', phase: `Computing backbone activations below block ${cut.blocks} from the end (${runtime})`, done, total: missing.length, etaSeconds });
  }
  for (const problem of problems) ctx.emit?.({ type: 'problem', problem });
  return { computed, problems };
}

export function loadMaps(store: Store, cut: CutPoint, photos: PhotoRow[]): Map<string, ActivationMap> {
  const blobs = store.cutActivations(CUT_BACKBONE_KEY, cutKey(cut), [...new Set(photos.map((p) => p.hash))]);
  return new Map([...blobs].map(([hash, blob]) => [hash, decodeActivations(blob)]));
}

/** The labelled photos on each side of the split. */
export type SplitPhotos = Record<'train' | 'validation', PhotoRow[]>;

/** The library's labelled photos on their stored side of the split, in the store's order (as labelledFeatures lists them). */
export function splitPhotos(store: Store, libraryId: number): SplitPhotos {
  const sets: SplitPhotos = { train: [], validation: [] };
  for (const photo of store.photos(libraryId)) if (photo.classId !== null && photo.split !== null) sets[photo.split].push(photo);
  return sets;
}

/** A side of the split as cut maps, with where each map's photo is in the list it came from. */
export interface PlacedMaps extends MapSet {
  positions: number[];
}

/**
 * These photos' cached maps (and taps, for a multi-scale spec), leaving out a photo that has either
 * missing. The maps are the built-in graph's at the cut; the taps are read from the spec's features.
 */
export function labelledMaps(store: Store, cut: CutPoint, spec: BackboneSpec, photos: SplitPhotos): Record<'train' | 'validation', PlacedMaps> {
  const all = [...photos.train, ...photos.validation];
  const maps = loadMaps(store, cut, all);
  const taps = tapWidth(spec) > 0 ? cachedTaps(store, spec, all.map((p) => p.hash)) : null;
  const side = (list: PhotoRow[]): PlacedMaps => {
    const set: PlacedMaps = { maps: [], classIds: [], positions: [], ...(taps ? { taps: [] } : {}) };
    list.forEach((photo, position) => {
      const map = maps.get(photo.hash);
      const tap = taps?.get(photo.hash);
      if (!map || (taps && !tap)) return;
      set.maps.push(map);
      set.classIds.push(photo.classId!);
      set.positions.push(position);
      if (tap) set.taps!.push(tap);
    });
    return set;
  };
  return { train: side(photos.train), validation: side(photos.validation) };
}

/** How many values of a spec's cached features are fixed taps below any cut (multi-scale: all but the final pool); 0 for final features. */
export function tapWidth(spec: BackboneSpec): number {
  if (!finalPartOf(spec) || spec.kind !== 'builtin') return 0;
  return builtinSegments(spec.scales).slice(0, -1).reduce((a, b) => a + b, 0);
}

/** The taps of these photos (the first tapWidth values of their cached features), by hash; a photo with no features cached is absent. */
export function cachedTaps(store: Store, spec: BackboneSpec, hashes: string[]): Map<string, Float32Array> {
  const width = tapWidth(spec);
  const features = store.features(describeSpec(spec), [...new Set(hashes)]);
  return new Map([...features].filter(([, vector]) => vector.every(Number.isFinite)).map(([hash, vector]) => [hash, vector.slice(0, width)]));
}

export interface LabelledPhotos {
  sources: PhotoSource[];
  classIds: number[];
}

/** Labelled photos on their stored side of the split, leaving out those the backbone could not read. */
export function labelledPhotos(store: Store, libraryId: number, backboneKey: string): Record<'train' | 'validation', LabelledPhotos> {
  const failed = store.featureFailures(backboneKey);
  const { train, validation } = splitPhotos(store, libraryId);
  const readable = (list: PhotoRow[]) => list.filter((p) => !failed.has(p.hash));
  return photoSources(store, libraryId, { train: readable(train), validation: readable(validation) });
}

/** These photos as files to decode, with their classes. */
export function photoSources(store: Store, libraryId: number, photos: SplitPhotos): Record<'train' | 'validation', LabelledPhotos> {
  const root = store.libraryRoot(libraryId);
  const side = (list: PhotoRow[]): LabelledPhotos => ({ sources: list.map((p) => ({ image: resolve(root, p.relPath), label: p.relPath })), classIds: list.map((p) => p.classId!) });
  return { train: side(photos.train), validation: side(photos.validation) };
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
