import { ProtoWriter } from './protobuf-writer';

/**
 * The part of onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto)
 * a feed-forward image network needs, as plain objects, and their encoding. Field numbers are onnx.proto's.
 */

/** TensorProto.DataType values used here. */
export const ONNX_FLOAT = 1;
export const ONNX_INT64 = 7;

export interface OnnxTensor {
  name: string;
  dims: readonly number[];
  data: Float32Array | BigInt64Array;
}

export type OnnxAttribute =
  | { kind: 'int'; value: number }
  | { kind: 'ints'; value: readonly number[] }
  | { kind: 'float'; value: number }
  | { kind: 'floats'; value: readonly number[] };

export interface OnnxNode {
  name: string;
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, OnnxAttribute>>;
}

/** A float tensor value; a string dimension is symbolic (a batch of any size). */
export interface OnnxValueInfo {
  name: string;
  dims: ReadonlyArray<number | string>;
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  graph: OnnxGraph;
  /** Default-domain opset version. */
  opset: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  metadata?: Readonly<Record<string, string>>;
}

/** The IR version that goes with each opset (onnx's versioning table). */
function irVersionFor(opset: number): number {
  if (opset <= 12) return 7;
  if (opset <= 17) return 8;
  if (opset <= 19) return 9;
  return 10;
}

const ATTRIBUTE_TYPE = { float: 1, int: 2, floats: 6, ints: 7 } as const;

function writeAttribute(w: ProtoWriter, name: string, a: OnnxAttribute): void {
  w.string(1, name);
  if (a.kind === 'float') w.float(2, a.value);
  else if (a.kind === 'int') w.int(3, a.value);
  else if (a.kind === 'floats') w.floats(7, a.value);
  else w.ints(8, a.value);
  w.int(20, ATTRIBUTE_TYPE[a.kind]);
}

function writeNode(w: ProtoWriter, node: OnnxNode): void {
  w.strings(1, node.inputs).strings(2, node.outputs).string(3, node.name).string(4, node.opType);
  for (const [name, a] of Object.entries(node.attributes ?? {})) w.message(5, (m) => writeAttribute(m, name, a));
}

function writeTensor(w: ProtoWriter, t: OnnxTensor): void {
  w.ints(1, t.dims);
  w.int(2, t.data instanceof Float32Array ? ONNX_FLOAT : ONNX_INT64);
  w.string(8, t.name);
  // raw_data is little-endian; typed arrays are in the platform's order, which is little-endian on every Node target.
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

function writeValueInfo(w: ProtoWriter, v: OnnxValueInfo): void {
  w.string(1, v.name);
  // TypeProto.tensor_type { elem_type, shape { dim { dim_value | dim_param } } }
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, ONNX_FLOAT);
      tensor.message(2, (shape) => {
        for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

function writeGraph(w: ProtoWriter, g: OnnxGraph): void {
  for (const node of g.nodes) w.message(1, (m) => writeNode(m, node));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (m) => writeTensor(m, t));
  for (const v of g.inputs) w.message(11, (m) => writeValueInfo(m, v));
  for (const v of g.outputs) w.message(12, (m) => writeValueInfo(m, v));
}

/** The model as the bytes of an .onnx file. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, irVersionFor(model.opset));
  w.string(2, model.producerName);
  w.string(3, model.producerVersion);
  if (model.docString) w.string(6, model.docString);
  w.message(7, (g) => writeGraph(g, model.graph));
  w.message(8, (op) => op.string(1, '').int(2, model.opset));
  for (const [key, value] of Object.entries(model.metadata ?? {})) w.message(14, (m) => m.string(1, key).string(2, value));
  return w.finish();
}
