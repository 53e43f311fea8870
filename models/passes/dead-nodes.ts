/**
 * Identity nodes and dead code out of the main graph. Graph input and output names never change: an Identity
 * that writes a graph output is removed only when its input's producer can write that name itself.
 */
import { onnx } from '../onnx/schema.js';
import {
  allSubgraphReferences,
  cloneModel,
  consumerCounts,
  graphOutputNames,
  isDefaultDomain,
  subgraphReferences,
} from './graph.js';

export interface DeadNodesReport {
  /** Identity nodes removed by rewiring their consumers. */
  identities: number;
  /** Nodes removed because nothing uses their outputs. */
  deadNodes: number;
  /** Initializers removed because nothing uses them. */
  deadInitializers: number;
}

function removeIdentities(graph: onnx.IGraphProto): number {
  const nodes = graph.node ?? [];
  const outputs = graphOutputNames(graph);
  const inputs = new Set([
    ...(graph.input ?? []).map((v) => v.name ?? ''),
    ...(graph.initializer ?? []).map((t) => t.name ?? ''),
  ]);
  const subgraphRefs = allSubgraphReferences(graph);
  const consumers = consumerCounts(graph);
  const producer = new Map<string, onnx.INodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) if (o) producer.set(o, n);
  /** Renames to apply to node inputs: Identity output → its input. */
  const rename = new Map<string, string>();
  const resolve = (name: string): string => rename.get(name) ?? name;
  const removed = new Set<onnx.INodeProto>();
  for (const node of nodes) {
    if (node.opType !== 'Identity' || !isDefaultDomain(node.domain)) continue;
    const src = resolve(node.input?.[0] ?? '');
    const dst = node.output?.[0] ?? '';
    if (!src || !dst || (node.output ?? []).length !== 1 || subgraphRefs.has(dst)) continue;
    if (!outputs.has(dst)) {
      rename.set(dst, src);
      removed.add(node);
      continue;
    }
    // dst is a graph output: let src's producer write dst, if src is an ordinary value used only here.
    const p = producer.get(src);
    if (!p || removed.has(p) || inputs.has(src) || outputs.has(src) || subgraphRefs.has(src)) continue;
    if ((consumers.get(src) ?? 0) !== 1) continue;
    p.output = (p.output ?? []).map((o) => (o === src ? dst : o));
    producer.set(dst, p);
    removed.add(node);
  }
  if (removed.size === 0) return 0;
  graph.node = nodes.filter((n) => !removed.has(n));
  for (const n of graph.node) if (n.input) n.input = n.input.map((i) => (i ? resolve(i) : i));
  return removed.size;
}

/** Nodes (default-domain only: custom ops may have side effects) and initializers nothing uses. */
function removeDead(graph: onnx.IGraphProto): { nodes: number; initializers: number } {
  const nodes = graph.node ?? [];
  const live = graphOutputNames(graph);
  const keep = new Array<boolean>(nodes.length).fill(false);
  // Nodes are topologically sorted, so one backward sweep finds everything the outputs need.
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    const used = (n.output ?? []).some((o) => o && live.has(o));
    const sideEffects = !isDefaultDomain(n.domain) || (n.output ?? []).length === 0;
    if (!used && !sideEffects) continue;
    keep[i] = true;
    for (const x of n.input ?? []) if (x) live.add(x);
    subgraphReferences(n, live);
  }
  const graphInputs = new Set((graph.input ?? []).map((v) => v.name ?? ''));
  const before = graph.initializer ?? [];
  // An initializer that is also a graph input is part of the interface: it stays.
  const inits = before.filter((t) => live.has(t.name ?? '') || graphInputs.has(t.name ?? ''));
  const keptNodes = nodes.filter((_, i) => keep[i]);
  const removedNodes = nodes.length - keptNodes.length;
  const removedInits = before.length - inits.length;
  if (removedNodes > 0) graph.node = keptNodes;
  if (removedInits > 0) graph.initializer = inits;
  return { nodes: removedNodes, initializers: removedInits };
}

/** Drops value_info entries for values that no longer exist. */
function pruneValueInfo(graph: onnx.IGraphProto): void {
  if (!graph.valueInfo?.length) return;
  const names = new Set<string>([
    ...(graph.input ?? []).map((v) => v.name ?? ''),
    ...(graph.initializer ?? []).map((t) => t.name ?? ''),
  ]);
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) names.add(o);
  graph.valueInfo = graph.valueInfo.filter((v) => names.has(v.name ?? ''));
}

/** Removes in place; the model must be a private copy. */
export function removeIdentityAndDeadNodesInPlace(model: onnx.IModelProto): DeadNodesReport {
  const graph = model.graph;
  if (!graph) return { identities: 0, deadNodes: 0, deadInitializers: 0 };
  const identities = removeIdentities(graph);
  const dead = removeDead(graph);
  pruneValueInfo(graph);
  return { identities, deadNodes: dead.nodes, deadInitializers: dead.initializers };
}

/**
 * Removes main-graph Identity nodes (their consumers read the Identity's input instead; graph output names stay)
 * and then every node and initializer whose outputs nothing uses.
 */
export function removeIdentityAndDeadNodes(model: onnx.IModelProto): {
  model: onnx.ModelProto;
  report: DeadNodesReport;
} {
  const copy = cloneModel(model);
  return { model: copy, report: removeIdentityAndDeadNodesInPlace(copy) };
}
