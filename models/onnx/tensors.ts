/** Element types, int64 values and walks over every tensor and node of an ONNX model. Pure: no Node imports. */
import { onnx } from './schema.js';

/** Element type names as onnxruntime spells them, by TensorProto.DataType value. */
const DTYPES: Readonly<Record<number, { name: string; bits: number }>> = {
  1: { name: 'float32', bits: 32 },
  2: { name: 'uint8', bits: 8 },
  3: { name: 'int8', bits: 8 },
  4: { name: 'uint16', bits: 16 },
  5: { name: 'int16', bits: 16 },
  6: { name: 'int32', bits: 32 },
  7: { name: 'int64', bits: 64 },
  8: { name: 'string', bits: 0 },
  9: { name: 'bool', bits: 8 },
  10: { name: 'float16', bits: 16 },
  11: { name: 'float64', bits: 64 },
  12: { name: 'uint32', bits: 32 },
  13: { name: 'uint64', bits: 64 },
  14: { name: 'complex64', bits: 64 },
  15: { name: 'complex128', bits: 128 },
  16: { name: 'bfloat16', bits: 16 },
  // Newer than the bundled schema (ONNX 1.14+); enum values decode as plain numbers, so they still work.
  17: { name: 'float8e4m3fn', bits: 8 },
  18: { name: 'float8e4m3fnuz', bits: 8 },
  19: { name: 'float8e5m2', bits: 8 },
  20: { name: 'float8e5m2fnuz', bits: 8 },
  21: { name: 'uint4', bits: 4 },
  22: { name: 'int4', bits: 4 },
  23: { name: 'float4e2m1', bits: 4 },
};

export const DataType = onnx.TensorProto.DataType;

/** 'float32', 'int64', ... or `dtype(N)` for a value this table does not know. */
export function dataTypeName(dataType: number | null | undefined): string {
  return DTYPES[dataType ?? 0]?.name ?? `dtype(${dataType ?? 0})`;
}

export function dataTypeFromName(name: string): number | undefined {
  for (const [k, v] of Object.entries(DTYPES)) if (v.name === name) return Number(k);
  return undefined;
}

/** Bits per element, 0 for strings and unknown types. */
export function dataTypeBits(dataType: number | null | undefined): number {
  return DTYPES[dataType ?? 0]?.bits ?? 0;
}

/**
 * An int64 field as decoded: a number, or a Long when the codec has `long` (it does here). The schema's typings
 * name it `Long`, which does not resolve in this project, so callers see `any`; this turns it into a number.
 */
export function int64(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string') return Number(value);
  if (value !== null && typeof value === 'object') {
    const v = value as { toNumber?: () => number; low?: number; high?: number; unsigned?: boolean };
    if (typeof v.toNumber === 'function') return v.toNumber();
    if (typeof v.low === 'number' && typeof v.high === 'number') {
      const high = v.unsigned ? v.high >>> 0 : v.high | 0;
      return high * 2 ** 32 + (v.low >>> 0);
    }
  }
  return 0;
}

export function tensorDims(tensor: onnx.ITensorProto): number[] {
  return ((tensor.dims ?? []) as unknown[]).map(int64);
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Bytes the tensor's values take at their element type (strings: the sum of their lengths). */
export function tensorByteSize(tensor: onnx.ITensorProto): number {
  if (tensor.dataType === DataType.STRING) return (tensor.stringData ?? []).reduce((a, s) => a + s.length, 0);
  return Math.ceil((elementCount(tensorDims(tensor)) * dataTypeBits(tensor.dataType)) / 8);
}

export function isExternal(tensor: onnx.ITensorProto): boolean {
  return tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL;
}

export type TensorKind = 'initializer' | 'sparse-initializer' | 'constant' | 'attribute';

export interface TensorSite {
  tensor: onnx.ITensorProto;
  kind: TensorKind;
  /** Where it sits, for messages: `graph.initializer[3]`, `graph.node[12](conv1).attribute(value)`, ... */
  where: string;
  node?: onnx.INodeProto;
}

export interface NodeSite {
  node: onnx.INodeProto;
  /** Path of the graph holding it: `graph`, `graph.node[4](loop).attribute(body)`, `function(custom::F)`. */
  graphPath: string;
  index: number;
}

function nodeLabel(node: onnx.INodeProto, i: number): string {
  return `node[${i}](${node.name || node.opType || '?'})`;
}

function isDefaultDomain(domain: string | null | undefined): boolean {
  return !domain || domain === 'ai.onnx';
}

/** Every node of every graph (subgraphs of If/Loop/Scan included) and of every model-local function. */
export function forEachNode(model: onnx.IModelProto, fn: (site: NodeSite) => void): void {
  const graph = (g: onnx.IGraphProto, path: string): void => nodes(g.node ?? [], path);
  const nodes = (list: onnx.INodeProto[], path: string): void => {
    list.forEach((node, index) => {
      fn({ node, graphPath: path, index });
      for (const a of node.attribute ?? []) {
        const base = `${path}.${nodeLabel(node, index)}.attribute(${a.name ?? ''})`;
        if (a.g) graph(a.g, base);
        (a.graphs ?? []).forEach((g, k) => graph(g, `${base}[${k}]`));
      }
    });
  };
  if (model.graph) graph(model.graph, 'graph');
  for (const f of model.functions ?? []) nodes(f.node ?? [], `function(${f.domain ?? ''}::${f.name ?? ''})`);
  (model.trainingInfo ?? []).forEach((t, i) => {
    if (t.initialization) graph(t.initialization, `trainingInfo[${i}].initialization`);
    if (t.algorithm) graph(t.algorithm, `trainingInfo[${i}].algorithm`);
  });
}

/** Every tensor that holds data: initializers, sparse initializers, Constant values and tensor attributes. */
export function forEachTensor(model: onnx.IModelProto, fn: (site: TensorSite) => void): void {
  const graph = (g: onnx.IGraphProto, path: string): void => {
    (g.initializer ?? []).forEach((tensor, i) =>
      fn({ tensor, kind: 'initializer', where: `${path}.initializer[${i}]` }),
    );
    (g.sparseInitializer ?? []).forEach((s, i) =>
      sparse(s, 'sparse-initializer', `${path}.sparseInitializer[${i}]`),
    );
  };
  const sparse = (
    s: onnx.ISparseTensorProto,
    kind: TensorKind,
    where: string,
    node?: onnx.INodeProto,
  ): void => {
    if (s.values) fn({ tensor: s.values, kind, where: `${where}.values`, ...(node ? { node } : {}) });
    if (s.indices) fn({ tensor: s.indices, kind, where: `${where}.indices`, ...(node ? { node } : {}) });
  };
  const graphs: [onnx.IGraphProto, string][] = [];
  if (model.graph) graphs.push([model.graph, 'graph']);
  forEachNode(model, ({ node, graphPath, index }) => {
    const constant = node.opType === 'Constant' && isDefaultDomain(node.domain);
    for (const a of node.attribute ?? []) {
      const base = `${graphPath}.${nodeLabel(node, index)}.attribute(${a.name ?? ''})`;
      const kind: TensorKind = constant ? 'constant' : 'attribute';
      if (a.t) fn({ tensor: a.t, kind, where: base, node });
      (a.tensors ?? []).forEach((tensor, k) => fn({ tensor, kind, where: `${base}[${k}]`, node }));
      if (a.sparseTensor) sparse(a.sparseTensor, kind, base, node);
      (a.sparseTensors ?? []).forEach((s, k) => sparse(s, kind, `${base}[${k}]`, node));
      if (a.g) graphs.push([a.g, base]);
      (a.graphs ?? []).forEach((g, k) => graphs.push([g, `${base}[${k}]`]));
    }
  });
  (model.trainingInfo ?? []).forEach((t, i) => {
    if (t.initialization) graphs.push([t.initialization, `trainingInfo[${i}].initialization`]);
    if (t.algorithm) graphs.push([t.algorithm, `trainingInfo[${i}].algorithm`]);
  });
  for (const [g, path] of graphs) graph(g, path);
}

/** The ONNX external_data entries of a tensor as a map (location, offset, length, checksum). */
export function externalDataEntries(tensor: onnx.ITensorProto): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of tensor.externalData ?? []) out.set(e.key ?? '', e.value ?? '');
  return out;
}
