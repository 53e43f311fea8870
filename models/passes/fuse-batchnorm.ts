/**
 * Conv (or ConvTranspose) followed by BatchNormalization (inference mode, constant parameters) → one node with the
 * normalization folded into its weights and bias: W'[m] = W[m]·s[m], b'[m] = (b[m] − mean[m])·s[m] + beta[m] with
 * s[m] = gamma[m] / sqrt(var[m] + epsilon), computed in float64 and stored as float32. Exact up to that rounding,
 * for grouped and depthwise convolutions too: a Conv's output channel is its weight's first axis; a
 * ConvTranspose's weight is [C_in, C_out / group, ...], output channel g·(C_out / group) + j for input channels of
 * group g.
 */
import { onnx } from '../onnx/schema.js';
import { tensorDims } from '../onnx/tensors.js';
import {
  allSubgraphReferences,
  attribute,
  cloneModel,
  consumerCounts,
  graphOutputNames,
  isDefaultDomain,
  readFloats,
  uniqueName,
  usedNames,
  writeFloat32,
} from './graph.js';

export interface FusedBatchNorm {
  conv: string;
  batchNorm: string;
}

export interface FuseBatchNormReport {
  fused: FusedBatchNorm[];
}

function nodeLabel(n: onnx.INodeProto): string {
  return n.name || `${n.opType ?? '?'}(${n.output?.[0] ?? ''})`;
}

/** Fuses in place; the model must be a private copy. */
export function fuseBatchNormIntoConvInPlace(model: onnx.IModelProto): FuseBatchNormReport {
  const report: FuseBatchNormReport = { fused: [] };
  const graph = model.graph;
  if (!graph) return report;
  const nodes = graph.node ?? [];
  const inputNames = new Set((graph.input ?? []).map((v) => v.name ?? ''));
  // Initializers that are also graph inputs can be overridden at run time: not constants.
  const inits = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) if (t.name && !inputNames.has(t.name)) inits.set(t.name, t);
  const producer = new Map<string, onnx.INodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) if (o) producer.set(o, n);
  const consumers = consumerCounts(graph);
  const outputs = graphOutputNames(graph);
  const subgraphRefs = allSubgraphReferences(graph);
  const taken = usedNames(model);
  const removed = new Set<onnx.INodeProto>();
  const removedValues = new Set<string>();

  /** A tensor this Conv may overwrite: its own copy when another node (or a graph output) also uses it. */
  const ownTensor = (name: string, base: string): onnx.ITensorProto => {
    const t = inits.get(name)!;
    if ((consumers.get(name) ?? 0) === 1 && !outputs.has(name) && !subgraphRefs.has(name)) return t;
    const copy: onnx.ITensorProto = {
      name: uniqueName(base, taken),
      dataType: t.dataType,
      dims: tensorDims(t),
    };
    graph.initializer = [...(graph.initializer ?? []), copy];
    inits.set(copy.name!, copy);
    consumers.set(name, (consumers.get(name) ?? 1) - 1);
    consumers.set(copy.name!, 1);
    return copy;
  };

  for (const bn of nodes) {
    if (bn.opType !== 'BatchNormalization' || !isDefaultDomain(bn.domain)) continue;
    const [x, scaleName, betaName, meanName, varName] = bn.input ?? [];
    const y = bn.output?.[0];
    if (!x || !scaleName || !betaName || !meanName || !varName || !y) continue;
    if ((bn.output ?? []).slice(1).some((o) => o)) continue; // training outputs requested
    if (Number(attribute(bn, 'training_mode')?.i ?? 0) !== 0) continue;
    if (Number(attribute(bn, 'spatial')?.i ?? 1) !== 1) continue; // opset < 9 per-activation mode
    const conv = producer.get(x);
    if (
      !conv ||
      (conv.opType !== 'Conv' && conv.opType !== 'ConvTranspose') ||
      !isDefaultDomain(conv.domain) ||
      removed.has(conv)
    )
      continue;
    const transposed = conv.opType === 'ConvTranspose';
    const group = Number(attribute(conv, 'group')?.i ?? 1);
    if (conv.output?.[0] !== x) continue;
    if ((consumers.get(x) ?? 0) !== 1 || outputs.has(x) || subgraphRefs.has(x)) continue;
    const [, wName, bName] = conv.input ?? [];
    if (!wName || !inits.has(wName) || (bName && !inits.has(bName))) continue;
    const wTensor = inits.get(wName)!;
    const w = readFloats(wTensor);
    const dims = tensorDims(wTensor);
    const m = transposed ? (dims[1] ?? 0) * group : (dims[0] ?? 0);
    const params = [scaleName, betaName, meanName, varName].map((n) => {
      const t = inits.get(n);
      return t ? readFloats(t) : undefined;
    });
    const [gamma, beta, mean, variance] = params;
    if (!w || !gamma || !beta || !mean || !variance || dims.length < 1 || m === 0) continue;
    if (params.some((p) => p!.length !== m)) continue;
    const oldBias = bName ? readFloats(inits.get(bName)!) : new Float64Array(m);
    if (!oldBias || oldBias.length !== m) continue;
    const epsilon = attribute(bn, 'epsilon')?.f ?? 1e-5;

    const scale = Float64Array.from({ length: m }, (_, c) => gamma[c]! / Math.sqrt(variance[c]! + epsilon));
    const newW = new Float64Array(w.length);
    const newB = Float64Array.from({ length: m }, (_, c) => (oldBias[c]! - mean[c]!) * scale[c]! + beta[c]!);
    if (!transposed) {
      const per = w.length / m;
      for (let k = 0; k < w.length; k++) newW[k] = w[k]! * scale[Math.floor(k / per)]!;
    } else {
      // [C_in, C_out/group, spatial...]: element k belongs to input channel ci, output channel j of its group.
      const perGroupOut = dims[1]!;
      const spatial = w.length / (dims[0]! * perGroupOut);
      const inPerGroup = dims[0]! / group;
      for (let k = 0; k < w.length; k++) {
        const ci = Math.floor(k / (perGroupOut * spatial));
        const j = Math.floor(k / spatial) % perGroupOut;
        newW[k] = w[k]! * scale[Math.floor(ci / inPerGroup) * perGroupOut + j]!;
      }
    }
    const label = conv.name || wName;
    const input = conv.input!;
    const wOut = ownTensor(wName, `${label}_bn_W`);
    writeFloat32(wOut, newW);
    input[1] = wOut.name!;
    if (bName) {
      const bOut = ownTensor(bName, `${label}_bn_B`);
      writeFloat32(bOut, newB);
      input[2] = bOut.name!;
    } else {
      const bias: onnx.ITensorProto = { name: uniqueName(`${label}_bn_B`, taken), dims: [m] };
      writeFloat32(bias, newB);
      graph.initializer = [...(graph.initializer ?? []), bias];
      inits.set(bias.name!, bias);
      input[2] = bias.name!;
    }
    // The fused Conv writes the BatchNormalization's output, so every later name stays as it was.
    conv.output[0] = y;
    producer.set(y, conv);
    removed.add(bn);
    removedValues.add(x);
    for (const p of [scaleName, betaName, meanName, varName]) consumers.set(p, (consumers.get(p) ?? 1) - 1);
    report.fused.push({ conv: nodeLabel(conv), batchNorm: nodeLabel(bn) });
  }
  if (removed.size === 0) return report;
  graph.node = nodes.filter((n) => !removed.has(n));
  if (graph.valueInfo) graph.valueInfo = graph.valueInfo.filter((v) => !removedValues.has(v.name ?? ''));
  return report;
}

/**
 * Folds each BatchNormalization into the Conv before it when the Conv's weight (and bias, if any) and the
 * normalization's scale, B, mean and var are constant initializers, training_mode is 0, and the Conv's output has
 * no other consumer. Initializers left unused (the normalization's parameters) stay for the dead-node pass.
 */
export function fuseBatchNormIntoConv(model: onnx.IModelProto): {
  model: onnx.ModelProto;
  report: FuseBatchNormReport;
} {
  const copy = cloneModel(model);
  return { model: copy, report: fuseBatchNormIntoConvInPlace(copy) };
}
