/**
 * Facts about a model's main graph that the compatibility checks share: who produces and consumes each value,
 * which values are constants, and which nodes a converter folds away. Pure: no Node imports.
 */
import { onnx } from '../onnx/schema.js';
import { DataType, elementCount, int64, isExternal, tensorDims } from '../onnx/tensors.js';
import { attribute, isDefaultDomain } from '../passes/graph.js';

export interface IndexedNode {
  node: onnx.INodeProto;
  index: number;
  /** The node's name, or `OpType#index` for an unnamed node. */
  label: string;
  /** `OpType` in the default domain, `domain::OpType` otherwise. */
  key: string;
}

export interface GraphIndex {
  graph: onnx.IGraphProto;
  nodes: IndexedNode[];
  producer: Map<string, IndexedNode>;
  consumers: Map<string, IndexedNode[]>;
  /** Initializers and Constant-node tensors, by value name. */
  constants: Map<string, onnx.ITensorProto>;
  graphInputs: Set<string>;
  graphOutputs: Set<string>;
  defaultOpset: number | undefined;
}

export function opKey(node: onnx.INodeProto): string {
  return isDefaultDomain(node.domain) ? (node.opType ?? '?') : `${node.domain}::${node.opType ?? '?'}`;
}

export function nodeLabel(node: onnx.INodeProto, index: number): string {
  return node.name || `${node.opType ?? '?'}#${index}`;
}

export function indexGraph(model: onnx.IModelProto): GraphIndex {
  const graph = model.graph ?? {};
  const nodes = (graph.node ?? []).map((node, index) => ({
    node,
    index,
    label: nodeLabel(node, index),
    key: opKey(node),
  }));
  const producer = new Map<string, IndexedNode>();
  const consumers = new Map<string, IndexedNode[]>();
  const constants = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) constants.set(t.name, t);
  for (const n of nodes) {
    for (const o of n.node.output ?? []) if (o) producer.set(o, n);
    for (const i of n.node.input ?? []) {
      if (!i) continue;
      const list = consumers.get(i) ?? [];
      list.push(n);
      consumers.set(i, list);
    }
    if (n.node.opType === 'Constant' && isDefaultDomain(n.node.domain)) {
      const value = attribute(n.node, 'value')?.t;
      const out = n.node.output?.[0];
      if (value && out) constants.set(out, value);
    }
  }
  const initializerNames = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const graphInputs = new Set(
    (graph.input ?? []).map((v) => v.name ?? '').filter((n) => n && !initializerNames.has(n)),
  );
  const graphOutputs = new Set((graph.output ?? []).map((v) => v.name ?? ''));
  const defaultImport = (model.opsetImport ?? []).find((o) => isDefaultDomain(o.domain));
  return {
    graph,
    nodes,
    producer,
    consumers,
    constants,
    graphInputs,
    graphOutputs,
    defaultOpset: defaultImport ? int64(defaultImport.version) : undefined,
  };
}

/** Nodes whose outputs are constants once the model's input shapes are fixed. */
const SHAPE_OPS = new Set(['Shape', 'Size']);
/** Nodes that pass a runtime value through unchanged at inference. */
const NO_OPS = new Set(['Identity', 'Dropout']);

export interface Folding {
  /** Nodes that do not survive conversion. */
  folded: Set<IndexedNode>;
  /** Values that are constants once shapes are fixed: constants and the outputs of folded nodes. */
  constValues: Set<string>;
}

/**
 * Nodes a converter folds away when input shapes are static: Constant, Shape/Size, every node all of whose inputs
 * are constants or folded outputs (shape arithmetic, DequantizeLinear of a constant weight, ...), and the no-ops
 * Identity and Dropout (whose outputs stay runtime values).
 */
export function foldGraph(ix: GraphIndex): Folding {
  const constValues = new Set<string>(ix.constants.keys());
  const folded = new Set<IndexedNode>();
  for (const n of ix.nodes) {
    const inputs = (n.node.input ?? []).filter((i) => i);
    const constant =
      n.key === 'Constant' ||
      SHAPE_OPS.has(n.key) ||
      (inputs.length > 0 && inputs.every((i) => constValues.has(i)));
    if (constant) {
      folded.add(n);
      for (const o of n.node.output ?? []) if (o) constValues.add(o);
    } else if (NO_OPS.has(n.key)) {
      folded.add(n);
    }
  }
  return { folded, constValues };
}

/** Integer values of an int8/uint8/int32/int64 tensor (raw or typed fields); undefined for external data. */
export function readInts(t: onnx.ITensorProto): number[] | undefined {
  if (isExternal(t)) return undefined;
  const n = elementCount(tensorDims(t));
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
    switch (t.dataType) {
      case DataType.INT8:
        return [...new Int8Array(buf)];
      case DataType.UINT8:
        return [...new Uint8Array(buf)];
      case DataType.INT16:
        return [...new Int16Array(buf)];
      case DataType.UINT16:
        return [...new Uint16Array(buf)];
      case DataType.INT32:
        return [...new Int32Array(buf)];
      case DataType.INT64:
        return [...new BigInt64Array(buf)].map(Number);
      default:
        return undefined;
    }
  }
  if (t.dataType === DataType.INT64) return ((t.int64Data ?? []) as unknown[]).map(int64);
  const typed = (t.int32Data ?? []).map(Number);
  return typed.length === n ? typed : n === 0 ? [] : undefined;
}

/** Float values of a float32/float64 tensor; undefined otherwise. */
export function readFloatValues(t: onnx.ITensorProto): number[] | undefined {
  if (isExternal(t)) return undefined;
  const n = elementCount(tensorDims(t));
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    const buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
    if (t.dataType === DataType.FLOAT && raw.length === n * 4) return [...new Float32Array(buf)];
    if (t.dataType === DataType.DOUBLE && raw.length === n * 8) return [...new Float64Array(buf)];
    return undefined;
  }
  if (t.dataType === DataType.FLOAT && (t.floatData ?? []).length === n) return [...(t.floatData ?? [])];
  if (t.dataType === DataType.DOUBLE && (t.doubleData ?? []).length === n) return [...(t.doubleData ?? [])];
  return undefined;
}

export function intAttr(node: onnx.INodeProto, name: string): number | undefined {
  const a = attribute(node, name);
  return a && Object.prototype.hasOwnProperty.call(a, 'i') ? int64(a.i) : undefined;
}

export function intsAttr(node: onnx.INodeProto, name: string): number[] | undefined {
  const a = attribute(node, name);
  return a?.ints?.length ? (a.ints as unknown[]).map(int64) : undefined;
}

export function stringAttr(node: onnx.INodeProto, name: string): string | undefined {
  const a = attribute(node, name);
  return a?.s ? new TextDecoder().decode(a.s) : undefined;
}

/** Up to `max` labels and the total count, for messages. */
export function nodeRef(nodes: readonly IndexedNode[], max = 5): { names: string[]; count: number } {
  return { names: nodes.slice(0, max).map((n) => n.label), count: nodes.length };
}

export function describeNodes(nodes: readonly IndexedNode[], max = 3): string {
  const head = nodes
    .slice(0, max)
    .map((n) => n.label)
    .join(', ');
  return nodes.length > max ? `${head} and ${nodes.length - max} more` : head;
}
