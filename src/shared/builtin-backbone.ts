/**
 * The backbone shipped with the app, in one table (as tfjs-models keeps its models' settings):
 * MobileNetV2 1.4 from TF-Hub as the nsfwjs 4.3.0 package ships it, a graph model with batch norm
 * folded into its convolutions. Plain data: settings.ts (and so the renderer) reads its id.
 */
const GRAPH_PREFIX = 'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2/';

export const BUILTIN_BACKBONE = {
  id: 'nsfwjs-mobilenetv2-1.4',
  name: 'MobileNetV2 1.4 (TF-Hub, shipped in nsfwjs 4.3.0)',
  /** The photo side it was trained at: its features, the cut activations and full fine-tuning use it. */
  inputSize: 224,
  /** RGB in [0, 1]: the graph rescales it itself. */
  inputRange: '0,1',
  /** The global-average pool whose output is the features, and its width. */
  featureNode: `${GRAPH_PREFIX}Logits/AvgPool`,
  featureDim: 1792,
  /**
   * How the graph names an inverted-residual block's nodes ("expanded_conv", "expanded_conv_1", …):
   * a fine-tuning cut point is the input of the first node of block N from the end.
   */
  blockPattern: /\/(expanded_conv(?:_\d+)?)\//,
  /** Inverted-residual blocks in the graph, "expanded_conv" (block 0) to "expanded_conv_16". */
  blockCount: 17,
  /**
   * Earlier layers that can be pooled beside the features, as in the deep-ranking paper's
   * multi-scale network, with their pooled widths. Each scale is global-average-pooled and
   * L2-normalised on its own, then all are concatenated (the final pool last), so no scale outweighs
   * another by its width.
   */
  scales: {
    /** Block 10's 1×1 expansion (528 channels at 14×14). */
    'block10-expand': { node: `${GRAPH_PREFIX}expanded_conv_10/expand/Relu6`, width: 528, block: 10 },
    /** Block 13's 1×1 expansion (816 channels at 14×14): the last layer before the 7×7 stage. */
    'block13-expand': { node: `${GRAPH_PREFIX}expanded_conv_13/expand/Relu6`, width: 816, block: 13 },
  },
  /** The layers of the 'multi-scale' features setting (docs/measurements.md, "Multi-scale features": the set measured best). */
  multiScale: ['block10-expand', 'block13-expand'],
} as const;

export type BuiltinScale = keyof typeof BUILTIN_BACKBONE.scales;
