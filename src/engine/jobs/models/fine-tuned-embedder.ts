/**
 * A fine-tuned model as an Embedder: the built-in graph with its trained blocks and head, fed the
 * cut activations cached per photo (last-blocks) or the decoded photos (full).
 */
import { resolve } from 'node:path';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { conflict } from '../../../shared/errors.js';
import { decodeActivations, encodeActivations } from '../../ml/backbone/activation-codec.js';
import { embedInputs, embedMaps, evaluateNet, mapInputs, type BlockTrainData, type FineTunedNet } from '../../ml/training/block-trainer.js';
import { evaluateDetailed } from '../../ml/training/retrieval-metrics.js';
import { photoInputs, type PhotoSource } from '../../ml/training/decoded-photos.js';
import { decodedInputs } from '../../ml/training/pixel-batches.js';
import type { CutPoint, BuiltinGraph } from '../../ml/backbone/trainable-backbone.js';
import { decodeForModel } from '../../library/image.js';
import type { ModelRow, PhotoRow, Store } from '../../store/store.js';
import { indexInBatches, querySource, type Embedder } from './embedder.js';
import type { JobContext } from '../job-context.js';
import { cacheCutActivations, cachedTaps, disposeNet, labelledMaps, labelledPhotos, loadMaps, openFineTuned, splitPhotos, tapWidth, type FineTuneConfig } from './fine-tuned-net.js';
import { backboneFeature } from './query-backbones.js';
import type { BackboneSpec } from '../../ml/backbone/backbone.js';

const INDEX_BATCH = 256;

/** How a fine-tuned network turns the library's photos into its inputs. */
interface NetFeed {
  /** Readies the inputs of the library's photos (caches the cut maps, for last-blocks). */
  prepare(ctx: JobContext): Promise<void>;
  /** Embeddings of these library photos, in order; null where a photo cannot be read (or has no cut map). */
  embedPhotos(photos: PhotoRow[]): Promise<Array<Float32Array | null>>;
  /** The embedding of an image from outside (a file or bytes). */
  embedImage(source: PhotoSource): Promise<Float32Array>;
  /** The library's labelled photos as inputs, on their side of the split. */
  labelled(): BlockTrainData;
}

/** The stored fine-tuned model (its config: `fineTune`) on the built-in graph. */
export async function openFineTunedModel(store: Store, model: ModelRow, config: FineTuneConfig): Promise<Embedder> {
  const { net, cut, graph } = await openFineTuned(store, model);
  const feed = config.inputSize !== undefined ? photoFeed(store, model, net, config.inputSize) : mapFeed(store, model, net, graph, cut, model.config.backboneSpec as BackboneSpec);
  return {
    model,
    async index(ctx) {
      await feed.prepare(ctx);
      const todo = store.photosToEmbed(model.libraryId, model.id);
      const embedded = await indexInBatches(ctx, model, todo, INDEX_BATCH, (batch) => feed.embedPhotos(batch));
      return { embedded, missingFeatures: todo.length - embedded };
    },
    embedPhotos: (photos) => feed.embedPhotos(photos),
    async embedQuery(query) {
      const [vector] = 'photo' in query ? await feed.embedPhotos([query.photo]) : [null];
      return vector ?? (await feed.embedImage(querySource(store, model.libraryId, query)));
    },
    evaluate: (_sets, k) => evaluateNet(net, feed.labelled(), k),
    async evaluateInDetail(sets, k) {
      // Through the fine-tuned network, from its own inputs, in the order of the feature sets.
      const all = await feed.embedPhotos([...sets.validationPhotos, ...sets.trainPhotos]);
      if (all.some((v) => v === null)) throw conflict(`${model.name}: some photos' activations at the fine-tuning cut are not cached; index the library again first`);
      const vectors = all as Float32Array[];
      const n = sets.validationPhotos.length;
      return evaluateDetailed({ vectors: vectors.slice(0, n), classIds: sets.validation.classIds }, { vectors: vectors.slice(n), classIds: sets.train.classIds }, k);
    },
    dispose: () => disposeNet(net),
  };
}

/** The whole network ("full"): photos decoded at its input size. */
function photoFeed(store: Store, model: ModelRow, net: FineTunedNet, size: number): NetFeed {
  const root = store.libraryRoot(model.libraryId);
  return {
    prepare: async () => {},
    embedPhotos: async (photos) => {
      const decoded = await Promise.all(photos.map((p) => decodeForModel(resolve(root, p.relPath), size, p.relPath).then((d) => d.pixels, () => null)));
      const readable = decoded.filter((d) => d !== null);
      const vectors = await embedInputs(net, decodedInputs(readable, size), readable.length);
      let next = 0;
      return decoded.map((d) => (d === null ? null : vectors[next++]));
    },
    embedImage: async (source) => {
      const { pixels } = await decodeForModel(source.image, size, source.label);
      return (await embedInputs(net, decodedInputs([pixels], size), 1))[0];
    },
    labelled: () => {
      const photos = labelledPhotos(store, model.libraryId, model.backbone);
      return { train: photoInputs(photos.train.sources, photos.train.classIds, size), validation: photoInputs(photos.validation.sources, photos.validation.classIds, size) };
    },
  };
}

/**
 * The last blocks: the cut maps cached per photo and, for multi-scale features, the taps below the
 * cut from the feature cache (the caller caches the model's features before indexing).
 */
function mapFeed(store: Store, model: ModelRow, net: FineTunedNet, graph: BuiltinGraph, cut: CutPoint, spec: BackboneSpec): NetFeed {
  const multiScale = tapWidth(spec) > 0;
  return {
    prepare: async (ctx) => void (await cacheCutActivations(ctx, model.libraryId, cut, model.backbone)),
    embedPhotos: async (photos) => {
      const maps = loadMaps(store, cut, photos);
      const taps = multiScale ? cachedTaps(store, spec, photos.map((p) => p.hash)) : null;
      const ready = photos.filter((p) => maps.has(p.hash) && (!taps || taps.has(p.hash)));
      const vectors = await embedMaps(net, ready.map((p) => maps.get(p.hash)!), taps ? ready.map((p) => taps.get(p.hash)!) : undefined);
      const byHash = new Map(ready.map((p, i) => [p.hash, vectors[i]]));
      return photos.map((p) => byHash.get(p.hash) ?? null);
    },
    embedImage: async (source) => {
      const decoded = await decodeForModel(source.image, BUILTIN_BACKBONE.inputSize, source.label);
      const [values] = await graph.activations([decoded.pixels], cut);
      // The taps as the feature cache computes them (the same backbone and runtime).
      const taps = multiScale ? [(await backboneFeature(spec, source)).slice(0, tapWidth(spec))] : undefined;
      // Through the same quantisation as the stored maps, so a photo embeds the same either way.
      return (await embedMaps(net, [decodeActivations(encodeActivations(values, cut.shape))], taps))[0];
    },
    labelled: () => {
      const maps = labelledMaps(store, cut, spec, splitPhotos(store, model.libraryId));
      return { train: mapInputs(maps.train), validation: mapInputs(maps.validation) };
    },
  };
}
