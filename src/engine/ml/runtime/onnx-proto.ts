/**
 * Just enough of the ONNX protobuf schema (onnx.proto, proto2) to write a model: the messages a
 * feed-forward graph of float tensors needs, encoded by hand so no protobuf runtime is pulled in.
 */

export interface OnnxAttribute {
  name: string;
  /** ints -> INTS, int -> INT, float -> FLOAT, string -> STRING. */
  value: { ints: number[] } | { int: number } | { float: number } | { string: string };
}

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  attributes?: OnnxAttribute[];
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  /** float32 values, 8- and 32-bit integers (quantised weights, zero points, biases), or int64 values as numbers (for shapes and axes). */
  data: Float32Array | Int8Array | Uint8Array | Int32Array | { int64: number[] };
  /** Not encoded: the grid float values lie on when the source model stored them quantised (see onnx-quantize.ts). */
  step?: number;
}

export interface OnnxValueInfo {
  name: string;
  /** A number, or a name for a dimension that varies (the batch). */
  shape: Array<number | string>;
  /** Element type; float32 unless said. */
  type?: 'float32' | 'uint8';
}

export interface OnnxModel {
  opset: number;
  producer: string;
  graphName: string;
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValueInfo[];
  outputs: OnnxValueInfo[];
}

const IR_VERSION = 8;
const FLOAT = 1;
const UINT8 = 2;
const INT8 = 3;
const INT32 = 6;
const INT64 = 7;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

export function encodeModel(model: OnnxModel): Uint8Array {
  const graph = new Writer();
  for (const node of model.nodes) graph.message(1, encodeNode(node));
  graph.string(2, model.graphName);
  for (const tensor of model.initializers) graph.message(5, encodeTensor(tensor));
  for (const input of model.inputs) graph.message(11, encodeValueInfo(input));
  for (const output of model.outputs) graph.message(12, encodeValueInfo(output));

  const opset = new Writer().string(1, '').varint(2, model.opset);
  return new Writer().varint(1, IR_VERSION).string(2, model.producer).message(7, graph).message(8, opset).finish();
}

function encodeNode(node: OnnxNode): Writer {
  const w = new Writer();
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  if (node.name) w.string(3, node.name);
  w.string(4, node.opType);
  for (const attribute of node.attributes ?? []) w.message(5, encodeAttribute(attribute));
  return w;
}

function encodeAttribute({ name, value }: OnnxAttribute): Writer {
  const w = new Writer().string(1, name);
  if ('ints' in value) {
    for (const i of value.ints) w.varint(8, i);
    return w.varint(20, ATTR_INTS);
  }
  if ('int' in value) return w.varint(3, value.int).varint(20, ATTR_INT);
  if ('float' in value) return w.float(2, value.float).varint(20, ATTR_FLOAT);
  return w.bytes(4, new TextEncoder().encode(value.string)).varint(20, ATTR_STRING);
}

function encodeTensor(tensor: OnnxTensor): Writer {
  const w = new Writer();
  for (const d of tensor.dims) w.varint(1, d);
  if (!('int64' in tensor.data)) {
    const data = tensor.data;
    w.varint(2, data instanceof Float32Array ? FLOAT : data instanceof Int32Array ? INT32 : data instanceof Int8Array ? INT8 : UINT8);
    w.string(8, tensor.name);
    // raw_data is little-endian, as typed arrays are on every platform Node runs on.
    return w.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  const raw = new DataView(new ArrayBuffer(tensor.data.int64.length * 8));
  tensor.data.int64.forEach((v, i) => raw.setBigInt64(i * 8, BigInt(v), true));
  return w.varint(2, INT64).string(8, tensor.name).bytes(9, new Uint8Array(raw.buffer));
}

function encodeValueInfo(info: OnnxValueInfo): Writer {
  const shape = new Writer();
  for (const d of info.shape) shape.message(1, typeof d === 'number' ? new Writer().varint(1, d) : new Writer().string(2, d));
  const tensorType = new Writer().varint(1, info.type === 'uint8' ? UINT8 : FLOAT).message(2, shape);
  return new Writer().string(1, info.name).message(2, new Writer().message(1, tensorType));
}

/** Protobuf wire format: varints (type 0), 32-bit floats (type 5), length-delimited bytes (type 2). */
class Writer {
  private chunks: Uint8Array[] = [];
  private length = 0;

  varint(field: number, value: number): this {
    this.tag(field, 0);
    this.rawVarint(BigInt(value));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, 5);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    return this.push(bytes);
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, inner: Writer): this {
    return this.bytes(field, inner.finish());
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.rawVarint(BigInt(value.length));
    return this.push(value);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  private tag(field: number, wireType: number): void {
    this.rawVarint(BigInt((field << 3) | wireType));
  }

  /** Negative int64s take ten bytes, two's complement, as protobuf specifies. */
  private rawVarint(value: bigint): void {
    let v = BigInt.asUintN(64, value);
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v !== 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v !== 0n);
    this.push(Uint8Array.from(bytes));
  }

  private push(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }
}
