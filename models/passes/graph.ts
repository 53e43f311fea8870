/**
 * Helpers the graph cleanup passes share: cloning a model, reading and writing float tensors, and the name facts
 * (producers, consumers, names subgraphs reference) every pass needs about the main graph. Pure: no Node imports.
 */
import { onnx } from '../onnx/schema.js';
import { DataType, elementCount, isExternal, tensorDims } from '../onnx/tensors.js';

/**
 * A deep copy through the codec: the copy keeps every field, unknown (newer-than-schema) ones included, and the
 * passes can change it without touching the caller's model.
 */
export function cloneModel(model: onnx.IModelProto): onnx.ModelProto {
  return onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
}

export function isDefaultDomain(domain: string | null | undefined): boolean {
  return !domain || domain === 'ai.onnx';
}

export function attribute(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((a) => a.name === name);
}

/** Subgraphs held by a node's attributes (If branches, Loop and Scan bodies). */
export function subgraphsOf(node: onnx.INodeProto): onnx.IGraphProto[] {
  const out: onnx.IGraphProto[] = [];
  for (const a of node.attribute ?? []) {
    if (a.g) out.push(a.g);
    for (const g of a.graphs ?? []) out.push(g);
  }
  return out;
}

/**
 * Every name a node's subgraphs (recursively) use as a node input or graph output. It over-approximates the
 * outer-scope names they capture (it includes names local to the subgraph), which is the safe direction.
 */
export function subgraphReferences(node: onnx.INodeProto, into = new Set<string>()): Set<string> {
  const visit = (g: onnx.IGraphProto): void => {
    for (const n of g.node ?? []) {
      for (const i of n.input ?? []) if (i) into.add(i);
      for (const s of subgraphsOf(n)) visit(s);
    }
    for (const o of g.output ?? []) if (o.name) into.add(o.name);
  };
  for (const g of subgraphsOf(node)) visit(g);
  return into;
}

/** Names the main graph's subgraphs reference (see subgraphReferences). */
export function allSubgraphReferences(graph: onnx.IGraphProto): Set<string> {
  const out = new Set<string>();
  for (const n of graph.node ?? []) subgraphReferences(n, out);
  return out;
}

/** How many times each name is used as an input of a main-graph node. */
export function consumerCounts(graph: onnx.IGraphProto): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of graph.node ?? []) for (const i of n.input ?? []) if (i) out.set(i, (out.get(i) ?? 0) + 1);
  return out;
}

export function graphOutputNames(graph: onnx.IGraphProto): Set<string> {
  return new Set((graph.output ?? []).map((o) => o.name ?? ''));
}

/** Every name used anywhere in the model, for making new names that collide with none. */
export function usedNames(model: onnx.IModelProto): Set<string> {
  const names = new Set<string>();
  const visit = (g: onnx.IGraphProto): void => {
    for (const v of [...(g.input ?? []), ...(g.output ?? []), ...(g.valueInfo ?? [])])
      if (v.name) names.add(v.name);
    for (const t of g.initializer ?? []) if (t.name) names.add(t.name);
    for (const s of g.sparseInitializer ?? []) if (s.values?.name) names.add(s.values.name);
    for (const n of g.node ?? []) {
      if (n.name) names.add(n.name);
      for (const x of [...(n.input ?? []), ...(n.output ?? [])]) if (x) names.add(x);
      for (const s of subgraphsOf(n)) visit(s);
    }
  };
  if (model.graph) visit(model.graph);
  return names;
}

/** `base`, or `base_1`, `base_2`, ... whichever is free; the name returned is added to `taken`. */
export function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
  taken.add(name);
  return name;
}

/**
 * A float32 or float64 tensor's values as float64, from raw_data or the typed field; undefined for other element
 * types, external data, or data whose size does not match the dims.
 */
export function readFloats(t: onnx.ITensorProto): Float64Array | undefined {
  if (isExternal(t)) return undefined;
  const n = elementCount(tensorDims(t));
  const width = t.dataType === DataType.FLOAT ? 4 : t.dataType === DataType.DOUBLE ? 8 : 0;
  if (width === 0) return undefined;
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    if (raw.length !== n * width) return undefined;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++)
      out[i] = width === 4 ? view.getFloat32(i * 4, true) : view.getFloat64(i * 8, true);
    return out;
  }
  const typed = width === 4 ? t.floatData : t.doubleData;
  if ((typed?.length ?? 0) !== n) return undefined;
  return Float64Array.from(typed ?? []);
}

/** Stores values as float32 raw_data (the layout exporters write), replacing whatever data the tensor held. */
export function writeFloat32(t: onnx.ITensorProto, values: Float64Array): void {
  const f32 = Float32Array.from(values);
  t.dataType = DataType.FLOAT;
  t.rawData = new Uint8Array(f32.buffer);
  t.floatData = [];
  t.doubleData = [];
}
