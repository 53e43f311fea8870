/**
 * Full-integer TensorFlow Lite export of a static INT8 (QDQ) ONNX model: the file the Edge TPU compiler takes.
 *
 * Every QuantizeLinear/DequantizeLinear pair of the QDQ model becomes a tensor's quantization parameters; each
 * operator between them becomes the TFLite builtin that computes the same thing on int8 data:
 * - layout: 4-D activations go from NCHW to NHWC (TFLite's layout), weights to OHWI (CONV_2D) or 1HWC
 *   (DEPTHWISE_CONV_2D); the model's input and output are NHWC too when they are 4-D;
 * - activations: uint8 (zero point z) is stored as int8 with zero point z − 128, which is the same real value
 *   for every code, so the conversion is exact; weights stay int8 per output channel, biases int32 at
 *   input scale × weight scale;
 * - the float input is quantized by a QUANTIZE op and the outputs dequantized by DEQUANTIZE ops (the Edge TPU
 *   compiler leaves those two on the CPU);
 * - ONNX padding that TFLite's SAME does not reproduce (PyTorch/Paddle pad both sides where TensorFlow pads the
 *   end) becomes an explicit PAD, which pads int8 data with its zero point: real 0, as the convolution expects;
 * - HardSigmoid becomes MUL + ADD with a fused RELU, and a tensor whose Q and DQ scales differ (the quantizer's
 *   HardSwish writes x·relu6(x+3) with a scale 6× the output's) gets a MUL by the ratio: every op is one the
 *   Edge TPU maps;
 * - SOFTMAX and LOGISTIC outputs take TFLite's fixed int8 parameters (scale 1/256, zero point −128).
 * Shapes are fixed at export (the Edge TPU needs sizes constant at compile time): the caller gives the input's;
 * shape arithmetic (Shape → Slice → Concat → Reshape, as paddle2onnx writes it) is evaluated here.
 * Anything else (an op left float, an op with no TFLite equivalent here) is refused with the node named; or, with
 * `split`, left with everything after it to an ONNX tail that onnxruntime runs on the device's CPU (TfliteSplit).
 */
import { AppError } from '../../shared/errors.js';
import { readFloatValues, readInts } from '../compat/graph-index.js';
import { onnx } from '../onnx/schema.js';
import { int64, tensorDims } from '../onnx/tensors.js';
import { attribute } from '../passes/graph.js';
import { tensor, valueInfo } from '../onnx/builder.js';
import { inferElemTypes } from '../quantize/types.js';
import { permuteLayout } from './layout.js';
import {
  Activation,
  Op,
  OP_NAMES,
  Padding,
  TensorType,
  writeTflite,
  type ActivationCode,
  type OperatorSpec,
  type Quantization,
  type TensorSpec,
} from './flatbuffer.js';

const DataType = onnx.TensorProto.DataType;

/**
 * The ONNX op types the export converts to TFLite int8 builtins (with Relu and Clip(0, 6) fused into the op before
 * them): what a full-integer build quantizes, so that its whole graph exports.
 */
export const TFLITE_INT8_OPS: readonly string[] = [
  'Conv',
  'ConvTranspose',
  'MatMul',
  'Gemm',
  'Add',
  'Mul',
  'Concat',
  'AveragePool',
  'GlobalAveragePool',
  'MaxPool',
  'Resize',
  'Reshape',
  'Flatten',
  'Sigmoid',
  'Softmax',
  'HardSwish',
  'HardSigmoid',
  'LeakyRelu',
];

export interface TfliteExportOptions {
  /** Static shape of each model input (NCHW as the ONNX model has it), e.g. from the calibration samples. */
  inputShapes: Record<string, readonly number[]>;
  description?: string;
  /**
   * Export what TFLite takes and leave the rest of the model to an ONNX tail (TfliteExportResult.split) instead
   * of refusing it: the Edge TPU runs the TFLite part, onnxruntime the tail on the device's CPU.
   */
  split?: boolean;
}

export interface TfliteIo {
  name: string;
  /** Shape in the TFLite file (NHWC for 4-D). */
  shape: number[];
  /** The ONNX model's shape (NCHW for 4-D). */
  onnxShape: number[];
  layout: 'NHWC' | 'as-is';
  /** 'frontier': not a model output but a value the ONNX tail reads (see TfliteSplit). */
  role?: 'frontier';
}

export interface TfliteExportResult {
  bytes: Uint8Array;
  inputs: TfliteIo[];
  outputs: TfliteIo[];
  /** TFLite operators by type, e.g. { CONV_2D: 20, ... }. */
  operators: Record<string, number>;
  tensors: number;
  /** Present when the export split the model (TfliteExportOptions.split) and the whole did not export. */
  split?: TfliteSplit;
}

/**
 * The part of a model the TFLite export could not take, as an ONNX model of its own: every node from the first
 * one TFLite does not take here, and each node that depends on one of those. Its inputs are the TFLite model's
 * outputs of role 'frontier' (same names, ONNX layout, float) and any model input it reads directly; its outputs
 * are the model outputs the TFLite part does not compute.
 */
export interface TfliteSplit {
  /** The first node, in graph order, the export could not take, and why. */
  at: { node: string; opType: string; reason: string };
  model: onnx.ModelProto;
  /** Nodes of the tail other than QuantizeLinear/DequantizeLinear. */
  nodes: number;
  inputs: string[];
  outputs: string[];
}

interface QParams {
  scale: number;
  /** int8 zero point. */
  zp: number;
}

/** An int8 activation in the TFLite graph. */
interface Act {
  index: number;
  /** ONNX (NCHW) shape. */
  shape: number[];
  q: QParams;
}

interface QConst {
  /** Integer codes as the ONNX initializer stores them (uint8 shifted to int8 later). */
  values: number[];
  dims: number[];
  scales: number[];
  zeroPoints: number[];
  axis: number;
  type: 'int8' | 'uint8' | 'int32';
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
const toNhwc = (s: readonly number[]): number[] => (s.length === 4 ? [s[0]!, s[2]!, s[3]!, s[1]!] : [...s]);
const NCHW_TO_NHWC_AXIS = [0, 3, 1, 2];

function ints(n: onnx.INodeProto, name: string, dflt: number[]): number[] {
  const a = attribute(n, name);
  return a?.ints && a.ints.length > 0 ? a.ints.map(int64) : dflt;
}
function intAttr(n: onnx.INodeProto, name: string, dflt: number): number {
  const a = attribute(n, name);
  return a?.i !== undefined && a.i !== null ? int64(a.i) : dflt;
}
function floatAttr(n: onnx.INodeProto, name: string, dflt: number): number {
  const a = attribute(n, name);
  return a?.f !== undefined && a.f !== null ? a.f : dflt;
}
function stringAttr(n: onnx.INodeProto, name: string, dflt: string): string {
  const a = attribute(n, name);
  return a?.s && a.s.length > 0 ? new TextDecoder().decode(a.s) : dflt;
}

function bytesOf(arr: Int8Array | Int32Array | Float32Array): Uint8Array {
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

/** TensorFlow's SAME padding along one axis: [before, after]. */
function samePads(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const eff = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + eff - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

function unsupported(node: onnx.INodeProto, why: string): AppError {
  return new AppError('BAD_INPUT', `TFLite export: ${node.opType} node ${node.name ?? ''}: ${why}`, {
    hint: 'The Edge TPU needs a full-integer model: every op quantized and of a type TFLite runs in int8. See the compatibility report for where the graph would split.',
  });
}

/** What splitTail needs from the export's state. */
interface SplitEnv {
  /** The int8 value of an ONNX tensor the TFLite part computes (an activation or an op's output), if any. */
  frontierAct: (name: string) => Act | undefined;
  isModelInput: (name: string) => boolean;
  /** Int values of shape arithmetic the export evaluated. */
  shapeValues: ReadonlyMap<string, number[]>;
  /** Makes `name` a TFLite output the tail reads (ONNX layout, float). */
  frontier: (name: string, act: Act) => void;
}

/** The ONNX tail of a split export (see TfliteSplit): the failed nodes, and the constants they read. */
function splitTail(
  model: onnx.IModelProto,
  failed: ReadonlySet<onnx.INodeProto>,
  at: TfliteSplit['at'],
  env: SplitEnv,
): TfliteSplit {
  const graph = model.graph ?? {};
  const nodes = graph.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) if (o) producer.set(o, i);
  });
  const include = new Set<number>();
  nodes.forEach((n, i) => {
    if (failed.has(n)) include.add(i);
  });
  const graphInits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const elemTypes = inferElemTypes(graph);
  const inits = new Map<string, onnx.ITensorProto>();
  const inputs: onnx.IValueInfoProto[] = [];
  const seen = new Set<string>();
  const need = (name: string, reader: onnx.INodeProto): void => {
    if (!name || seen.has(name)) return;
    seen.add(name);
    const p = producer.get(name);
    if (p !== undefined && include.has(p)) return;
    const act = env.frontierAct(name);
    if (act) {
      env.frontier(name, act);
      inputs.push(valueInfo(name, 'float32', act.shape));
      return;
    }
    if (env.isModelInput(name)) {
      const vi = (graph.input ?? []).find((v) => v.name === name);
      if (vi) inputs.push(vi);
      return;
    }
    const init = graphInits.get(name);
    if (init) {
      inits.set(name, init);
      return;
    }
    const values = env.shapeValues.get(name);
    if (values) {
      const type = elemTypes.get(name) === Number(DataType.INT32) ? 'int32' : 'int64';
      inits.set(name, tensor(name, type, [values.length], values));
      return;
    }
    // Constants, and quantized weights with their Q/DQ: the tail keeps the nodes that make them.
    const maker = p !== undefined ? nodes[p] : undefined;
    if (maker && ['Constant', 'QuantizeLinear', 'DequantizeLinear'].includes(maker.opType ?? '')) {
      include.add(p!);
      for (const i of maker.input ?? []) need(i, maker);
      return;
    }
    throw new AppError(
      'BAD_INPUT',
      `TFLite export: cannot split the model before ${reader.opType} node ${reader.name ?? ''}: its input ${name} is neither computed in TFLite nor a constant`,
      { hint: 'Build the model for the Edge TPU with static int8 quantization.' },
    );
  };
  for (const n of nodes) if (failed.has(n)) for (const i of n.input ?? []) need(i, n);
  const tailNodes = nodes.filter((_, i) => include.has(i));
  const outputs = (graph.output ?? []).filter((o) => include.has(producer.get(o.name ?? '') ?? -1));
  const used = new Set(tailNodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])]));
  // The source's IR version, opsets, metadata and functions; its own graph and description.
  const tail = onnx.ModelProto.create({
    ...model,
    docString: `The part of ${graph.name ?? 'the model'} that runs on the CPU after its TFLite export (split at ${at.node}).`,
    graph: {
      name: `${graph.name ?? 'model'}_tail`,
      node: tailNodes,
      initializer: [...inits.values()],
      input: inputs,
      output: outputs,
      valueInfo: (graph.valueInfo ?? []).filter((v) => used.has(v.name ?? '')),
    },
  });
  return {
    at,
    model: tail,
    nodes: tailNodes.filter((n) => !/^(Quantize|Dequantize)Linear$/.test(n.opType ?? '')).length,
    inputs: inputs.map((v) => v.name ?? ''),
    outputs: outputs.map((o) => o.name ?? ''),
  };
}

export function exportTflite(model: onnx.IModelProto, opts: TfliteExportOptions): TfliteExportResult {
  const graph = model.graph;
  if (!graph) throw new AppError('MODEL_MALFORMED', 'model has no graph', { hint: 'Re-export the model.' });
  const nodes = graph.node ?? [];
  const inits = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const consumers = new Map<string, onnx.INodeProto[]>();
  for (const n of nodes)
    for (const i of n.input ?? []) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  const constNodes = new Map<string, onnx.ITensorProto>();
  for (const n of nodes)
    if (n.opType === 'Constant' && n.output?.[0]) {
      const v = attribute(n, 'value')?.t;
      if (v) constNodes.set(n.output[0], v);
    }
  const initOf = (name: string): onnx.ITensorProto | undefined => inits.get(name) ?? constNodes.get(name);

  const tensors: TensorSpec[] = [];
  const operators: OperatorSpec[] = [];
  const addTensor = (t: TensorSpec): number => tensors.push(t) - 1;
  const addAct = (name: string, shape: number[], q: QParams): Act => ({
    index: addTensor({
      name,
      shape: toNhwc(shape),
      type: TensorType.INT8,
      quantization: { scale: [q.scale], zeroPoint: [q.zp] },
    }),
    shape,
    q,
  });
  const emit = (op: OperatorSpec): void => void operators.push(op);

  /** Activations by the ONNX name of their dequantized value (what float consumers read). */
  const acts = new Map<string, Act>();
  /** Quantized constants (weights, biases, constant operands) by their DequantizeLinear output. */
  const qconsts = new Map<string, QConst>();
  /** Shapes of every float tensor seen (NCHW), for Shape ops. */
  const shapes = new Map<string, number[]>();
  /** Int64 values of shape arithmetic. */
  const shapeValues = new Map<string, number[]>();
  const handled = new Set<onnx.INodeProto>();
  /** Nodes handled, in order (so that a split export can take back what a failed node marked). */
  const handledLog: onnx.INodeProto[] = [];
  const markHandled = (n: onnx.INodeProto): void => {
    if (handled.has(n)) return;
    handled.add(n);
    handledLog.push(n);
  };

  const scalarOf = (name: string | undefined | null): number[] => {
    const t = name ? initOf(name) : undefined;
    if (!t) return [];
    return t.dataType === DataType.FLOAT ? (readFloatValues(t) ?? []) : (readInts(t) ?? []);
  };
  const qparamsOf = (n: onnx.INodeProto): { scale: number[]; zp: number[]; type: number } => {
    const scale = scalarOf(n.input?.[1]);
    if (scale.length === 0 || !scale.every((v) => v > 0 && Number.isFinite(v)))
      throw unsupported(n, 'its scale is missing, not a constant, or not a positive number');
    const zpT = n.input?.[2] ? initOf(n.input[2]) : undefined;
    const zp = zpT ? (readInts(zpT) ?? [0]) : [0];
    const type = zpT?.dataType ?? DataType.UINT8;
    return { scale, zp, type: type ?? DataType.UINT8 };
  };
  const toInt8Zp = (zp: number, type: number): number => (type === Number(DataType.UINT8) ? zp - 128 : zp);

  // Graph inputs: float, quantized by the QuantizeLinear that reads them.
  const inputsOut: TfliteIo[] = [];
  const inputIndex: number[] = [];
  const floatInputs = new Map<string, { index: number; shape: number[] }>();
  for (const inp of graph.input ?? []) {
    const name = inp.name ?? '';
    if (inits.has(name)) continue;
    const shape = opts.inputShapes[name];
    if (!shape)
      throw new AppError('BAD_INPUT', `TFLite export needs a fixed shape for input ${name}`, {
        hint: 'The Edge TPU compiles fixed tensor sizes: build with calibration samples of the size the device will feed.',
      });
    const index = addTensor({ name, shape: toNhwc(shape), type: TensorType.FLOAT32 });
    floatInputs.set(name, { index, shape: [...shape] });
    shapes.set(name, [...shape]);
    inputIndex.push(index);
    inputsOut.push({
      name,
      shape: toNhwc(shape),
      onnxShape: [...shape],
      layout: shape.length === 4 ? 'NHWC' : 'as-is',
    });
  }

  /** The quantized activation an op reads from `name` (a DequantizeLinear output). */
  const actIn = (node: onnx.INodeProto, name: string | undefined | null): Act => {
    const a = name ? acts.get(name) : undefined;
    if (!a)
      throw unsupported(
        node,
        `input ${name ?? '?'} is not a quantized activation (the op would run in float)`,
      );
    return a;
  };

  /**
   * The quantization an op's output takes: from the QuantizeLinear that is the only reader of `out`. Returns the
   * Q node too, whose output the op's TFLite tensor stands for.
   */
  const outputQ = (node: onnx.INodeProto, out: string): { q: QParams; qNode: onnx.INodeProto } => {
    const cs = consumers.get(out) ?? [];
    const qs = cs.filter((c) => c.opType === 'QuantizeLinear');
    if (qs.length === 0 || qs.length !== cs.length || graphOutputs.has(out))
      throw unsupported(node, 'its output is not quantized (no QuantizeLinear is its only reader)');
    const p = qparamsOf(qs[0]!);
    for (const other of qs.slice(1)) {
      const o = qparamsOf(other);
      if (o.scale[0] !== p.scale[0] || o.zp[0] !== p.zp[0])
        throw unsupported(node, 'its output is quantized twice with different parameters');
    }
    return { q: { scale: p.scale[0]!, zp: toInt8Zp(p.zp[0]!, p.type) }, qNode: qs[0]! };
  };

  /** Registers a computed int8 tensor as the value of each QuantizeLinear reading `out`. */
  const produced = (out: string, act: Act): void => {
    shapes.set(out, act.shape);
    computed.set(out, act);
    for (const c of consumers.get(out) ?? [])
      if (c.opType === 'QuantizeLinear' && c.output?.[0]) {
        markHandled(c);
        const p = qparamsOf(c);
        quantizedOut.set(c.output[0], { act, q: { scale: p.scale[0]!, zp: toInt8Zp(p.zp[0]!, p.type) } });
      }
  };
  /**
   * Q outputs → their TFLite tensor, and the Q's own parameters. They differ where TFLite fixes an op's output
   * parameters (SOFTMAX, LOGISTIC): the tensor holds the same real values in other codes.
   */
  const quantizedOut = new Map<string, { act: Act; q: QParams }>();
  /** The int8 tensor each computed ONNX tensor (an op's output, before its QuantizeLinear) became. */
  const computed = new Map<string, Act>();

  /** A constant operand as an int8 tensor (NHWC-broadcastable against a 4-D activation when `nhwcOf` is). */
  const constOperand = (node: onnx.INodeProto, name: string, rankOf: number): number => {
    const qc = qconsts.get(name);
    let values: number[];
    let dims: number[];
    let q: Quantization;
    if (qc) {
      if (qc.scales.length !== 1) throw unsupported(node, `constant ${name} is quantized per channel`);
      values = qc.type === 'uint8' ? qc.values.map((v) => v - 128) : qc.values;
      dims = qc.dims;
      q = {
        scale: qc.scales,
        zeroPoint: [qc.type === 'uint8' ? qc.zeroPoints[0]! - 128 : qc.zeroPoints[0]!],
      };
    } else {
      const t = initOf(name);
      const f = t ? readFloatValues(t) : undefined;
      if (!t || !f)
        throw unsupported(node, `operand ${name} is neither a quantized activation nor a constant`);
      dims = tensorDims(t);
      const lo = Math.min(0, ...f);
      const hi = Math.max(0, ...f);
      const scale = hi > lo ? (hi - lo) / 255 : 1;
      const zp = Math.round(-128 - lo / scale);
      values = f.map((v) => Math.max(-128, Math.min(127, Math.round(v / scale) + zp)));
      q = { scale: [scale], zeroPoint: [zp] };
    }
    // Broadcast against a 4-D NCHW activation: pad to rank 4, then to NHWC.
    let full = [...dims];
    if (rankOf === 4 && full.length < 4 && prod(full) > 1) {
      while (full.length < 4) full.unshift(1);
    }
    let data = Int8Array.from(values);
    if (rankOf === 4 && full.length === 4) {
      data = permuteLayout(data, full, 'NHWC', new Int8Array(data.length));
      full = toNhwc(full);
    }
    return addTensor({ name, shape: full, type: TensorType.INT8, data: bytesOf(data), quantization: q });
  };

  const int32Const = (name: string, values: readonly number[]): number =>
    addTensor({
      name,
      shape: [values.length],
      type: TensorType.INT32,
      data: bytesOf(Int32Array.from(values)),
    });

  /**
   * A quantized weight's codes as int8; TFLite's int8 kernels take symmetric weights (zero point 0) only. With
   * `perChannel`, output channels whose weights cannot move the output get zero codes: a requantization multiplier
   * (input scale × weight scale / output scale) below 2^-32 keeps the channel's whole sum under K·4e-6 of one
   * output step, for K inputs per output, and integer kernels refuse such multipliers (XNNPACK rejects the tensor,
   * and TFLite then drops its delegate and runs every op in its reference kernels, ~100× slower). BatchNorm
   * folding leaves such channels, with weight scales down to 1e-42; as zeros, channelScales gives them a usable
   * scale.
   */
  const weightCodes = (
    node: onnx.INodeProto,
    w: QConst,
    perChannel?: { channels: number; channelOf: (index: number) => number; input: number; output: number },
  ): number[] => {
    const shift = w.type === 'uint8' ? 128 : 0;
    if (w.zeroPoints.some((z) => z !== shift))
      throw unsupported(node, 'its weights are not symmetric (TFLite needs zero point 0)');
    const codes = shift ? w.values.map((v) => v - shift) : w.values;
    if (!perChannel) return codes;
    const { channels, channelOf, input, output } = perChannel;
    const tiny = Array.from(
      { length: channels },
      (_, o) => (input * w.scales[w.scales.length === channels ? o : 0]!) / output < 2 ** -32,
    );
    return tiny.some(Boolean) ? codes.map((v, i) => (tiny[channelOf(i)] ? 0 : v)) : codes;
  };

  /**
   * Per-output-channel weight scales for TFLite. A channel whose weights are all zero carries whatever scale the
   * quantizer gave it (as small as 1e-37), which would make its int32 bias overflow and its requantization
   * multiplier underflow; any scale represents zeros, so it gets the largest of the others.
   */
  const channelScales = (
    scales: readonly number[],
    channels: number,
    zero: (o: number) => boolean,
  ): number[] => {
    const all = scales.length === channels ? [...scales] : new Array<number>(channels).fill(scales[0]!);
    const live = all.filter((_, o) => !zero(o));
    const fallback = live.length > 0 ? Math.max(...live) : 1 / 127;
    return all.map((s, o) => (zero(o) ? fallback : s));
  };

  /** An int32 bias at input scale × weight scale per output channel (what TFLite's int8 kernels require). */
  const biasTensor = (
    node: onnx.INodeProto,
    bName: string | undefined | null,
    channels: number,
    weightScales: number[],
    inputScale: number,
    name: string,
    filter?: { codes: Int8Array; channelOf: (index: number) => number },
  ): number => {
    const real = new Float64Array(channels);
    if (bName) {
      const bq = qconsts.get(bName);
      if (bq)
        bq.values.forEach(
          (v, i) => (real[i] = (v - (bq.zeroPoints[0] ?? 0)) * (bq.scales[i] ?? bq.scales[0]!)),
        );
      else {
        const f = initOf(bName) ? readFloatValues(initOf(bName)!) : undefined;
        if (!f || f.length !== channels) throw unsupported(node, `cannot read bias ${bName}`);
        f.forEach((v, i) => (real[i] = v));
      }
    }
    // A channel whose bias is too large for int32 at its scale (tiny weights, large bias) takes a coarser weight
    // scale, its codes re-rounded: in place, in the filter already added (serialized at the end).
    const limit = 2 ** 30;
    if (filter)
      for (let o = 0; o < channels; o++) {
        const need = Math.abs(real[o]!) / (inputScale * limit);
        if (need <= weightScales[o]!) continue;
        const ratio = weightScales[o]! / need;
        filter.codes.forEach((v, i) => {
          if (filter.channelOf(i) === o) filter.codes[i] = Math.round(v * ratio);
        });
        weightScales[o] = need;
      }
    const scales = weightScales.map((s) => s * inputScale);
    return addTensor({
      name: bName || `${name}/bias`,
      shape: [channels],
      type: TensorType.INT32,
      data: bytesOf(Int32Array.from(real, (v, i) => Math.round(v / scales[i]!))),
      quantization: { scale: scales, zeroPoint: new Array<number>(channels).fill(0), dimension: 0 },
    });
  };

  /** A 4-D int8 activation transposed from TFLite's NHWC back to the ONNX (NCHW) order. */
  const toNchw = (x: Act, name: string): Act => {
    const index = addTensor({
      name: `${name}/nchw`,
      shape: [...x.shape],
      type: TensorType.INT8,
      quantization: { scale: [x.q.scale], zeroPoint: [x.q.zp] },
    });
    emit({
      op: Op.TRANSPOSE,
      inputs: [x.index, int32Const(`${name}/perm`, [0, 3, 1, 2])],
      outputs: [index],
      options: { kind: 'transpose' },
    });
    return { index, shape: x.shape, q: x.q };
  };

  /** A scalar int8 constant with the given real value (one code, exact up to its scale). */
  const scalarConst = (name: string, value: number): number => {
    const scale = Math.abs(value) > 0 ? Math.abs(value) / 127 : 1;
    return addTensor({
      name,
      shape: [1],
      type: TensorType.INT8,
      data: bytesOf(Int8Array.of(value >= 0 ? 127 : -127)),
      quantization: { scale: [scale], zeroPoint: [0] },
    });
  };

  /** Explicit padding for a 4-D NHWC activation (PAD pads int8 data with its zero point, i.e. real 0). */
  const padAct = (x: Act, pads: number[], name: string): Act => {
    const [t, l, b, r] = pads as [number, number, number, number];
    const shape = [x.shape[0]!, x.shape[1]!, x.shape[2]! + t + b, x.shape[3]! + l + r];
    const out = addAct(`${name}/pad`, shape, x.q);
    const padding = int32Const(`${name}/paddings`, [0, 0, t, b, l, r, 0, 0]);
    tensors[padding]!.shape = [4, 2];
    emit({ op: Op.PAD, inputs: [x.index, padding], outputs: [out.index], options: { kind: 'pad' } });
    return out;
  };

  /** Padding for a spatial op: SAME or VALID, with an explicit PAD first when neither matches ONNX's. */
  const spatialPadding = (
    node: onnx.INodeProto,
    x: Act,
    kernel: number[],
    strides: number[],
    dilations: number[],
  ): { x: Act; padding: number; pads: number[] } => {
    const autoPad = stringAttr(node, 'auto_pad', 'NOTSET');
    const [H, W] = [x.shape[2]!, x.shape[3]!];
    let pads = ints(node, 'pads', [0, 0, 0, 0]);
    const sh = samePads(H, kernel[0]!, strides[0]!, dilations[0]!);
    const sw = samePads(W, kernel[1]!, strides[1]!, dilations[1]!);
    if (autoPad === 'SAME_UPPER') pads = [sh[0], sw[0], sh[1], sw[1]];
    else if (autoPad === 'SAME_LOWER') pads = [sh[1], sw[1], sh[0], sw[0]];
    else if (autoPad === 'VALID') pads = [0, 0, 0, 0];
    if (pads.every((p) => p === 0)) return { x, padding: Padding.VALID, pads };
    if (pads[0] === sh[0] && pads[2] === sh[1] && pads[1] === sw[0] && pads[3] === sw[1])
      return { x, padding: Padding.SAME, pads };
    return { x: padAct(x, pads, node.name ?? node.opType ?? 'pad'), padding: Padding.VALID, pads };
  };

  /** A Relu or Clip(0, 6) that is the only reader of `out`: fused into the op. */
  const fusedActivation = (
    out: string,
  ): { activation: ActivationCode; out: string; node?: onnx.INodeProto } => {
    const cs = consumers.get(out) ?? [];
    const only = cs.length === 1 ? cs[0]! : undefined;
    if (only?.opType === 'Relu' && only.output?.[0])
      return { activation: Activation.RELU, out: only.output[0], node: only };
    if (only?.opType === 'Clip' && only.output?.[0]) {
      const lo = scalarOf(only.input?.[1])[0] ?? floatAttr(only, 'min', -Infinity);
      const hi = scalarOf(only.input?.[2])[0] ?? floatAttr(only, 'max', Infinity);
      if (lo === 0 && hi === 6) return { activation: Activation.RELU6, out: only.output[0], node: only };
      if (lo === 0 && hi === Infinity)
        return { activation: Activation.RELU, out: only.output[0], node: only };
    }
    return { activation: Activation.NONE, out };
  };

  const convSize = (size: number, k: number, s: number, d: number, before: number, after: number): number =>
    Math.floor((size + before + after - (d * (k - 1) + 1)) / s) + 1;

  /** Evaluates int64 shape arithmetic (Shape, Cast, Slice, Gather, Concat, Unsqueeze, Squeeze, constants). */
  const shapeValue = (node: onnx.INodeProto, name: string): number[] => {
    const known = shapeValues.get(name);
    if (known) return known;
    const t = initOf(name);
    if (t) {
      const v = readInts(t) ?? readFloatValues(t);
      if (v) return v;
    }
    throw unsupported(node, `shape input ${name} is not computable at export time`);
  };

  const evalShapeOp = (n: onnx.INodeProto): boolean => {
    const out = n.output?.[0];
    if (!out) return false;
    const op = n.opType ?? '';
    const inName = n.input?.[0] ?? '';
    switch (op) {
      case 'Shape': {
        const s = shapes.get(inName);
        if (!s) return false;
        shapeValues.set(out, s);
        return true;
      }
      case 'Cast':
      case 'Unsqueeze':
      case 'Squeeze':
      case 'Identity': {
        if (!shapeValues.has(inName) && !initOf(inName)) return false;
        shapeValues.set(out, shapeValue(n, inName));
        return true;
      }
      case 'Slice': {
        if (!shapeValues.has(inName) && !initOf(inName)) return false;
        const v = shapeValue(n, inName);
        const starts = shapeValue(n, n.input?.[1] ?? '');
        const ends = shapeValue(n, n.input?.[2] ?? '');
        const steps = n.input?.[4] ? shapeValue(n, n.input[4]) : [1];
        const clamp = (i: number): number => (i < 0 ? Math.max(0, v.length + i) : Math.min(v.length, i));
        const res: number[] = [];
        for (let i = clamp(starts[0]!); i < clamp(ends[0]!); i += steps[0]!) res.push(v[i]!);
        shapeValues.set(out, res);
        return true;
      }
      case 'Gather': {
        if (!shapeValues.has(inName) && !initOf(inName)) return false;
        const v = shapeValue(n, inName);
        const idx = shapeValue(n, n.input?.[1] ?? '');
        shapeValues.set(
          out,
          idx.map((i) => v[i < 0 ? v.length + i : i]!),
        );
        return true;
      }
      case 'Concat': {
        const ins = (n.input ?? []).filter(Boolean);
        if (!ins.every((i) => shapeValues.has(i) || (initOf(i) && !acts.has(i)))) return false;
        if (ins.some((i) => acts.has(i))) return false;
        shapeValues.set(
          out,
          ins.flatMap((i) => shapeValue(n, i)),
        );
        return true;
      }
      default:
        return false;
    }
  };

  const outputsOut: TfliteIo[] = [];
  const outputIndex: number[] = [];
  const dequantizeOutput = (a: Act, name: string): void => {
    const index = addTensor({ name, shape: toNhwc(a.shape), type: TensorType.FLOAT32 });
    emit({ op: Op.DEQUANTIZE, inputs: [a.index], outputs: [index] });
    outputIndex.push(index);
    outputsOut.push({
      name,
      shape: toNhwc(a.shape),
      onnxShape: a.shape,
      layout: a.shape.length === 4 ? 'NHWC' : 'as-is',
    });
  };

  /** Converts one node (or records it as handled); throws `unsupported` for what TFLite does not take here. */
  const exportNode = (node: onnx.INodeProto): void => {
    const op = node.opType ?? '';
    const out = node.output?.[0] ?? '';
    const name = node.name || out;
    if (op === 'Constant') return;
    if (evalShapeOp(node)) return;
    if (op === 'QuantizeLinear') {
      const x = node.input?.[0] ?? '';
      const fi = floatInputs.get(x);
      if (!fi) {
        if (initOf(x)) return; // a quantized constant (weights are stored quantized already)
        throw unsupported(node, `quantizes ${x}, which no quantized op computes (a float op runs before it)`);
      }
      const p = qparamsOf(node);
      const a = addAct(out, fi.shape, { scale: p.scale[0]!, zp: toInt8Zp(p.zp[0]!, p.type) });
      emit({ op: Op.QUANTIZE, inputs: [fi.index], outputs: [a.index] });
      quantizedOut.set(out, { act: a, q: a.q });
      return;
    }
    if (op === 'DequantizeLinear') {
      const x = node.input?.[0] ?? '';
      const p = qparamsOf(node);
      const t = initOf(x);
      if (t) {
        const values = readInts(t);
        if (!values) throw unsupported(node, `cannot read constant ${x}`);
        qconsts.set(out, {
          values,
          dims: tensorDims(t),
          scales: p.scale,
          zeroPoints: p.zp.length > 0 ? p.zp : [0],
          axis: intAttr(node, 'axis', 1),
          type: t.dataType === DataType.UINT8 ? 'uint8' : t.dataType === DataType.INT32 ? 'int32' : 'int8',
        });
        return;
      }
      const entry = quantizedOut.get(x);
      if (!entry) throw unsupported(node, `dequantizes ${x}, which is not a quantized tensor of this graph`);
      let a = entry.act;
      const dq: QParams = { scale: p.scale[0]!, zp: toInt8Zp(p.zp[0]!, p.type) };
      if (dq.zp !== entry.q.zp)
        throw unsupported(node, 'its zero point differs from the QuantizeLinear before it');
      if (Math.abs(dq.scale - entry.q.scale) > 1e-6 * entry.q.scale) {
        // The Q's codes read at another scale: real value × (dq / q). A MUL by that ratio, into the DQ's parameters.
        const r = addAct(`${name}/rescaled`, a.shape, dq);
        emit({
          op: Op.MUL,
          inputs: [a.index, scalarConst(`${name}/ratio`, dq.scale / entry.q.scale)],
          outputs: [r.index],
          options: { kind: 'mul', activation: Activation.NONE },
        });
        a = r;
      }
      acts.set(out, a);
      shapes.set(out, a.shape);
      if (graphOutputs.has(out)) dequantizeOutput(a, out);
      return;
    }

    switch (op) {
      case 'Conv': {
        const x = actIn(node, node.input?.[0]);
        const w = qconsts.get(node.input?.[1] ?? '');
        if (!w || w.type === 'int32') throw unsupported(node, 'its weights are not quantized');
        if (x.shape.length !== 4) throw unsupported(node, 'only 2-D convolutions are exported');
        const [O, Ig, kh, kw] = w.dims as [number, number, number, number];
        const group = intAttr(node, 'group', 1);
        const strides = ints(node, 'strides', [1, 1]);
        const dil = ints(node, 'dilations', [1, 1]);
        const depthwise = group > 1 && group === x.shape[1] && Ig === 1;
        if (group > 1 && !depthwise)
          throw unsupported(node, `grouped convolution (group ${group}) has no TFLite op`);
        const sp = spatialPadding(node, x, [kh, kw], strides, dil);
        const fused = fusedActivation(out);
        if (fused.node) markHandled(fused.node);
        const { q } = outputQ(fused.node ?? node, fused.out);
        const inH = sp.x.shape[2]!;
        const inW = sp.x.shape[3]!;
        const outShape = [
          x.shape[0]!,
          O,
          sp.padding === Padding.SAME
            ? Math.ceil(inH / strides[0]!)
            : convSize(inH, kh, strides[0]!, dil[0]!, 0, 0),
          sp.padding === Padding.SAME
            ? Math.ceil(inW / strides[1]!)
            : convSize(inW, kw, strides[1]!, dil[1]!, 0, 0),
        ];
        const wq = weightCodes(node, w, {
          channels: O,
          channelOf: (i) => Math.floor(i / (Ig * kh * kw)),
          input: x.q.scale,
          output: q.scale,
        });
        const filter = new Int8Array(wq.length);
        // OIHW → OHWI (CONV_2D) or 1HWO (DEPTHWISE_CONV_2D).
        for (let o = 0; o < O; o++)
          for (let i = 0; i < Ig; i++)
            for (let y = 0; y < kh; y++)
              for (let xx = 0; xx < kw; xx++) {
                const src = ((o * Ig + i) * kh + y) * kw + xx;
                const dst = depthwise ? (y * kw + xx) * O + o : ((o * kh + y) * kw + xx) * Ig + i;
                filter[dst] = wq[src]!;
              }
        const per = Ig * kh * kw;
        const scales = channelScales(w.scales, O, (o) =>
          wq.slice(o * per, (o + 1) * per).every((v) => v === 0),
        );
        const filterIdx = addTensor({
          name: node.input?.[1] ?? `${name}/filter`,
          shape: depthwise ? [1, kh, kw, O] : [O, kh, kw, Ig],
          type: TensorType.INT8,
          data: bytesOf(filter),
          quantization: {
            scale: scales,
            zeroPoint: new Array<number>(O).fill(0),
            dimension: depthwise ? 3 : 0,
          },
        });
        const biasIdx = biasTensor(node, node.input?.[2], O, scales, x.q.scale, name, {
          codes: filter,
          channelOf: depthwise ? (i) => i % O : (i) => Math.floor(i / (kh * kw * Ig)),
        });
        const y = addAct(fused.out, outShape, q);
        const common = {
          padding: sp.padding,
          strideH: strides[0]!,
          strideW: strides[1]!,
          activation: fused.activation,
          dilationH: dil[0]!,
          dilationW: dil[1]!,
        };
        emit({
          op: depthwise ? Op.DEPTHWISE_CONV_2D : Op.CONV_2D,
          inputs: [sp.x.index, filterIdx, biasIdx],
          outputs: [y.index],
          options: depthwise
            ? { kind: 'depthwise', depthMultiplier: O / group, ...common }
            : { kind: 'conv2d', ...common },
        });
        produced(fused.out, y);
        break;
      }
      case 'ConvTranspose': {
        const x = actIn(node, node.input?.[0]);
        const w = qconsts.get(node.input?.[1] ?? '');
        if (!w || w.type === 'int32' || w.dims.length !== 4)
          throw unsupported(node, 'its weights are not quantized');
        if (intAttr(node, 'group', 1) !== 1) throw unsupported(node, 'grouped transposed convolution');
        const [I, O, kh, kw] = w.dims as [number, number, number, number];
        const strides = ints(node, 'strides', [1, 1]);
        if (ints(node, 'dilations', [1, 1]).some((d) => d !== 1))
          throw unsupported(node, 'dilated transposed convolution');
        if (
          ints(node, 'pads', [0, 0, 0, 0]).some((p) => p !== 0) ||
          ints(node, 'output_padding', [0, 0]).some((p) => p !== 0) ||
          attribute(node, 'output_shape') ||
          stringAttr(node, 'auto_pad', 'NOTSET') !== 'NOTSET'
        )
          throw unsupported(node, 'padded transposed convolution (only unpadded ones are exported)');
        const fused = fusedActivation(out);
        if (fused.node) markHandled(fused.node);
        const { q } = outputQ(fused.node ?? node, fused.out);
        const wq = weightCodes(node, w, {
          channels: O,
          channelOf: (i) => Math.floor(i / (kh * kw)) % O,
          input: x.q.scale,
          output: q.scale,
        });
        // [I, O, kh, kw] → OHWI.
        const filter = new Int8Array(wq.length);
        for (let i = 0; i < I; i++)
          for (let o = 0; o < O; o++)
            for (let y = 0; y < kh; y++)
              for (let xx = 0; xx < kw; xx++)
                filter[((o * kh + y) * kw + xx) * I + i] = wq[((i * O + o) * kh + y) * kw + xx]!;
        const scales = channelScales(w.scales, O, (o) => {
          for (let i = 0; i < I; i++)
            for (let k = 0; k < kh * kw; k++) if (wq[(i * O + o) * kh * kw + k] !== 0) return false;
          return true;
        });
        const filterIdx = addTensor({
          name: node.input?.[1] ?? `${name}/filter`,
          shape: [O, kh, kw, I],
          type: TensorType.INT8,
          data: bytesOf(filter),
          quantization: { scale: scales, zeroPoint: new Array<number>(O).fill(0), dimension: 0 },
        });
        const biasIdx = biasTensor(node, node.input?.[2], O, scales, x.q.scale, name, {
          codes: filter,
          channelOf: (i) => Math.floor(i / (kh * kw * I)),
        });
        const outShape = [
          x.shape[0]!,
          O,
          (x.shape[2]! - 1) * strides[0]! + kh,
          (x.shape[3]! - 1) * strides[1]! + kw,
        ];
        // A Relu folded into the output range is exact when that range starts at 0: int8 saturation clamps.
        const clampsItself = fused.activation === Activation.RELU && q.zp === -128;
        if (fused.activation !== Activation.NONE && !clampsItself)
          throw unsupported(
            node,
            'an activation after a transposed convolution whose range does not start at 0',
          );
        const y = addAct(fused.out, outShape, q);
        emit({
          op: Op.TRANSPOSE_CONV,
          inputs: [int32Const(`${name}/output_shape`, toNhwc(outShape)), filterIdx, x.index, biasIdx],
          outputs: [y.index],
          options: {
            kind: 'transposeConv',
            padding: Padding.VALID,
            strideH: strides[0]!,
            strideW: strides[1]!,
          },
        });
        produced(fused.out, y);
        break;
      }
      case 'Add':
      case 'Mul':
      case 'Sub': {
        const [aName, bName] = [node.input?.[0] ?? '', node.input?.[1] ?? ''];
        const aAct = acts.get(aName);
        const bAct = acts.get(bName);
        if (!aAct && !bAct) throw unsupported(node, 'neither operand is a quantized activation');
        const ref = (aAct ?? bAct)!;
        if (aAct && bAct && aAct.shape.length !== bAct.shape.length)
          throw unsupported(node, 'operands of different ranks');
        const ia = aAct ? aAct.index : constOperand(node, aName, ref.shape.length);
        const ib = bAct ? bAct.index : constOperand(node, bName, ref.shape.length);
        const fused = fusedActivation(out);
        if (fused.node) markHandled(fused.node);
        const { q } = outputQ(fused.node ?? node, fused.out);
        const shape = aAct && bAct ? aAct.shape.map((d, i) => Math.max(d, bAct.shape[i]!)) : [...ref.shape];
        const y = addAct(fused.out, shape, q);
        const kind = op === 'Add' ? 'add' : op === 'Mul' ? 'mul' : 'sub';
        emit({
          op: op === 'Add' ? Op.ADD : op === 'Mul' ? Op.MUL : Op.SUB,
          inputs: [ia, ib],
          outputs: [y.index],
          options: { kind, activation: fused.activation },
        });
        produced(fused.out, y);
        break;
      }
      case 'HardSigmoid': {
        // clip(alpha·x + beta, 0, 1): MUL, then ADD with a fused RELU; the output's range (within [0, 1]) clips
        // the top, as the QuantizeLinear after HardSigmoid does in the ONNX model.
        const x = actIn(node, node.input?.[0]);
        const alpha = floatAttr(node, 'alpha', 0.2);
        const beta = floatAttr(node, 'beta', 0.5);
        const { q } = outputQ(node, out);
        const lo = (-128 - x.q.zp) * x.q.scale * alpha;
        const hi = (127 - x.q.zp) * x.q.scale * alpha;
        const tScale = (Math.max(hi, lo, 0) - Math.min(hi, lo, 0)) / 255 || 1;
        const t = addAct(`${name}/scaled`, x.shape, {
          scale: tScale,
          zp: Math.round(-128 - Math.min(hi, lo, 0) / tScale),
        });
        emit({
          op: Op.MUL,
          inputs: [x.index, scalarConst(`${name}/alpha`, alpha)],
          outputs: [t.index],
          options: { kind: 'mul', activation: Activation.NONE },
        });
        const y = addAct(out, x.shape, q);
        emit({
          op: Op.ADD,
          inputs: [t.index, scalarConst(`${name}/beta`, beta)],
          outputs: [y.index],
          options: { kind: 'add', activation: Activation.RELU },
        });
        produced(out, y);
        break;
      }
      case 'HardSwish': {
        // x · relu6(x + 3) / 6 as ADD (fused RELU6) → MUL by 1/6 → MUL by x: ops the Edge TPU maps (it has no
        // HARD_SWISH).
        const x = actIn(node, node.input?.[0]);
        const { q } = outputQ(node, out);
        const t1 = addAct(`${name}/relu6`, x.shape, { scale: 6 / 255, zp: -128 });
        emit({
          op: Op.ADD,
          inputs: [x.index, scalarConst(`${name}/three`, 3)],
          outputs: [t1.index],
          options: { kind: 'add', activation: Activation.RELU6 },
        });
        const t2 = addAct(`${name}/gate`, x.shape, { scale: 1 / 255, zp: -128 });
        emit({
          op: Op.MUL,
          inputs: [t1.index, scalarConst(`${name}/sixth`, 1 / 6)],
          outputs: [t2.index],
          options: { kind: 'mul', activation: Activation.NONE },
        });
        const y = addAct(out, x.shape, q);
        emit({
          op: Op.MUL,
          inputs: [x.index, t2.index],
          outputs: [y.index],
          options: { kind: 'mul', activation: Activation.NONE },
        });
        produced(out, y);
        break;
      }
      case 'Relu':
      case 'Sigmoid':
      case 'Softmax':
      case 'LeakyRelu': {
        const x = actIn(node, node.input?.[0]);
        const last = graphOutputs.has(out);
        let q: QParams;
        if (op === 'Softmax' || op === 'Sigmoid') {
          // TFLite's int8 SOFTMAX and LOGISTIC produce fixed parameters: [0, 1) in steps of 1/256.
          q = { scale: 1 / 256, zp: -128 };
          if (op === 'Softmax') {
            const axis = intAttr(node, 'axis', -1);
            if (axis !== -1 && axis !== x.shape.length - 1)
              throw unsupported(node, `softmax over axis ${axis} (TFLite's runs over the last)`);
          }
          if (!last) outputQ(node, out);
        } else q = last ? x.q : outputQ(node, out).q;
        const y = addAct(out, x.shape, q);
        emit({
          op:
            op === 'Relu'
              ? Op.RELU
              : op === 'Sigmoid'
                ? Op.LOGISTIC
                : op === 'Softmax'
                  ? Op.SOFTMAX
                  : Op.LEAKY_RELU,
          inputs: [x.index],
          outputs: [y.index],
          ...(op === 'Softmax'
            ? { options: { kind: 'softmax', beta: 1 } }
            : op === 'LeakyRelu'
              ? { options: { kind: 'leakyRelu', alpha: floatAttr(node, 'alpha', 0.01) } }
              : {}),
        });
        if (last) {
          shapes.set(out, y.shape);
          dequantizeOutput(y, out);
        } else produced(out, y);
        break;
      }
      case 'GlobalAveragePool': {
        const x = actIn(node, node.input?.[0]);
        const { q } = outputQ(node, out);
        const y = addAct(out, [x.shape[0]!, x.shape[1]!, 1, 1], q);
        emit({
          op: Op.MEAN,
          inputs: [x.index, int32Const(`${name}/axes`, [1, 2])],
          outputs: [y.index],
          options: { kind: 'reducer', keepDims: true },
        });
        produced(out, y);
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        const x = actIn(node, node.input?.[0]);
        const k = ints(node, 'kernel_shape', [1, 1]);
        const s = ints(node, 'strides', [1, 1]);
        if (ints(node, 'dilations', [1, 1]).some((d) => d !== 1)) throw unsupported(node, 'dilated pooling');
        if (intAttr(node, 'ceil_mode', 0) !== 0) throw unsupported(node, 'ceil_mode pooling');
        const sp = spatialPadding(node, x, k, s, [1, 1]);
        if (sp.x !== x) {
          // Explicit padding pads with real 0: right for MaxPool only over non-negative data, never for AveragePool
          // (which excludes padding from the mean unless count_include_pad).
          const nonNegative = x.q.zp === -128;
          if (op === 'AveragePool' || !nonNegative)
            throw unsupported(
              node,
              'its padding differs from TFLite SAME and cannot be made explicit exactly',
            );
        }
        const { q } = outputQ(node, out);
        const H = sp.x.shape[2]!;
        const W = sp.x.shape[3]!;
        const outShape = [
          x.shape[0]!,
          x.shape[1]!,
          sp.padding === Padding.SAME ? Math.ceil(H / s[0]!) : Math.floor((H - k[0]!) / s[0]!) + 1,
          sp.padding === Padding.SAME ? Math.ceil(W / s[1]!) : Math.floor((W - k[1]!) / s[1]!) + 1,
        ];
        const y = addAct(out, outShape, q);
        emit({
          op: op === 'MaxPool' ? Op.MAX_POOL_2D : Op.AVERAGE_POOL_2D,
          inputs: [sp.x.index],
          outputs: [y.index],
          options: {
            kind: 'pool',
            padding: sp.padding,
            strideH: s[0]!,
            strideW: s[1]!,
            filterH: k[0]!,
            filterW: k[1]!,
          },
        });
        produced(out, y);
        break;
      }
      case 'Reshape':
      case 'Flatten': {
        let x = actIn(node, node.input?.[0]);
        let target: number[];
        if (op === 'Flatten') {
          const axis = intAttr(node, 'axis', 1);
          target = [prod(x.shape.slice(0, axis)), prod(x.shape.slice(axis))];
        } else {
          target = shapeValue(node, node.input?.[1] ?? '');
          const known = target.map((d, i) => (d === 0 ? x.shape[i]! : d));
          const rest = prod(x.shape) / prod(known.filter((d) => d !== -1));
          target = known.map((d) => (d === -1 ? rest : d));
        }
        const { q } = outputQ(node, out);
        // NHWC data reads in NCHW order only when H = W = 1 (or C = 1); otherwise transpose back first.
        if (x.shape.length === 4 && x.shape[2]! * x.shape[3]! > 1 && x.shape[1]! > 1) {
          x = toNchw(x, name);
        }
        if (target.length === 4 && target[2]! * target[3]! > 1 && target[1]! > 1)
          throw unsupported(node, 'reshape into a 4-D tensor with spatial extent');
        const y = addAct(out, target, q);
        emit({
          op: Op.RESHAPE,
          inputs: [x.index, int32Const(`${name}/shape`, toNhwc(target))],
          outputs: [y.index],
          options: { kind: 'reshape', newShape: toNhwc(target) },
        });
        produced(out, y);
        break;
      }
      case 'MatMul':
      case 'Gemm': {
        const x = actIn(node, node.input?.[0]);
        const w = qconsts.get(node.input?.[1] ?? '');
        if (!w || w.dims.length !== 2)
          throw unsupported(node, 'its weights are not a quantized constant matrix');
        if (x.shape.length !== 2) throw unsupported(node, 'only [batch, features] inputs are exported');
        const transB = op === 'Gemm' && intAttr(node, 'transB', 0) === 1;
        if (op === 'Gemm' && (intAttr(node, 'transA', 0) !== 0 || floatAttr(node, 'alpha', 1) !== 1))
          throw unsupported(node, 'Gemm with transA or alpha ≠ 1');
        const [K, M] = transB ? [w.dims[1]!, w.dims[0]!] : [w.dims[0]!, w.dims[1]!];
        // FULLY_CONNECTED weights are [out, in]; one scale for the tensor (what every int8 kernel accepts):
        // per-column codes are re-rounded to the largest column scale.
        const wq = weightCodes(node, w);
        const colScale = (m: number): number => w.scales[w.scales.length === 1 ? 0 : m]!;
        const s = Math.max(...w.scales);
        const filter = new Int8Array(K * M);
        for (let m = 0; m < M; m++)
          for (let k = 0; k < K; k++) {
            const v = wq[transB ? m * K + k : k * M + m]!;
            filter[m * K + k] = Math.max(-127, Math.min(127, Math.round((v * colScale(m)) / s)));
          }
        const filterIdx = addTensor({
          name: node.input?.[1] ?? `${name}/weights`,
          shape: [M, K],
          type: TensorType.INT8,
          data: bytesOf(filter),
          quantization: { scale: [s], zeroPoint: [0] },
        });
        const inputs = [x.index, filterIdx];
        // The bias is always given (zeros without one): some readers refuse an omitted optional input (-1).
        const bName = op === 'Gemm' ? node.input?.[2] : undefined;
        let bias: number[] = new Array<number>(M).fill(0);
        if (bName) {
          const bq = qconsts.get(bName);
          const f = bq
            ? bq.values.map((v, i) => (v - (bq.zeroPoints[0] ?? 0)) * (bq.scales[i] ?? bq.scales[0]!))
            : readFloatValues(initOf(bName)!);
          if (!f || f.length !== M) throw unsupported(node, `bias ${bName} is not one value per output`);
          bias = f;
        }
        inputs.push(
          addTensor({
            name: bName || `${name}/bias`,
            shape: [M],
            type: TensorType.INT32,
            data: bytesOf(Int32Array.from(bias, (v) => Math.round(v / (s * x.q.scale)))),
            quantization: { scale: [s * x.q.scale], zeroPoint: [0] },
          }),
        );
        const fused = fusedActivation(out);
        if (fused.node) markHandled(fused.node);
        const { q } = outputQ(fused.node ?? node, fused.out);
        const y = addAct(fused.out, [x.shape[0]!, M], q);
        emit({
          op: Op.FULLY_CONNECTED,
          inputs,
          outputs: [y.index],
          options: { kind: 'fullyConnected', activation: fused.activation },
        });
        produced(fused.out, y);
        break;
      }
      case 'Concat': {
        const ins = (node.input ?? []).filter(Boolean).map((i) => actIn(node, i));
        const rank = ins[0]!.shape.length;
        let axis = intAttr(node, 'axis', 1);
        if (axis < 0) axis += rank;
        const { q } = outputQ(node, out);
        const shape = [...ins[0]!.shape];
        shape[axis] = ins.reduce((a, x) => a + x.shape[axis]!, 0);
        const y = addAct(out, shape, q);
        // TFLite's int8 CONCATENATION copies codes: every input must already have the output's parameters. Those
        // that do not are requantized first (QUANTIZE int8 → int8).
        const same = ins.map((x, i) => {
          if (x.q.scale === q.scale && x.q.zp === q.zp) return x;
          const r = addAct(`${name}/requantized_${i}`, x.shape, q);
          emit({ op: Op.QUANTIZE, inputs: [x.index], outputs: [r.index] });
          return r;
        });
        emit({
          op: Op.CONCATENATION,
          inputs: same.map((x) => x.index),
          outputs: [y.index],
          options: { kind: 'concat', axis: rank === 4 ? NCHW_TO_NHWC_AXIS[axis]! : axis },
        });
        produced(out, y);
        break;
      }
      case 'Resize': {
        const x = actIn(node, node.input?.[0]);
        if (x.shape.length !== 4) throw unsupported(node, 'only 4-D resize');
        const mode = stringAttr(node, 'mode', 'nearest');
        const ct = stringAttr(node, 'coordinate_transformation_mode', 'half_pixel');
        const sizes = node.input?.[3] ? shapeValue(node, node.input[3]) : [];
        const scales = node.input?.[2] ? shapeValue(node, node.input[2]) : [];
        const [H, W] =
          sizes.length === 4
            ? [sizes[2]!, sizes[3]!]
            : [Math.floor(x.shape[2]! * (scales[2] ?? 1)), Math.floor(x.shape[3]! * (scales[3] ?? 1))];
        const bilinear = mode === 'linear';
        if (mode !== 'nearest' && !bilinear) throw unsupported(node, `resize mode ${mode}`);
        const alignCorners = ct === 'align_corners';
        const halfPixelCenters = ct === 'half_pixel' || ct === 'pytorch_half_pixel';
        if (!bilinear && ct !== 'asymmetric')
          throw unsupported(node, `nearest resize with coordinates ${ct} (TFLite's is asymmetric)`);
        if (!bilinear && stringAttr(node, 'nearest_mode', 'round_prefer_floor') !== 'floor')
          throw unsupported(node, 'nearest resize that does not round down');
        const { q } = outputQ(node, out);
        const y = addAct(out, [x.shape[0]!, x.shape[1]!, H, W], q);
        emit({
          op: bilinear ? Op.RESIZE_BILINEAR : Op.RESIZE_NEAREST_NEIGHBOR,
          inputs: [x.index, int32Const(`${name}/size`, [H, W])],
          outputs: [y.index],
          options: { kind: 'resize', alignCorners, halfPixelCenters: bilinear && halfPixelCenters, bilinear },
        });
        produced(out, y);
        break;
      }
      default:
        throw unsupported(node, `no TFLite int8 equivalent is exported for ${op}`);
    }
  };

  // Nodes in graph order. With `split`, a node the export cannot take (and everything that depends on it) is left
  // to the ONNX tail: what it had added to the TFLite graph is rolled back.
  const failed = new Set<onnx.INodeProto>();
  let splitAt: TfliteSplit['at'] | undefined;
  for (const node of nodes) {
    if (handled.has(node)) continue;
    if (!opts.split) {
      exportNode(node);
      continue;
    }
    const mark = { tensors: tensors.length, operators: operators.length, handled: handledLog.length };
    try {
      exportNode(node);
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== 'BAD_INPUT') throw err;
      tensors.length = mark.tensors;
      operators.length = mark.operators;
      while (handledLog.length > mark.handled) handled.delete(handledLog.pop()!);
      failed.add(node);
      splitAt ??= {
        node: node.name || (node.output?.[0] ?? ''),
        opType: node.opType ?? '',
        reason: err.message,
      };
    }
  }
  let split: TfliteSplit | undefined;
  if (splitAt) {
    const computes = operators.filter(
      (o) => o.op !== Op.QUANTIZE && o.op !== Op.DEQUANTIZE && o.op !== Op.TRANSPOSE,
    ).length;
    if (computes === 0)
      throw new AppError(
        'BAD_INPUT',
        `${splitAt.reason.replace(/\.?$/, '.')} Nothing before it exports either.`,
        {
          hint: 'The Edge TPU needs the model quantized from its input on: build it for the Edge TPU with static int8 quantization.',
        },
      );
    split = splitTail(model, failed, splitAt, {
      shapeValues,
      frontierAct: (t) => acts.get(t) ?? computed.get(t),
      isModelInput: (t) => floatInputs.has(t),
      frontier: (t, a) => {
        // The tail reads the ONNX layout: 4-D values go back to NCHW (int8, before dequantizing).
        const index = a.shape.length === 4 ? toNchw(a, t).index : a.index;
        const out = addTensor({ name: t, shape: [...a.shape], type: TensorType.FLOAT32 });
        emit({ op: Op.DEQUANTIZE, inputs: [index], outputs: [out] });
        outputIndex.push(out);
        outputsOut.push({
          name: t,
          shape: [...a.shape],
          onnxShape: [...a.shape],
          layout: 'as-is',
          role: 'frontier',
        });
      },
    });
  }

  if (outputIndex.length === 0)
    throw new AppError('BAD_INPUT', 'TFLite export: no model output is quantized', {
      hint: 'Build the model for the Edge TPU with static int8 quantization.',
    });
  const bytes = writeTflite({
    tensors,
    operators,
    inputs: inputIndex,
    outputs: outputIndex,
    description: opts.description ?? 'Edge Console full-integer export',
  });
  const counts: Record<string, number> = {};
  for (const o of operators) counts[OP_NAMES[o.op] ?? String(o.op)] = (counts[OP_NAMES[o.op] ?? ''] ?? 0) + 1;
  return {
    bytes,
    inputs: inputsOut,
    outputs: outputsOut,
    operators: counts,
    tensors: tensors.length,
    ...(split ? { split } : {}),
  };
}
