/**
 * Small helpers to build ONNX models in code: synthetic models for tests (I/O, inspection, quantization).
 * They return plain message objects the codec encodes directly; wrap with onnx.ModelProto.fromObject if a class
 * instance is needed.
 */
import { onnx } from './schema.js';
import { dataTypeFromName } from './tensors.js';

export type ElemType =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'int64'
  | 'uint32'
  | 'uint64'
  | 'bool';
/** A dimension: a size, a symbolic name, or null for unknown. */
export type Dim = number | string | null;

type TypedData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export function elemType(name: ElemType): number {
  const t = dataTypeFromName(name);
  if (t === undefined) throw new Error(`unknown element type ${name}`);
  return t;
}

function typedFor(type: ElemType, values: readonly number[] | readonly bigint[]): TypedData {
  const nums = (): number[] => values.map(Number);
  switch (type) {
    case 'float32':
      return Float32Array.from(nums());
    case 'float64':
      return Float64Array.from(nums());
    case 'int8':
      return Int8Array.from(nums());
    case 'uint8':
    case 'bool':
      return Uint8Array.from(nums());
    case 'int16':
      return Int16Array.from(nums());
    case 'uint16':
    case 'float16': // values are the raw float16 bit patterns
      return Uint16Array.from(nums());
    case 'int32':
      return Int32Array.from(nums());
    case 'uint32':
      return Uint32Array.from(nums());
    case 'int64':
      return BigInt64Array.from(values.map((v) => BigInt(v)));
    case 'uint64':
      return BigUint64Array.from(values.map((v) => BigInt(v)));
  }
}

/** A tensor with raw little-endian data (the layout every exporter writes). */
export function tensor(
  name: string,
  type: ElemType,
  dims: readonly number[],
  data: TypedData | readonly number[] | readonly bigint[],
): onnx.ITensorProto {
  const typed = ArrayBuffer.isView(data) ? data : typedFor(type, data);
  const count = dims.reduce((a, b) => a * b, 1);
  if (typed.length !== count)
    throw new Error(`tensor ${name}: ${typed.length} values for dims [${dims.join(',')}]`);
  const rawData = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength).slice();
  return { name, dataType: elemType(type), dims: [...dims], rawData };
}

export function valueInfo(name: string, type: ElemType, shape?: readonly Dim[]): onnx.IValueInfoProto {
  const tensorType: onnx.TypeProto.ITensor = { elemType: elemType(type) };
  if (shape) {
    tensorType.shape = {
      dim: shape.map((d) => (d === null ? {} : typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
    };
  }
  return { name, type: { tensorType } };
}

/** Attribute values; build them with the helpers below so int and float attributes stay distinct. */
export type AttrValue = Omit<onnx.IAttributeProto, 'name'>;
const AT = onnx.AttributeProto.AttributeType;
export const attr = {
  int: (i: number): AttrValue => ({ type: AT.INT, i }),
  float: (f: number): AttrValue => ({ type: AT.FLOAT, f }),
  string: (s: string): AttrValue => ({ type: AT.STRING, s: new TextEncoder().encode(s) }),
  ints: (ints: readonly number[]): AttrValue => ({ type: AT.INTS, ints: [...ints] }),
  floats: (floats: readonly number[]): AttrValue => ({ type: AT.FLOATS, floats: [...floats] }),
  strings: (ss: readonly string[]): AttrValue => ({
    type: AT.STRINGS,
    strings: ss.map((s) => new TextEncoder().encode(s)),
  }),
  tensor: (t: onnx.ITensorProto): AttrValue => ({ type: AT.TENSOR, t }),
  graph: (g: onnx.IGraphProto): AttrValue => ({ type: AT.GRAPH, g }),
};

export interface NodeOptions {
  name?: string;
  domain?: string;
  attributes?: Record<string, AttrValue>;
  docString?: string;
}

export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  opts: NodeOptions = {},
): onnx.INodeProto {
  const n: onnx.INodeProto = { opType, input: [...inputs], output: [...outputs] };
  if (opts.name !== undefined) n.name = opts.name;
  if (opts.domain !== undefined) n.domain = opts.domain;
  if (opts.docString !== undefined) n.docString = opts.docString;
  const attrs = Object.entries(opts.attributes ?? {});
  if (attrs.length > 0) n.attribute = attrs.map(([name, a]) => ({ name, ...a }));
  return n;
}

/** A Constant node holding a tensor (how paddle2onnx stores weights). */
export function constant(output: string, t: onnx.ITensorProto, name?: string): onnx.INodeProto {
  return node('Constant', [], [output], {
    ...(name === undefined ? {} : { name }),
    attributes: { value: attr.tensor({ ...t, name: t.name ?? output }) },
  });
}

export interface GraphSpec {
  name?: string;
  nodes: onnx.INodeProto[];
  inputs: onnx.IValueInfoProto[];
  outputs: onnx.IValueInfoProto[];
  initializers?: onnx.ITensorProto[];
  valueInfo?: onnx.IValueInfoProto[];
  docString?: string;
}

export function graph(spec: GraphSpec): onnx.IGraphProto {
  const g: onnx.IGraphProto = {
    name: spec.name ?? 'graph',
    node: spec.nodes,
    input: spec.inputs,
    output: spec.outputs,
  };
  if (spec.initializers?.length) g.initializer = spec.initializers;
  if (spec.valueInfo?.length) g.valueInfo = spec.valueInfo;
  if (spec.docString !== undefined) g.docString = spec.docString;
  return g;
}

export interface ModelSpec {
  graph: onnx.IGraphProto;
  /** Default-domain opset version, or the full list. Default 17. */
  opset?: number | { domain: string; version: number }[];
  /** Default 8 (what onnxruntime 1.x reads everywhere). */
  irVersion?: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Record<string, string>;
  functions?: onnx.IFunctionProto[];
}

export function model(spec: ModelSpec): onnx.ModelProto {
  const opsets = typeof spec.opset === 'object' ? spec.opset : [{ domain: '', version: spec.opset ?? 17 }];
  const m: onnx.IModelProto = {
    irVersion: spec.irVersion ?? 8,
    producerName: spec.producerName ?? 'edge-console-tests',
    graph: spec.graph,
    opsetImport: opsets.map((o) => ({ domain: o.domain, version: o.version })),
  };
  if (spec.producerVersion !== undefined) m.producerVersion = spec.producerVersion;
  if (spec.docString !== undefined) m.docString = spec.docString;
  if (spec.metadata) m.metadataProps = Object.entries(spec.metadata).map(([key, value]) => ({ key, value }));
  if (spec.functions?.length) m.functions = spec.functions;
  // Round-trip through the codec so callers get the same class instances decodeModel returns.
  return onnx.ModelProto.decode(onnx.ModelProto.encode(m).finish());
}
