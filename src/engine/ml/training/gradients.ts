/**
 * The two convolutions of MobileNet-style blocks as TF.js ops with hand-written backward passes
 * built only from fast ops (matMul, element-wise products, pads, slices, a forward depthwise conv).
 * TF.js wasm has no convolution backward kernels at all, and WebGPU's are tens of times slower than
 * their forward kernels; these gradients let backbone blocks train on both.
 *
 * Both ops take NHWC input, use SAME padding, add a per-channel bias and optionally apply ReLU6,
 * as the graph's fused convolutions do (batch norm is already folded into weights and bias).
 */
import * as tf from '@tensorflow/tfjs-core';

export type Activation = 'relu6' | 'linear';

/** A 1×1 convolution, stride 1: x [b, h, w, in] · filter [in, out] + bias [out]. */
export function pointwiseConv(x: tf.Tensor4D, filter: tf.Tensor2D, bias: tf.Tensor1D, activation: Activation): tf.Tensor4D {
  if (x.shape[3] !== filter.shape[0]) throw new Error(`1x1 conv: input has ${x.shape[3]} channels, filter expects ${filter.shape[0]}`);
  return pointwiseOps[activation](x, filter, bias) as tf.Tensor4D;
}

/**
 * A k×k depthwise convolution: filter [k, k, channels, multiplier], bias [channels * multiplier],
 * output channel c * multiplier + j as TF orders it.
 */
export function depthwiseConv(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, stride: 1 | 2, activation: Activation): tf.Tensor4D {
  const [kh, kw, channels, multiplier] = filter.shape;
  if (x.shape[3] !== channels) throw new Error(`depthwise conv: input has ${x.shape[3]} channels, filter expects ${channels}`);
  if (kh !== kw) throw new Error(`depthwise conv: only square filters are supported (got ${kh}x${kw})`);
  if (multiplier === 1) return depthwiseOp(stride, activation)(x, filter, bias) as tf.Tensor4D;
  // Channel c feeds outputs c*m .. c*m+m-1: repeating each input channel m times makes it multiplier 1.
  return tf.tidy(() => {
    const [b, h, w] = x.shape;
    const repeated = tf.reshape(tf.stack(new Array<tf.Tensor>(multiplier).fill(x), 4), [b, h, w, channels * multiplier]) as tf.Tensor4D;
    const flat = tf.reshape(filter, [kh, kw, channels * multiplier, 1]) as tf.Tensor4D;
    return depthwiseOp(stride, activation)(repeated, flat, bias) as tf.Tensor4D;
  });
}

type Op = (x: tf.Tensor, filter: tf.Tensor, bias: tf.Tensor) => tf.Tensor;

/** The output's gradient through ReLU6, from the output itself (0 < y < 6 passes). */
function throughActivation(dy: tf.Tensor, y: tf.Tensor, activation: Activation): tf.Tensor {
  if (activation === 'linear') return dy;
  return tf.mul(dy, tf.cast(tf.logicalAnd(tf.greater(y, 0), tf.less(y, 6)), 'float32'));
}

function makePointwise(activation: Activation): Op {
  return tf.customGrad((x, filter, bias, save) => {
    const [b, h, w, inC] = (x as tf.Tensor4D).shape;
    const outC = (filter as tf.Tensor2D).shape[1];
    const rows = tf.reshape(x as tf.Tensor, [b * h * w, inC]) as tf.Tensor2D;
    const y2 = tf.fused.matMul({ a: rows, b: filter as tf.Tensor2D, bias: bias as tf.Tensor, activation });
    const y = tf.reshape(y2, [b, h, w, outC]);
    (save as tf.GradSaveFunc)([rows, filter as tf.Tensor, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [savedRows, savedFilter, savedY]: tf.Tensor[]) => {
        const dz = tf.reshape(throughActivation(dy, savedY, activation), [b * h * w, outC]) as tf.Tensor2D;
        // Explicit transposes: wasm runs transposed-operand matMuls far slower than plain ones.
        const dx = tf.matMul(dz, tf.transpose(savedFilter as tf.Tensor2D));
        const dFilter = tf.matMul(tf.transpose(savedRows as tf.Tensor2D), dz);
        return [tf.reshape(dx, [b, h, w, inC]), dFilter, tf.sum(dz, 0)];
      },
    };
  }) as Op;
}

const pointwiseOps: Record<Activation, Op> = { relu6: makePointwise('relu6'), linear: makePointwise('linear') };
const depthwiseOps = new Map<string, Op>();

function depthwiseOp(stride: 1 | 2, activation: Activation): Op {
  const key = `${stride}:${activation}`;
  let op = depthwiseOps.get(key);
  if (!op) depthwiseOps.set(key, (op = makeDepthwise(stride, activation)));
  return op;
}

/** TF's SAME padding along one axis: output size, and the padding before (the extra goes after). */
export function samePadding(size: number, kernel: number, stride: number): { out: number; before: number; padded: number } {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return { out, before: Math.floor(total / 2), padded: size + total };
}

function makeDepthwise(stride: 1 | 2, activation: Activation): Op {
  return tf.customGrad((x, filter, bias, save) => {
    const input = x as tf.Tensor4D;
    const f = filter as tf.Tensor4D;
    const y = tf.fused.depthwiseConv2d({ x: input, filter: f, strides: stride, pad: 'same', bias: bias as tf.Tensor, activation });
    (save as tf.GradSaveFunc)([input, f, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [savedX, savedFilter, savedY]: tf.Tensor[]) => {
        const dz = throughActivation(dy, savedY, activation) as tf.Tensor4D;
        const xs = savedX as tf.Tensor4D;
        const fs = savedFilter as tf.Tensor4D;
        return [depthwiseInputGrad(dz, fs, xs.shape, stride), depthwiseFilterGrad(xs, dz, fs.shape[0], stride), tf.sum(dz, [0, 1, 2])];
      },
    };
  }) as Op;
}

/**
 * dFilter[u, v, c] = Σ over batch and output positions of xPadded[i·s + u, j·s + v, c] · dz[i, j, c]:
 * k² shifted products, summed. Written as slices that is k² strided 4-D slices, which TF.js wasm
 * copies slowly; the same sums come from one forward depthwise conv in which batch × channel are
 * the channels, the padded input the image and dz (dilated by the stride) the filter: 4-5× faster
 * here, and a kernel every backend has.
 */
function depthwiseFilterGrad(x: tf.Tensor4D, dz: tf.Tensor4D, k: number, stride: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const [, ho, wo] = dz.shape;
  const rows = samePadding(h, k, stride);
  const cols = samePadding(w, k, stride);
  const padded = tf.pad(x, [
    [0, 0],
    [rows.before, rows.padded - h - rows.before],
    [cols.before, cols.padded - w - cols.before],
    [0, 0],
  ]);
  const image = tf.reshape(tf.transpose(padded, [1, 2, 0, 3]), [1, rows.padded, cols.padded, b * c]) as tf.Tensor4D;
  const filter = tf.reshape(tf.transpose(dz, [1, 2, 0, 3]), [ho, wo, b * c, 1]) as tf.Tensor4D;
  const perImage = tf.depthwiseConv2d(image, filter, 1, 'valid', 'NHWC', stride);
  const [, kh, kw] = perImage.shape;
  if (kh !== k || kw !== k) throw new Error(`depthwise filter gradient came out ${kh}x${kw}, expected ${k}x${k}`);
  return tf.reshape(tf.sum(tf.reshape(perImage, [k, k, b, c]), 2), [k, k, c, 1]);
}

/**
 * dxPadded[p] = Σ_u dzDilated[p − u] · filter[u]: a VALID depthwise correlation of dz (spread out by
 * the stride, padded by k − 1) with the filter turned 180°, using the fast forward kernel; then the
 * SAME padding is cut off again.
 */
function depthwiseInputGrad(dz: tf.Tensor4D, filter: tf.Tensor4D, xShape: number[], stride: number): tf.Tensor4D {
  const [b, h, w, c] = xShape;
  const k = filter.shape[0];
  const turned = tf.reverse(filter, [0, 1]);
  // Stride 1, odd k: SAME pads (k − 1) / 2 on each side, so the correlation is itself a SAME one.
  if (stride === 1 && k % 2 === 1) return tf.depthwiseConv2d(dz, turned, 1, 'same');
  const rows = samePadding(h, k, stride);
  const cols = samePadding(w, k, stride);
  let spread: tf.Tensor4D = dz;
  if (stride > 1) {
    const [, ho, wo] = dz.shape;
    // stride − 1 zeros after each column, then after each row; 4-D pads only (WebGPU has no 6-D pad).
    const zerosAfterEach = (t: tf.Tensor): tf.Tensor => tf.pad(t, [
      [0, 0],
      [0, 0],
      [0, stride - 1],
      [0, 0],
    ]);
    const columns = tf.reshape(zerosAfterEach(tf.reshape(dz, [b * ho, wo, 1, c])), [b, ho, 1, wo * stride * c]);
    const rows = tf.reshape(zerosAfterEach(columns), [b, ho * stride, wo * stride, c]) as tf.Tensor4D;
    spread = tf.slice(rows, [0, 0, 0, 0], [b, (ho - 1) * stride + 1, (wo - 1) * stride + 1, c]);
  }
  const [, sh, sw] = spread.shape;
  const framed = tf.pad(spread, [
    [0, 0],
    [k - 1, rows.padded - sh],
    [k - 1, cols.padded - sw],
    [0, 0],
  ]);
  const full = tf.depthwiseConv2d(framed, turned, 1, 'valid');
  return tf.slice(full, [0, rows.before, cols.before, 0], [b, h, w, c]);
}

/**
 * A k×k convolution of the network's input (the photo, or a fixed rescaling of it): filter
 * [k, k, in, out], SAME padding. Only the filter and bias get gradients: nothing trains below the
 * input, so its gradient (a transposed convolution the size of the photo) is never computed; do not
 * use this where something trainable lies below x.
 *
 * The filter gradient is one matMul of the k² shifted, strided views of the padded input (stacked
 * per pixel: [pixels, k·k·in]) with the output gradient [pixels, out], in place of TF.js's
 * conv2DBackpropFilter kernel.
 */
export function inputConv(x: tf.Tensor4D, filter: tf.Tensor4D, bias: tf.Tensor1D, stride: number, activation: Activation): tf.Tensor4D {
  const [kh, kw, inC, outC] = filter.shape;
  if (x.shape[3] !== inC) throw new Error(`input conv: input has ${x.shape[3]} channels, filter expects ${inC}`);
  const op = tf.customGrad((f, b, save) => {
    const y = tf.fused.conv2d({ x, filter: f as tf.Tensor4D, strides: stride, pad: 'same', bias: b as tf.Tensor, activation });
    // x is saved too: it is not an input of this op, and a tidy around the forward pass may free it.
    (save as tf.GradSaveFunc)([x, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [savedX, savedY]: tf.Tensor[]) => {
        const dz = throughActivation(dy, savedY, activation) as tf.Tensor4D;
        const [batch, ho, wo] = dz.shape;
        const rows = samePadding(x.shape[1], kh, stride);
        const cols = samePadding(x.shape[2], kw, stride);
        const padded = tf.pad(savedX, [
          [0, 0],
          [rows.before, rows.padded - x.shape[1] - rows.before],
          [cols.before, cols.padded - x.shape[2] - cols.before],
          [0, 0],
        ]);
        const views: tf.Tensor[] = [];
        for (let u = 0; u < kh; u++) {
          for (let v = 0; v < kw; v++) {
            views.push(tf.stridedSlice(padded, [0, u, v, 0], [batch, u + (ho - 1) * stride + 1, v + (wo - 1) * stride + 1, inC], [1, stride, stride, 1]));
          }
        }
        const patches = tf.reshape(tf.stack(views, 3), [batch * ho * wo, kh * kw * inC]) as tf.Tensor2D;
        const dz2 = tf.reshape(dz, [batch * ho * wo, outC]) as tf.Tensor2D;
        const dFilter = tf.reshape(tf.matMul(tf.transpose(patches), dz2), [kh, kw, inC, outC]);
        return [dFilter, tf.sum(dz2, 0)];
      },
    };
  });
  return op(filter, bias) as tf.Tensor4D;
}
