/**
 * Export and import of last-blocks models: the built-in graph with the trained blocks in place goes
 * out as a TF.js graph model and, with the head, as one ONNX network; coming back, the trained blocks
 * are read from that graph model and stored as the training stored them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BUILTIN_BACKBONE } from '../../../shared/builtin-backbone.js';
import { packFineTuned } from '../../ml/training/block-trainer.js';
import { EmbeddingHead, unpackTensors, type HeadConfig } from '../../ml/training/head.js';
import type { HeadWeights } from '../../ml/export/head-weights.js';
import type { BackboneSpec } from '../../ml/backbone/backbone.js';
import { graphModelFiles, networkToOnnx, readGraphModelWeights } from '../../ml/export/network-export.js';
import type { OnnxModel } from '../../ml/runtime/onnx-proto.js';
import type { ModelRow, Store } from '../../store/store.js';
import { builtinGraph, cutOf, disposeNet, openFineTuned, type FineTuneConfig } from './fine-tuned-net.js';

/** The stored fine-tuned model as a TF.js graph model of its backbone and an ONNX network from image to embedding. */
export async function fineTunedFiles(store: Store, model: ModelRow, head: HeadWeights): Promise<{ graphModel: { modelJson: object; weights: Buffer }; network: OnnxModel }> {
  const { net, graph } = await openFineTuned(store, model);
  try {
    const weights = await graph.weightsWith(net.blocks);
    const { topology, nodes } = graph.exportable;
    // Multi-scale features: the layers pooled below the cut go into the network beside the final pool.
    const spec = model.config.backboneSpec as BackboneSpec;
    const scales = spec.kind === 'builtin' ? (spec.scales ?? []) : [];
    const outputs = [...scales.map((scale) => BUILTIN_BACKBONE.scales[scale].node), BUILTIN_BACKBONE.featureNode];
    return { graphModel: graphModelFiles(topology, weights), network: networkToOnnx(nodes, weights, outputs, head) };
  } finally {
    disposeNet(net);
  }
}

/**
 * The stored form (packFineTuned) of an exported fine-tuned model: its trained blocks read from the
 * exported graph model by the names the blocks at this cut have here, and its head (stored form).
 */
export async function importFineTunedWeights(fineTune: FineTuneConfig, headConfig: HeadConfig, headBlob: Buffer, graphModelJson: unknown, graphWeights: Buffer, source: string): Promise<Buffer> {
  const graph = await builtinGraph();
  const cut = cutOf(graph, fineTune);
  if (cut.node !== fineTune.cutNode) throw new Error(`${source}: the model was fine-tuned above ${fineTune.cutNode}, which this backbone does not have at ${fineTune.blocks} blocks`);
  const template = graph.trainable(cut);
  const shapes = Object.entries(template.namedWeights()).map(([name, v]) => [name, v.shape] as const);
  template.dispose();
  const read = readGraphModelWeights(graphModelJson, graphWeights, shapes.map(([name]) => name));
  // Trained blocks keep 1×1 filters as [in, out]; the graph model holds them as [1, 1, in, out].
  const saved: tf.NamedTensorMap = Object.fromEntries(shapes.map(([name, shape]) => [name, tf.tensor(read.get(name)!.values, shape)]));
  const headTensors = unpackTensors(headBlob);
  let net: { head: EmbeddingHead; blocks: ReturnType<typeof graph.trainable> } | undefined;
  try {
    net = { head: EmbeddingHead.fromWeights(headConfig, headTensors), blocks: graph.trainable(cut, saved) };
    return await packFineTuned(net);
  } finally {
    tf.dispose([...Object.values(saved), ...Object.values(headTensors)]);
    if (net) disposeNet(net);
  }
}
