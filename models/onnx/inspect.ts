/**
 * What a model is, for the Builds page and `edgectl model inspect`: interface, opsets, operators, parameters,
 * external data, metadata and a graph listing. Pure and fast (no onnxruntime); ort.ts fills missing shapes.
 */
import type { OnnxModel } from './io.js';
import { onnx } from './schema.js';
import {
  dataTypeName,
  elementCount,
  externalDataEntries,
  forEachNode,
  forEachTensor,
  int64,
  isExternal,
  tensorByteSize,
  tensorDims,
} from './tensors.js';

/** A dimension: its size, its symbolic name, or '?' when the model says nothing. */
export type ShapeDim = number | string;

export interface ValueSummary {
  name: string;
  /** 'float32', 'int64', ...; 'sequence', 'map', 'optional' for non-tensors; 'unknown' when untyped. */
  elemType: string;
  /** null when the model gives no shape (not even the rank). */
  shape: ShapeDim[] | null;
  /** Where elemType/shape came from. */
  source: 'model' | 'onnxruntime';
}

export interface NodeSummary {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** Attribute name → short printable value (`[1,1]`, `float32[64,3,3,3]`, `graph(12 nodes)`). */
  attributes: Record<string, string>;
}

export interface ParameterSummary {
  /** Elements across initializers, sparse initializers and Constant-node tensors (all element types). */
  count: number;
  bytes: number;
  initializers: number;
  constants: number;
  byType: Record<string, { count: number; bytes: number }>;
}

export interface ModelSummary {
  producer: { name: string; version: string };
  irVersion: number;
  domain: string;
  modelVersion: number;
  docString: string;
  opsets: { domain: string; version: number }[];
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  /** By operator, most frequent first; ops outside the default domain are `domain::Op`. */
  operators: { op: string; count: number }[];
  /** Nodes in the main graph, subgraphs and local functions. */
  nodeCount: number;
  parameters: ParameterSummary;
  externalData: { location: string; tensors: number; bytes: number }[];
  metadata: Record<string, string>;
  /** The main graph, node by node (subgraphs show up as `graph(N nodes)` attributes). */
  graph: { name: string; nodes: NodeSummary[] };
  /** Size of the .onnx itself, when the summary came from a read model. */
  fileBytes?: number;
}

const AT = onnx.AttributeProto.AttributeType;
const decoder = new TextDecoder();

function dimOf(d: onnx.TensorShapeProto.IDimension): ShapeDim {
  if (d.dimParam) return d.dimParam;
  if (d.dimValue !== undefined && d.dimValue !== null && Object.prototype.hasOwnProperty.call(d, 'dimValue'))
    return int64(d.dimValue);
  return '?';
}

function typeSummary(t: onnx.ITypeProto | null | undefined): Pick<ValueSummary, 'elemType' | 'shape'> {
  if (!t) return { elemType: 'unknown', shape: null };
  const tensor = t.tensorType ?? t.sparseTensorType;
  if (tensor) {
    return {
      elemType: tensor.elemType ? dataTypeName(tensor.elemType) : 'unknown',
      shape: tensor.shape ? (tensor.shape.dim ?? []).map(dimOf) : null,
    };
  }
  if (t.sequenceType) return { elemType: 'sequence', shape: null };
  if (t.mapType) return { elemType: 'map', shape: null };
  if (t.optionalType) return { elemType: 'optional', shape: null };
  return { elemType: 'unknown', shape: null };
}

function valueSummary(v: onnx.IValueInfoProto): ValueSummary {
  return { name: v.name ?? '', ...typeSummary(v.type), source: 'model' };
}

function list(values: readonly (number | string)[], max = 8): string {
  const head = values.slice(0, max).join(',');
  return values.length > max ? `[${head},…(${values.length})]` : `[${head}]`;
}

function tensorLabel(t: onnx.ITensorProto): string {
  return `${dataTypeName(t.dataType)}${list(tensorDims(t))}${isExternal(t) ? ' (external)' : ''}`;
}

function countNodes(g: onnx.IGraphProto | null | undefined): number {
  let n = 0;
  for (const node of g?.node ?? []) {
    n++;
    for (const a of node.attribute ?? []) {
      n += countNodes(a.g);
      for (const sub of a.graphs ?? []) n += countNodes(sub);
    }
  }
  return n;
}

/** A short printable value of an attribute. Old models leave `type` unset, so fall back on which field is set. */
export function attributeSummary(a: onnx.IAttributeProto): string {
  const has = (k: keyof onnx.IAttributeProto): boolean => Object.prototype.hasOwnProperty.call(a, k);
  const type =
    a.type ||
    (has('f')
      ? AT.FLOAT
      : has('i')
        ? AT.INT
        : has('s')
          ? AT.STRING
          : has('t')
            ? AT.TENSOR
            : has('g')
              ? AT.GRAPH
              : a.floats?.length
                ? AT.FLOATS
                : a.ints?.length
                  ? AT.INTS
                  : a.strings?.length
                    ? AT.STRINGS
                    : 0);
  switch (type) {
    case AT.FLOAT:
      return String(Number((a.f ?? 0).toPrecision(6)));
    case AT.INT:
      return String(int64(a.i));
    case AT.STRING: {
      const s = decoder.decode(a.s ?? new Uint8Array());
      return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
    }
    case AT.TENSOR:
      return a.t ? tensorLabel(a.t) : 'tensor';
    case AT.GRAPH:
      return `graph(${countNodes(a.g)} nodes)`;
    case AT.FLOATS:
      return list((a.floats ?? []).map((f) => Number(f.toPrecision(6))));
    case AT.INTS:
      return list(((a.ints ?? []) as unknown[]).map(int64));
    case AT.STRINGS:
      return list((a.strings ?? []).map((s) => JSON.stringify(decoder.decode(s))));
    case AT.TENSORS:
      return `tensors(${(a.tensors ?? []).length})`;
    case AT.GRAPHS:
      return `graphs(${(a.graphs ?? []).length})`;
    case AT.SPARSE_TENSOR:
      return 'sparse tensor';
    case AT.SPARSE_TENSORS:
      return `sparse tensors(${(a.sparseTensors ?? []).length})`;
    case AT.TYPE_PROTO:
      return `type(${typeSummary(a.tp).elemType})`;
    case AT.TYPE_PROTOS:
      return `types(${(a.typeProtos ?? []).length})`;
    default:
      return a.refAttrName ? `@${a.refAttrName}` : '?';
  }
}

function opKey(node: onnx.INodeProto): string {
  const domain = node.domain ?? '';
  return domain === '' || domain === 'ai.onnx' ? (node.opType ?? '?') : `${domain}::${node.opType ?? '?'}`;
}

/** Elements held by a Constant node's value_* attributes that are not tensors (value_float, value_ints, ...). */
function scalarConstant(a: onnx.IAttributeProto): { count: number; bytes: number; type: string } | undefined {
  switch (a.name) {
    case 'value_float':
      return { count: 1, bytes: 4, type: 'float32' };
    case 'value_int':
      return { count: 1, bytes: 8, type: 'int64' };
    case 'value_floats':
      return { count: (a.floats ?? []).length, bytes: 4 * (a.floats ?? []).length, type: 'float32' };
    case 'value_ints':
      return { count: (a.ints ?? []).length, bytes: 8 * (a.ints ?? []).length, type: 'int64' };
    default:
      return undefined;
  }
}

export function inspectModel(model: OnnxModel | onnx.IModelProto): ModelSummary {
  const loaded = 'proto' in model && 'external' in model ? model : undefined;
  const proto: onnx.IModelProto = loaded ? loaded.proto : (model as onnx.IModelProto);
  const g = proto.graph ?? {};

  const initializerNames = new Set((g.initializer ?? []).map((t) => t.name ?? ''));
  const inputs = (g.input ?? []).filter((v) => !initializerNames.has(v.name ?? '')).map(valueSummary);
  const outputs = (g.output ?? []).map(valueSummary);

  const ops = new Map<string, number>();
  let nodeCount = 0;
  const parameters: ParameterSummary = { count: 0, bytes: 0, initializers: 0, constants: 0, byType: {} };
  const addParams = (type: string, count: number, bytes: number): void => {
    parameters.count += count;
    parameters.bytes += bytes;
    const t = (parameters.byType[type] ??= { count: 0, bytes: 0 });
    t.count += count;
    t.bytes += bytes;
  };
  forEachNode(proto, ({ node }) => {
    nodeCount++;
    const key = opKey(node);
    ops.set(key, (ops.get(key) ?? 0) + 1);
    if (node.opType === 'Constant' && opKey(node) === 'Constant') {
      for (const a of node.attribute ?? []) {
        const s = scalarConstant(a);
        if (s) {
          parameters.constants++;
          addParams(s.type, s.count, s.bytes);
        }
      }
    }
  });

  const external = new Map<string, { tensors: number; bytes: number }>();
  forEachTensor(proto, ({ tensor, kind }) => {
    if (kind === 'attribute') return; // e.g. ConstantOfShape's fill value: not a weight
    if (kind === 'initializer' || kind === 'sparse-initializer') parameters.initializers++;
    else parameters.constants++;
    addParams(dataTypeName(tensor.dataType), elementCount(tensorDims(tensor)), tensorByteSize(tensor));
    if (isExternal(tensor)) {
      const location = externalDataEntries(tensor).get('location') ?? '?';
      const e = external.get(location) ?? { tensors: 0, bytes: 0 };
      e.tensors++;
      e.bytes += tensorByteSize(tensor);
      external.set(location, e);
    }
  });

  const metadata: Record<string, string> = {};
  for (const p of proto.metadataProps ?? []) metadata[p.key ?? ''] = p.value ?? '';

  const summary: ModelSummary = {
    producer: { name: proto.producerName ?? '', version: proto.producerVersion ?? '' },
    irVersion: int64(proto.irVersion),
    domain: proto.domain ?? '',
    modelVersion: int64(proto.modelVersion),
    docString: proto.docString ?? '',
    opsets: (proto.opsetImport ?? []).map((o) => ({
      domain: o.domain || 'ai.onnx',
      version: int64(o.version),
    })),
    inputs,
    outputs,
    operators: [...ops]
      .map(([op, count]) => ({ op, count }))
      .sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
    nodeCount,
    parameters,
    externalData: [...external].map(([location, e]) => ({ location, ...e })),
    metadata,
    graph: {
      name: g.name ?? '',
      nodes: (g.node ?? []).map((n) => ({
        name: n.name ?? '',
        opType: n.opType ?? '',
        domain: n.domain ?? '',
        inputs: [...(n.input ?? [])],
        outputs: [...(n.output ?? [])],
        attributes: Object.fromEntries((n.attribute ?? []).map((a) => [a.name ?? '', attributeSummary(a)])),
      })),
    },
  };
  if (loaded) summary.fileBytes = loaded.byteLength;
  return summary;
}

/** Inputs/outputs whose type or shape the model leaves open (what onnxruntime can fill in). */
export function needsShapeInfo(summary: ModelSummary): boolean {
  return [...summary.inputs, ...summary.outputs].some((v) => v.shape === null || v.elemType === 'unknown');
}
