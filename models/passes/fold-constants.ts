/**
 * Constant nodes → graph initializers. paddle2onnx keeps every weight in a Constant node; as initializers they are
 * what quantization, BatchNormalization fusion and onnxruntime's own folding look for.
 */
import { onnx } from '../onnx/schema.js';
import { DataType } from '../onnx/tensors.js';
import { allSubgraphReferences, cloneModel, graphOutputNames, isDefaultDomain } from './graph.js';

export interface SkippedConstant {
  /** The Constant's output name. */
  name: string;
  reason: string;
}

export interface FoldConstantsReport {
  /** Constant nodes turned into initializers. */
  folded: number;
  /** Constant nodes left as they were, and why. */
  skipped: SkippedConstant[];
}

/** The tensor a Constant node holds, named `name`; undefined (with the reason) for kinds kept as nodes. */
function constantTensor(node: onnx.INodeProto, name: string): onnx.ITensorProto | string {
  const attrs = node.attribute ?? [];
  if (attrs.length !== 1) return `${attrs.length} attributes (a Constant has exactly one)`;
  const a = attrs[0]!;
  switch (a.name) {
    case 'value':
      if (!a.t) return 'value attribute without a tensor';
      // The node's tensor object moves to the initializer list: the model is a private copy.
      a.t.name = name;
      return a.t;
    case 'value_float':
      return { name, dataType: DataType.FLOAT, dims: [], floatData: [a.f ?? 0] };
    case 'value_floats':
      return {
        name,
        dataType: DataType.FLOAT,
        dims: [(a.floats ?? []).length],
        floatData: [...(a.floats ?? [])],
      };
    case 'value_int':
      return { name, dataType: DataType.INT64, dims: [], int64Data: [a.i ?? 0] };
    case 'value_ints':
      return {
        name,
        dataType: DataType.INT64,
        dims: [(a.ints ?? []).length],
        int64Data: (a.ints ?? []).slice(0) as onnx.ITensorProto['int64Data'],
      };
    default:
      // sparse_value, value_string(s): rare, and not worth a special case.
      return `${a.name ?? '?'} constants are kept as nodes`;
  }
}

/** Folds in place; the model must be a private copy. */
export function foldConstantNodesInPlace(model: onnx.IModelProto): FoldConstantsReport {
  const report: FoldConstantsReport = { folded: 0, skipped: [] };
  const graph = model.graph;
  if (!graph) return report;
  const irVersion = Number(model.irVersion ?? 0);
  const outputs = graphOutputNames(graph);
  const subgraphRefs = allSubgraphReferences(graph);
  const taken = new Set<string>([
    ...(graph.initializer ?? []).map((t) => t.name ?? ''),
    ...(graph.input ?? []).map((v) => v.name ?? ''),
  ]);
  const kept: onnx.INodeProto[] = [];
  const added: onnx.ITensorProto[] = [];
  for (const node of graph.node ?? []) {
    if (node.opType !== 'Constant' || !isDefaultDomain(node.domain)) {
      kept.push(node);
      continue;
    }
    const name = node.output?.[0] ?? '';
    const skip = (reason: string): void => {
      report.skipped.push({ name, reason });
      kept.push(node);
    };
    if (irVersion > 0 && irVersion < 4)
      skip(`IR version ${irVersion} requires initializers to be graph inputs`);
    else if ((node.output ?? []).length !== 1 || !name) skip('not exactly one named output');
    else if (taken.has(name)) skip('an initializer or graph input already has this name');
    else if (outputs.has(name)) skip('it is a graph output');
    else if (subgraphRefs.has(name)) skip('a subgraph references it');
    else {
      const t = constantTensor(node, name);
      if (typeof t === 'string') skip(t);
      else {
        taken.add(name);
        added.push(t);
        report.folded++;
      }
    }
  }
  if (report.folded > 0) {
    graph.node = kept;
    graph.initializer = [...(graph.initializer ?? []), ...added];
  }
  return report;
}

/**
 * Main-graph Constant nodes (value, value_float(s), value_int(s)) become initializers named as the node's output.
 * Constants inside subgraphs, those a subgraph references, graph outputs and name clashes are left alone.
 */
export function foldConstantNodes(model: onnx.IModelProto): {
  model: onnx.ModelProto;
  report: FoldConstantsReport;
} {
  const copy = cloneModel(model);
  return { model: copy, report: foldConstantNodesInPlace(copy) };
}
