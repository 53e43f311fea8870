/**
 * Exact rewrites of the elementwise chains exporters leave around convolutions, run by the FP32 and the INT8
 * builds alike (so the INT8 build's gain is measured against a graph just as clean):
 *
 * 1. Conv (or ungrouped ConvTranspose, whose output channels are its weight's second axis) → Mul(c) / Add(c)
 *    with constant per-output-channel or scalar c: folded into the weights and bias (W·c, b·c; b + c). Exact up
 *    to float32 rounding of the folded values.
 * 2. Mul(a) → Add(c) → Conv with scalar a and c (an affine on the Conv's input): a always folds into the weights
 *    (Conv is linear and zero padding stays zero); c folds into the bias (b + c·ΣW) only when the Conv has no
 *    padding, otherwise the Add stays, rewritten as Add(c/a) before the scaled Conv.
 * 3. x·Clip(x + 3, 0, 6) / 6 (HardSwish written as four nodes) → HardSwish(x), opset ≥ 14.
 *
 * A rewrite only happens where the intermediate value has no other consumer and is not a graph output.
 */
import { onnx } from '../onnx/schema.js';
import { int64, tensorDims } from '../onnx/tensors.js';
import {
  attribute,
  cloneModel,
  consumerCounts,
  graphOutputNames,
  readFloats,
  writeFloat32,
} from './graph.js';

export interface FuseElementwiseReport {
  /** Mul/Add nodes folded into the Conv before them. */
  foldedIntoConvOutput: number;
  /** Mul/Add nodes folded into the Conv after them. */
  foldedIntoConvInput: number;
  /** Four-node HardSwish patterns replaced by one HardSwish. */
  hardSwish: number;
  nodesBefore: number;
  nodesAfter: number;
}

interface Ctx {
  graph: onnx.IGraphProto;
  inits: Map<string, onnx.ITensorProto>;
  producer: Map<string, onnx.INodeProto>;
  consumers: Map<string, onnx.INodeProto[]>;
  counts: Map<string, number>;
  outputs: Set<string>;
  removed: Set<onnx.INodeProto>;
}

function build(graph: onnx.IGraphProto): Ctx {
  const inputNames = new Set((graph.input ?? []).map((v) => v.name ?? ''));
  const inits = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) if (t.name && !inputNames.has(t.name)) inits.set(t.name, t);
  const producer = new Map<string, onnx.INodeProto>();
  const consumers = new Map<string, onnx.INodeProto[]>();
  for (const n of graph.node ?? []) {
    for (const o of n.output ?? []) if (o) producer.set(o, n);
    for (const i of n.input ?? []) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  }
  return {
    graph,
    inits,
    producer,
    consumers,
    counts: consumerCounts(graph),
    outputs: graphOutputNames(graph),
    removed: new Set(),
  };
}

/** The constant operand of a binary node and the other (data) input, if exactly one input is a constant. */
function constOperand(
  ctx: Ctx,
  n: onnx.INodeProto,
): { value: Float64Array; dims: number[]; data: string } | undefined {
  const [a, b] = n.input ?? [];
  if (!a || !b) return undefined;
  const ta = ctx.inits.get(a);
  const tb = ctx.inits.get(b);
  if ((ta && tb) || (!ta && !tb)) return undefined;
  const t = (ta ?? tb) as onnx.ITensorProto;
  const value = readFloats(t);
  if (!value) return undefined;
  return { value, dims: tensorDims(t), data: ta ? b : a };
}

/** Per-output-channel values (length m) of a constant that broadcasts against [N, M, ...spatial], or undefined. */
function perChannel(
  value: Float64Array,
  dims: number[],
  m: number,
  spatialRank: number,
): Float64Array | undefined {
  if (value.length === 1) return new Float64Array(m).fill(value[0] ?? 0);
  if (value.length !== m) return undefined;
  // Accept [M, 1, 1], [1, M, 1, 1] and the like: M on the channel axis, ones elsewhere.
  const rank = dims.length;
  if (rank > spatialRank + 2) return undefined;
  const channelAxis = rank - spatialRank - 1;
  if (channelAxis < 0 || dims[channelAxis] !== m) return undefined;
  return value;
}

function singleUse(ctx: Ctx, name: string): boolean {
  return (ctx.counts.get(name) ?? 0) === 1 && !ctx.outputs.has(name);
}

function convWeights(ctx: Ctx, conv: onnx.INodeProto): { w: onnx.ITensorProto; dims: number[] } | undefined {
  const w = ctx.inits.get(conv.input?.[1] ?? '');
  if (!w || !readFloats(w)) return undefined;
  if ((ctx.counts.get(conv.input?.[1] ?? '') ?? 0) !== 1) return undefined;
  const b = conv.input?.[2];
  if (b && (!ctx.inits.get(b) || (ctx.counts.get(b) ?? 0) !== 1)) return undefined;
  return { w, dims: tensorDims(w) };
}

function ensureBias(ctx: Ctx, model: onnx.IModelProto, conv: onnx.INodeProto, m: number): onnx.ITensorProto {
  const existing = ctx.inits.get(conv.input?.[2] ?? '');
  if (existing) return existing;
  const name = `${conv.input?.[1] ?? 'conv'}_fused_bias`;
  const t = onnx.TensorProto.create({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims: [m] });
  writeFloat32(t, new Float64Array(m));
  (model.graph?.initializer ?? []).push(t);
  ctx.inits.set(name, t);
  ctx.counts.set(name, 1);
  const ins = [...(conv.input ?? [])];
  while (ins.length < 3) ins.push('');
  ins[2] = name;
  conv.input = ins;
  return t;
}

/** Replaces uses of `from` by `to` in every node. */
function rename(ctx: Ctx, from: string, to: string): void {
  for (const n of ctx.graph.node ?? []) n.input = (n.input ?? []).map((i) => (i === from ? to : i));
  for (const o of ctx.graph.output ?? []) if (o.name === from) o.name = to;
}

function foldIntoConvOutput(model: onnx.IModelProto, ctx: Ctx): number {
  let folded = 0;
  for (const conv of ctx.graph.node ?? []) {
    if (ctx.removed.has(conv)) continue;
    const transposed = conv.opType === 'ConvTranspose';
    if (conv.opType !== 'Conv' && !(transposed && int64(attribute(conv, 'group')?.i ?? 1) === 1)) continue;
    for (;;) {
      const out = conv.output?.[0] ?? '';
      if (!singleUse(ctx, out)) break;
      const next = ctx.consumers.get(out)?.find((c) => !ctx.removed.has(c));
      if (!next || (next.opType !== 'Mul' && next.opType !== 'Add')) break;
      const k = constOperand(ctx, next);
      const cw = convWeights(ctx, conv);
      if (!k || k.data !== out || !cw) break;
      const m = (transposed ? cw.dims[1] : cw.dims[0]) ?? 0;
      const c = perChannel(k.value, k.dims, m, cw.dims.length - 2);
      if (!c) break;
      const w = readFloats(cw.w) as Float64Array;
      const bias = ensureBias(ctx, model, conv, m);
      const b = readFloats(bias) as Float64Array;
      if (next.opType === 'Mul') {
        // Output channel of weight element i: Conv [M, ...] → i / per; ConvTranspose [C_in, M, ...] → (i / spatial) % M.
        const per = w.length / m;
        const spatial = w.length / ((cw.dims[0] ?? 1) * m);
        for (let i = 0; i < w.length; i++)
          w[i] = (w[i] ?? 0) * (c[transposed ? Math.floor(i / spatial) % m : Math.floor(i / per)] ?? 1);
        for (let o = 0; o < m; o++) b[o] = (b[o] ?? 0) * (c[o] ?? 1);
        writeFloat32(cw.w, w);
      } else {
        for (let o = 0; o < m; o++) b[o] = (b[o] ?? 0) + (c[o] ?? 0);
      }
      writeFloat32(bias, b);
      // The Conv now produces the Mul/Add's output.
      const nextOut = next.output?.[0] ?? '';
      ctx.removed.add(next);
      conv.output = [nextOut];
      ctx.producer.set(nextOut, conv);
      folded++;
    }
  }
  return folded;
}

function scalarOf(ctx: Ctx, n: onnx.INodeProto): { value: number; data: string } | undefined {
  const k = constOperand(ctx, n);
  if (!k || k.value.length !== 1) return undefined;
  return { value: k.value[0] ?? 0, data: k.data };
}

function foldIntoConvInput(ctx: Ctx): number {
  let folded = 0;
  for (const conv of ctx.graph.node ?? []) {
    if (conv.opType !== 'Conv' || ctx.removed.has(conv)) continue;
    const x = conv.input?.[0] ?? '';
    if (!singleUse(ctx, x)) continue;
    const add = ctx.producer.get(x);
    if (!add || ctx.removed.has(add) || add.opType !== 'Add') continue;
    const addK = scalarOf(ctx, add);
    if (!addK || !singleUse(ctx, addK.data)) continue;
    const mul = ctx.producer.get(addK.data);
    if (!mul || ctx.removed.has(mul) || mul.opType !== 'Mul') continue;
    const mulK = scalarOf(ctx, mul);
    const cw = convWeights(ctx, conv);
    if (!mulK || !cw || mulK.value === 0) continue;
    const a = mulK.value;
    const c = addK.value;
    const w = readFloats(cw.w) as Float64Array;
    const m = cw.dims[0] ?? 0;
    const pads = (attribute(conv, 'pads')?.ints ?? []).map(int64);
    const autoPad = attribute(conv, 'auto_pad')?.s;
    const autoPadName = autoPad ? new TextDecoder().decode(autoPad) : 'NOTSET';
    const noPadding = pads.every((p) => p === 0) && (autoPadName === 'NOTSET' || autoPadName === 'VALID');
    for (let i = 0; i < w.length; i++) w[i] = (w[i] ?? 0) * a;
    if (noPadding) {
      const per = w.length / m;
      const bias = conv.input?.[2] ? ctx.inits.get(conv.input[2]) : undefined;
      // b' = b + c·ΣW (with the original W: c enters before the scale a).
      const b = bias ? (readFloats(bias) as Float64Array) : new Float64Array(m);
      for (let o = 0; o < m; o++) {
        let s = 0;
        for (let i = 0; i < per; i++) s += (w[o * per + i] ?? 0) / a;
        b[o] = (b[o] ?? 0) + c * s;
      }
      writeFloat32(cw.w, w);
      if (bias) writeFloat32(bias, b);
      else {
        const t = onnx.TensorProto.create({
          name: `${conv.input?.[1] ?? 'conv'}_fused_bias`,
          dataType: onnx.TensorProto.DataType.FLOAT,
          dims: [m],
        });
        writeFloat32(t, b);
        ctx.graph.initializer?.push(t);
        ctx.inits.set(t.name ?? '', t);
        conv.input = [conv.input?.[0] ?? '', conv.input?.[1] ?? '', t.name ?? ''];
      }
      ctx.removed.add(add);
      ctx.removed.add(mul);
      conv.input = [mulK.data, ...(conv.input ?? []).slice(1)];
      folded += 2;
    } else {
      // Keep the shift: x·a + c = (x + c/a)·a → Add(x, c/a) then Conv with W·a.
      writeFloat32(cw.w, w);
      const addConst = ctx.inits.get(
        add.input?.[0] === addK.data ? (add.input?.[1] ?? '') : (add.input?.[0] ?? ''),
      );
      if (!addConst || (ctx.counts.get(addConst.name ?? '') ?? 0) !== 1) {
        // Shared constant: undo is not needed since we only scaled W; rescale back and give up on this one.
        for (let i = 0; i < w.length; i++) w[i] = (w[i] ?? 0) / a;
        writeFloat32(cw.w, w);
        continue;
      }
      writeFloat32(addConst, Float64Array.of(c / a));
      ctx.removed.add(mul);
      add.input = (add.input ?? []).map((i) => (i === addK.data ? mulK.data : i));
      folded += 1;
    }
  }
  return folded;
}

function isScalarConst(ctx: Ctx, name: string | undefined, value: number): boolean {
  const t = name ? ctx.inits.get(name) : undefined;
  const v = t ? readFloats(t) : undefined;
  return v !== undefined && v.length === 1 && Math.abs((v[0] ?? NaN) - value) < 1e-6;
}

function fuseHardSwish(ctx: Ctx): number {
  let fused = 0;
  for (const add of ctx.graph.node ?? []) {
    if (add.opType !== 'Add' || ctx.removed.has(add)) continue;
    const k = scalarOf(ctx, add);
    if (!k || Math.abs(k.value - 3) > 1e-6) continue;
    const x = k.data;
    const sum = add.output?.[0] ?? '';
    if (!singleUse(ctx, sum)) continue;
    const clip = ctx.consumers.get(sum)?.[0];
    if (!clip || clip.opType !== 'Clip' || clip.input?.[0] !== sum) continue;
    if (!isScalarConst(ctx, clip.input?.[1], 0) || !isScalarConst(ctx, clip.input?.[2], 6)) continue;
    const clipped = clip.output?.[0] ?? '';
    if (!singleUse(ctx, clipped)) continue;
    const mul = ctx.consumers.get(clipped)?.[0];
    if (!mul || mul.opType !== 'Mul') continue;
    const ins = mul.input ?? [];
    if (!((ins[0] === x && ins[1] === clipped) || (ins[1] === x && ins[0] === clipped))) continue;
    const prod = mul.output?.[0] ?? '';
    if (!singleUse(ctx, prod)) continue;
    const div = ctx.consumers.get(prod)?.[0];
    if (!div) continue;
    const isDiv6 = div.opType === 'Div' && div.input?.[0] === prod && isScalarConst(ctx, div.input?.[1], 6);
    const isMulSixth =
      div.opType === 'Mul' &&
      ((div.input?.[0] === prod && isScalarConst(ctx, div.input?.[1], 1 / 6)) ||
        (div.input?.[1] === prod && isScalarConst(ctx, div.input?.[0], 1 / 6)));
    if (!isDiv6 && !isMulSixth) continue;
    // Rewrite the Div as HardSwish(x); drop the other three.
    div.opType = 'HardSwish';
    div.input = [x];
    div.attribute = [];
    ctx.removed.add(add);
    ctx.removed.add(clip);
    ctx.removed.add(mul);
    fused++;
  }
  return fused;
}

function opsetOf(model: onnx.IModelProto): number {
  return Math.max(
    0,
    ...(model.opsetImport ?? [])
      .filter((o) => !o.domain || o.domain === 'ai.onnx')
      .map((o) => int64(o.version)),
  );
}

/** Runs the rewrites on a copy; the caller's model is unchanged. */
export function fuseElementwise(source: onnx.IModelProto): {
  model: onnx.ModelProto;
  report: FuseElementwiseReport;
} {
  const model = cloneModel(source);
  const graph = model.graph;
  const nodesBefore = graph?.node?.length ?? 0;
  const report: FuseElementwiseReport = {
    foldedIntoConvOutput: 0,
    foldedIntoConvInput: 0,
    hardSwish: 0,
    nodesBefore,
    nodesAfter: nodesBefore,
  };
  if (!graph) return { model, report };
  const sweep = (ctx: Ctx): void => {
    graph.node = (graph.node ?? []).filter((n) => !ctx.removed.has(n));
  };
  let ctx = build(graph);
  report.foldedIntoConvOutput = foldIntoConvOutput(model, ctx);
  sweep(ctx);
  ctx = build(graph);
  report.foldedIntoConvInput = foldIntoConvInput(ctx);
  sweep(ctx);
  if (opsetOf(model) >= 14) {
    ctx = build(graph);
    report.hardSwish = fuseHardSwish(ctx);
    sweep(ctx);
  }
  // Initializers nobody reads any more (the folded constants).
  const used = new Set<string>();
  for (const n of graph.node ?? []) for (const i of n.input ?? []) if (i) used.add(i);
  const inputs = new Set((graph.input ?? []).map((v) => v.name ?? ''));
  graph.initializer = (graph.initializer ?? []).filter(
    (t) => used.has(t.name ?? '') || inputs.has(t.name ?? ''),
  );
  void rename;
  report.nodesAfter = graph.node?.length ?? 0;
  return { model, report };
}
