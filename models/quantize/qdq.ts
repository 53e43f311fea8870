/**
 * Static QDQ quantization: QuantizeLinear/DequantizeLinear pairs placed around the chosen nodes, the format
 * onnxruntime fuses into its integer kernels (QLinearConv, QLinearMatMul, QLinearAdd, ...) and TensorRT builds
 * explicit INT8 engines from.
 *
 * - Activations get one Q→DQ pair per tensor. When the producer is quantized, every consumer reads the
 *   dequantized value (a Conv's output must have the Q as its only consumer for the integer kernel to replace
 *   it); otherwise only the quantized consumers do and float consumers keep the exact value.
 * - Weights become int8 initializers, symmetric per output channel, behind a DequantizeLinear (opset ≥ 13).
 * - Conv and Gemm biases become int32 with scale = input scale × weight scale.
 * - A Relu (or Clip at 0) that is a quantized Conv's only consumer is folded into the Conv's output range: the Q
 *   goes after the activation, and onnxruntime removes the activation, which the uint8 range already clips.
 * - Layout ops (MaxPool, Reshape, Transpose, Resize, ...) reuse their input's scale on the output so that
 *   onnxruntime can run them directly on the int8 data.
 */
import { AppError } from '../../shared/errors.js';
import { onnx } from '../onnx/schema.js';
import { DataType, int64, tensorDims } from '../onnx/tensors.js';
import {
  attribute,
  cloneModel,
  graphOutputNames,
  readFloats,
  uniqueName,
  usedNames,
} from '../passes/graph.js';
import type { TensorRange } from './calibrate.js';
import {
  activationParams,
  quantizeBias,
  quantizeWeightsPerChannel,
  type ActivationType,
  type PerChannelWeights,
  type QParams,
} from './qparams.js';
import { storeWeightsAsFloat16 } from '../passes/fp16.js';
import { inferElemTypes, isFloatType } from './types.js';

/** How each op type is quantized: which inputs are activations, which is the weight, and the output rule. */
export interface OpRule {
  /** Input indices quantized as activations (or as constants when they are initializers). */
  activations: number[];
  /** Input index of the weight (quantized per channel) and its channel axis. */
  weight?: { index: number; axis: (n: onnx.INodeProto, dims: number[]) => number | undefined };
  /** Input index of an int32 bias. */
  bias?: number;
  /** 'own': the output gets its own calibrated range; 'input': it reuses input 0's params; 'none': float output. */
  output: 'own' | 'input' | 'none';
}

const gemmAxis = (n: onnx.INodeProto, dims: number[]): number | undefined =>
  dims.length === 2 ? (int64(attribute(n, 'transB')?.i ?? 0) ? 0 : 1) : undefined;

export const OP_RULES: Readonly<Record<string, OpRule>> = {
  Conv: { activations: [0], weight: { index: 1, axis: () => 0 }, bias: 2, output: 'own' },
  // Weights [C_in, C_out, kh, kw]: per output channel is axis 1 (ungrouped; grouped ones stay float).
  ConvTranspose: {
    activations: [0],
    weight: { index: 1, axis: (n) => (int64(attribute(n, 'group')?.i ?? 1) === 1 ? 1 : undefined) },
    bias: 2,
    output: 'own',
  },
  MatMul: {
    activations: [0, 1],
    weight: { index: 1, axis: (_n, d) => (d.length === 2 ? 1 : undefined) },
    output: 'own',
  },
  Gemm: { activations: [0, 1], weight: { index: 1, axis: gemmAxis }, bias: 2, output: 'own' },
  Add: { activations: [0, 1], output: 'own' },
  Mul: { activations: [0, 1], output: 'own' },
  GlobalAveragePool: { activations: [0], output: 'own' },
  AveragePool: { activations: [0], output: 'own' },
  Concat: { activations: [], output: 'own' },
  Sigmoid: { activations: [0], output: 'own' },
  // uint8: rewritten as QLinearAdd + QLinearMul on the integer data (see quantizeHardSwish); int8: DQ → float → Q.
  HardSwish: { activations: [0], output: 'own' },
  LeakyRelu: { activations: [0], output: 'own' },
  HardSigmoid: { activations: [0], output: 'own' },
  Softmax: { activations: [0], output: 'own' },
  MaxPool: { activations: [0], output: 'input' },
  Resize: { activations: [0], output: 'input' },
  Reshape: { activations: [0], output: 'input' },
  Transpose: { activations: [0], output: 'input' },
  Squeeze: { activations: [0], output: 'input' },
  Unsqueeze: { activations: [0], output: 'input' },
  Flatten: { activations: [0], output: 'input' },
  Slice: { activations: [0], output: 'input' },
  Gather: { activations: [0], output: 'input' },
};

export const QUANTIZABLE_OPS: readonly string[] = Object.keys(OP_RULES);

/** Storage of the weights of layers an INT8 build keeps float (see QdqOptions.floatWeights). */
export type FloatWeightStorage = 'float32' | 'float16' | 'int8';
export const FLOAT_WEIGHT_STORAGE: readonly FloatWeightStorage[] = ['float32', 'float16', 'int8'];

export interface QdqOptions {
  activationType: ActivationType;
  /** Symmetric activations (zero point 0 / 128); forced for int8 (TensorRT). */
  symmetricActivations?: boolean;
  /** 7-bit weights for CPUs without VNNI (see qparams.ts). */
  reduceRange?: boolean;
  /**
   * How the weights of Conv/MatMul/Gemm nodes that stay float are stored (default 'float32'):
   * - 'float16': as float16 behind a Cast (storeWeightsAsFloat16); onnxruntime folds the Cast when it loads the
   *   model, so they compute exactly as before on values rounded to float16, at no cost per run;
   * - 'int8': as int8 per output channel restored by Cast and Mul, the size of quantized layers; onnxruntime folds
   *   those at load too (a DequantizeLinear it would not fold, and would run on every inference). Rounding the
   *   weights to 8 bits costs some accuracy, which the accuracy search measures.
   */
  floatWeights?: FloatWeightStorage;
  /**
   * Bias correction (default true): rounding a Conv's weights shifts its output by ΔW·E[x] on average; with the
   * input's per-channel means from calibration, that shift is subtracted from the bias (Nagel et al. 2019,
   * "Data-Free Quantization", empirical variant). Exact for the mean away from zero-padded borders.
   */
  biasCorrection?: boolean;
  /**
   * Quantize the model's outputs too (default false: they stay float, as computed). A full-integer target needs
   * it: its graph ends in a QuantizeLinear/DequantizeLinear pair (the output keeps its name, after the DQ), which
   * becomes the TFLite model's final DEQUANTIZE.
   */
  quantizeOutputs?: boolean;
}

export interface QuantizedTensorInfo {
  tensor: string;
  scale: number;
  zeroPoint: number;
  range: TensorRange;
}

export interface QdqResult {
  model: onnx.ModelProto;
  /** The plan this result was placed from (to redo it with other options). */
  plan: ReadonlySet<string>;
  /** Nodes that were quantized. */
  quantized: string[];
  /** Nodes that were in the plan but stayed float, with the reason. */
  skipped: { node: string; opType: string; reason: string }[];
  activations: QuantizedTensorInfo[];
  /** Quantized weights; weightOnly: stored compressed (int8, or float16 with bits 16) for a node that computes in float. */
  weights: { tensor: string; node: string; channels: number; bits: number; weightOnly?: boolean }[];
  /** Activation tensor → the name of its dequantized value in the quantized model (what consumers read). */
  dequantized: Map<string, string>;
}

export function nodeKey(n: onnx.INodeProto, index: number): string {
  return n.name || `${n.opType ?? 'node'}_${index}`;
}

/** Tensors whose ranges calibration must provide for quantizing `plan`. */
export function tensorsToCalibrate(model: onnx.IModelProto, plan: ReadonlySet<string>): string[] {
  const graph = model.graph;
  if (!graph) return [];
  const types = inferElemTypes(graph);
  const inits = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const out = new Set<string>();
  const nodes = graph.node ?? [];
  const consumers = consumersOf(graph);
  nodes.forEach((n, i) => {
    if (!plan.has(nodeKey(n, i))) return;
    const rule = OP_RULES[n.opType ?? ''];
    if (!rule) return;
    const acts = n.opType === 'Concat' ? (n.input ?? []).map((_, k) => k) : rule.activations;
    for (const k of acts) {
      const name = n.input?.[k];
      if (name && !inits.has(name) && isFloatType(types.get(name))) out.add(name);
    }
    if (rule.output === 'own') {
      const o = activationOutput(n, consumers, plan, nodes);
      if (o && isFloatType(types.get(n.output?.[0] ?? ''))) out.add(o.tensor);
    }
  });
  return [...out];
}

function consumersOf(graph: onnx.IGraphProto): Map<string, onnx.INodeProto[]> {
  const m = new Map<string, onnx.INodeProto[]>();
  for (const n of graph.node ?? [])
    for (const i of n.input ?? []) {
      if (!i) continue;
      const list = m.get(i);
      if (list) list.push(n);
      else m.set(i, [n]);
    }
  return m;
}

/**
 * The tensor a quantized node's output Q goes on: its own output, or the output of a Relu/Clip-at-0 that is its
 * only consumer (absorbed into the range).
 */
function activationOutput(
  n: onnx.INodeProto,
  consumers: Map<string, onnx.INodeProto[]>,
  _plan: ReadonlySet<string>,
  _nodes: onnx.INodeProto[],
): { tensor: string; absorbed?: onnx.INodeProto } | undefined {
  const out = n.output?.[0];
  if (!out) return undefined;
  if (n.opType === 'Conv' || n.opType === 'ConvTranspose' || n.opType === 'Gemm' || n.opType === 'MatMul') {
    const cs = consumers.get(out) ?? [];
    const only = cs.length === 1 ? cs[0] : undefined;
    if (only && (only.opType === 'Relu' || isClipAtZero(only)) && only.output?.[0]) {
      return { tensor: only.output[0], absorbed: only };
    }
  }
  return { tensor: out };
}

function isClipAtZero(n: onnx.INodeProto): boolean {
  if (n.opType !== 'Clip') return false;
  // Clip's min is an input from opset 11; the quantizer runs on opset ≥ 13 graphs.
  return (n.input?.[1] ?? '') !== '';
}

function scalarInit(name: string, dataType: number, value: number): onnx.ITensorProto {
  const type: number = dataType;
  const t = onnx.TensorProto.create({ name, dataType, dims: [] });
  if (type === (DataType.FLOAT as number)) t.rawData = new Uint8Array(Float32Array.of(value).buffer);
  else if (type === (DataType.UINT8 as number)) t.rawData = Uint8Array.of(value);
  else if (type === (DataType.INT8 as number)) t.rawData = new Uint8Array(Int8Array.of(value).buffer);
  return t;
}

/** An int8 initializer holding `values` (a view of any part of a buffer). */
function int8Init(name: string, dims: onnx.ITensorProto['dims'], values: Int8Array): onnx.ITensorProto {
  return onnx.TensorProto.create({
    name,
    dataType: DataType.INT8,
    dims: dims ?? [],
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  });
}

function vecInit(
  name: string,
  type: number,
  data: Float32Array | Int8Array | Int32Array | Uint8Array,
): onnx.ITensorProto {
  return onnx.TensorProto.create({
    name,
    dataType: type,
    dims: [data.length],
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  });
}

/**
 * Mean output shift per output channel caused by rounding the weights: Σ (Ŵ − W)[o, c, k] · mean[c], with c the
 * input channel each weight reads (grouped convolutions read their group's slice).
 */
export function convBiasShift(
  w: Float64Array,
  q: Int8Array,
  scales: Float32Array,
  dims: readonly number[],
  group: number,
  inputMean: Float64Array,
): Float64Array | undefined {
  const m = dims[0] ?? 0;
  const cinPerGroup = dims[1] ?? 0;
  const k = dims.slice(2).reduce((a, b) => a * b, 1);
  if (inputMean.length !== cinPerGroup * group) return undefined;
  const outPerGroup = m / group;
  const shift = new Float64Array(m);
  for (let o = 0; o < m; o++) {
    const g = Math.floor(o / outPerGroup);
    const s = scales[o] ?? 1;
    let acc = 0;
    for (let c = 0; c < cinPerGroup; c++) {
      const mu = inputMean[g * cinPerGroup + c] ?? 0;
      if (mu === 0) continue;
      const base = (o * cinPerGroup + c) * k;
      let d = 0;
      for (let i = 0; i < k; i++) d += (q[base + i] ?? 0) * s - (w[base + i] ?? 0);
      acc += d * mu;
    }
    shift[o] = acc;
  }
  return shift;
}

interface QuantizedWeight {
  qw: PerChannelWeights;
  /** Bias correction's shift for this weight (see convBiasShift), computed once per input-mean array. */
  biasShift(dims: readonly number[], group: number, mean: Float64Array): Float64Array | undefined;
}

/**
 * Quantized weights by source tensor (its raw bytes when it has them, so a rewritten tensor is a new entry) and
 * settings. The accuracy search quantizes the same model a dozen times with different placements; weights are
 * the same each time.
 */
const weightCache = new WeakMap<object, Map<string, QuantizedWeight>>();

function quantizedWeight(
  t: onnx.ITensorProto,
  dims: readonly number[],
  axis: number | undefined,
  reduceRange: boolean,
): QuantizedWeight | undefined {
  const owner: object = t.rawData && t.rawData.length > 0 ? t.rawData : t;
  const key = `${dims.join('x')}|${axis ?? 'tensor'}|${reduceRange}`;
  const cached = weightCache.get(owner)?.get(key);
  if (cached) return cached;
  const values = readFloats(t);
  if (!values) return undefined;
  let qw: PerChannelWeights;
  if (axis === undefined) {
    // Per-tensor: one scale for the whole tensor.
    let m = 0;
    for (const v of values) m = Math.max(m, Math.abs(v));
    const s = m > 0 ? m / (reduceRange ? 63 : 127) : 1;
    const q = new Int8Array(values.length);
    for (let i = 0; i < values.length; i++)
      q[i] = Math.max(-127, Math.min(127, Math.round((values[i] ?? 0) / s)));
    qw = { values: q, scales: Float32Array.of(s), axis: 0, maxError: Float32Array.of(s / 2) };
  } else {
    qw = quantizeWeightsPerChannel(values, dims, axis, reduceRange);
  }
  const shifts = new WeakMap<Float64Array, Map<number, Float64Array | undefined>>();
  const entry: QuantizedWeight = {
    qw,
    biasShift(d, group, mean) {
      const byGroup = shifts.get(mean) ?? new Map<number, Float64Array | undefined>();
      shifts.set(mean, byGroup);
      if (!byGroup.has(group))
        byGroup.set(group, convBiasShift(values, qw.values, qw.scales, d, group, mean));
      return byGroup.get(group);
    },
  };
  const forOwner = weightCache.get(owner) ?? new Map<string, QuantizedWeight>();
  forOwner.set(key, entry);
  weightCache.set(owner, forOwner);
  return entry;
}

/** Quantizes the nodes in `plan` (by name) using calibrated `ranges`; the input model is not changed. */
export function quantizeQdq(
  source: onnx.IModelProto,
  plan: ReadonlySet<string>,
  ranges: ReadonlyMap<string, TensorRange>,
  opts: QdqOptions,
): QdqResult {
  const model = cloneModel(source);
  const graph = model.graph;
  if (!graph) throw new AppError('MODEL_MALFORMED', 'model has no graph', { hint: 'Re-export the model.' });
  const opset = Math.max(
    0,
    ...(model.opsetImport ?? [])
      .filter((o) => !o.domain || o.domain === 'ai.onnx')
      .map((o) => int64(o.version)),
  );
  if (opset < 13) {
    throw new AppError(
      'MODEL_MALFORMED',
      `QDQ quantization needs opset 13 or newer; the model is opset ${opset}`,
      {
        hint: 'Upgrade the model with upgradeOpset (the build does this itself).',
      },
    );
  }
  const types = inferElemTypes(graph);
  const taken = usedNames(model);
  // Weights are quantized from the caller's tensors, so repeated calls on one model (the accuracy search) reuse it.
  const sourceInits = new Map<string, onnx.ITensorProto>();
  for (const t of source.graph?.initializer ?? []) if (t.name) sourceInits.set(t.name, t);
  const inits = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) if (t.name) inits.set(t.name, t);
  const graphInputs = new Set((graph.input ?? []).map((v) => v.name ?? ''));
  const outputs = graphOutputNames(graph);
  const consumers = consumersOf(graph);
  const producer = new Map<string, onnx.INodeProto>();
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) producer.set(o, n);
  const nodes = graph.node ?? [];
  const keyOf = new Map<onnx.INodeProto, string>();
  nodes.forEach((n, i) => keyOf.set(n, nodeKey(n, i)));

  const result: QdqResult = {
    model,
    plan,
    quantized: [],
    skipped: [],
    activations: [],
    weights: [],
    dequantized: new Map(),
  };
  const newInits: onnx.ITensorProto[] = [];
  const params = new Map<string, QParams>();
  /** Tensor → its dequantized name, once a Q/DQ pair exists. */
  const dqName = new Map<string, string>();
  /** Q/DQ nodes to insert right after the producer of the tensor (or at the top for graph inputs). */
  const inserts = new Map<string, onnx.INodeProto[]>();
  const symmetric = opts.symmetricActivations === true || opts.activationType === 'int8';
  const zpType = opts.activationType === 'uint8' ? DataType.UINT8 : DataType.INT8;

  const paramsFor = (tensor: string): QParams | undefined => {
    const existing = params.get(tensor);
    if (existing) return existing;
    const r = ranges.get(tensor);
    if (!r) return undefined;
    const p = activationParams(r.min, r.max, opts.activationType, symmetric);
    params.set(tensor, p);
    result.activations.push({ tensor, scale: p.scale, zeroPoint: p.zeroPoint, range: r });
    return p;
  };

  const addQdq = (tensor: string, p: QParams): string => {
    const have = dqName.get(tensor);
    if (have) return have;
    const base = tensor.replace(/[^A-Za-z0-9_.:-]/g, '_');
    const s = uniqueName(`${base}_scale`, taken);
    const z = uniqueName(`${base}_zero_point`, taken);
    newInits.push(scalarInit(s, DataType.FLOAT, p.scale), scalarInit(z, zpType, p.zeroPoint));
    const q = uniqueName(`${base}_quantized`, taken);
    const dq = uniqueName(`${base}_dequantized`, taken);
    const qNode = onnx.NodeProto.create({
      name: uniqueName(`${base}_QuantizeLinear`, taken),
      opType: 'QuantizeLinear',
      input: [tensor, s, z],
      output: [q],
    });
    const dqNode = onnx.NodeProto.create({
      name: uniqueName(`${base}_DequantizeLinear`, taken),
      opType: 'DequantizeLinear',
      input: [q, s, z],
      output: [dq],
    });
    inserts.set(tensor, [qNode, dqNode]);
    dqName.set(tensor, dq);
    return dq;
  };

  /** A float initializer quantized per tensor as an activation-typed constant behind a DequantizeLinear. */
  const constantQdq = (name: string): string | undefined => {
    const have = dqName.get(name);
    if (have) return have;
    const t = inits.get(name);
    if (!t) return undefined;
    const values = readFloats(t);
    if (!values) return undefined;
    let mn = Infinity;
    let mx = -Infinity;
    for (const v of values) {
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
    const p = activationParams(mn, mx, opts.activationType, symmetric);
    const q = opts.activationType === 'uint8' ? new Uint8Array(values.length) : new Int8Array(values.length);
    const lo = opts.activationType === 'uint8' ? 0 : -128;
    const hi = opts.activationType === 'uint8' ? 255 : 127;
    for (let i = 0; i < values.length; i++)
      q[i] = Math.min(hi, Math.max(lo, Math.round((values[i] ?? 0) / p.scale) + p.zeroPoint));
    const base = name.replace(/[^A-Za-z0-9_.:-]/g, '_');
    const qn = uniqueName(`${base}_quantized`, taken);
    newInits.push(
      onnx.TensorProto.create({
        name: qn,
        dataType: zpType,
        dims: t.dims ?? [],
        rawData: new Uint8Array(q.buffer, q.byteOffset, q.byteLength),
      }),
    );
    const s = uniqueName(`${base}_scale`, taken);
    const z = uniqueName(`${base}_zero_point`, taken);
    newInits.push(scalarInit(s, DataType.FLOAT, p.scale), scalarInit(z, zpType, p.zeroPoint));
    const dq = uniqueName(`${base}_dequantized`, taken);
    inserts.set(`${name}\u0000const`, [
      onnx.NodeProto.create({
        name: uniqueName(`${base}_DequantizeLinear`, taken),
        opType: 'DequantizeLinear',
        input: [qn, s, z],
        output: [dq],
      }),
    ]);
    dqName.set(name, dq);
    return dq;
  };

  /**
   * HardSwish(x) = x · clip(x + 3, 0, 6) / 6 on uint8 data: Add(x, 3) quantized to [0, 6] with zero point 0
   * (the uint8 range does the clipping), then Mul(x, ·), whose Q uses 6 × the output scale while its DQ uses the
   * output scale, which divides by 6 for free. onnxruntime runs it as QLinearAdd + QLinearMul on uint8 data,
   * 2–4× cheaper than dequantize → float HardSwish → quantize.
   */
  const hardSwishAsQLinear = (n: onnx.INodeProto, key: string, xdq: string, out: QParams): void => {
    const y = n.output?.[0] ?? '';
    const base = y.replace(/[^A-Za-z0-9_.:-]/g, '_');
    const threeQ = uniqueName(`${base}_three_quantized`, taken);
    const threeS = uniqueName(`${base}_three_scale`, taken);
    const zero = uniqueName(`${base}_zero`, taken);
    const sixS = uniqueName(`${base}_clip_scale`, taken);
    const yQs = uniqueName(`${base}_times6_scale`, taken);
    const yS = uniqueName(`${base}_scale`, taken);
    const yZ = uniqueName(`${base}_zero_point`, taken);
    newInits.push(
      scalarInit(threeQ, DataType.UINT8, 255),
      scalarInit(threeS, DataType.FLOAT, 3 / 255),
      scalarInit(zero, DataType.UINT8, 0),
      scalarInit(sixS, DataType.FLOAT, 6 / 255),
      scalarInit(yQs, DataType.FLOAT, out.scale * 6),
      scalarInit(yS, DataType.FLOAT, out.scale),
      scalarInit(yZ, DataType.UINT8, out.zeroPoint),
    );
    const three = uniqueName(`${base}_three`, taken);
    const sum = uniqueName(`${base}_plus3`, taken);
    const sumQ = uniqueName(`${base}_plus3_quantized`, taken);
    const sumDq = uniqueName(`${base}_plus3_clipped`, taken);
    const mk = (opType: string, i: string[], o: string[]): onnx.INodeProto =>
      onnx.NodeProto.create({ name: uniqueName(`${base}_${opType}`, taken), opType, input: i, output: o });
    inserts.set(`${y}\u0000${key}`, [
      mk('DequantizeLinear', [threeQ, threeS, zero], [three]),
      mk('Add', [xdq, three], [sum]),
      mk('QuantizeLinear', [sum, sixS, zero], [sumQ]),
      mk('DequantizeLinear', [sumQ, sixS, zero], [sumDq]),
    ]);
    // The HardSwish node becomes the Mul; its output now holds 6·HardSwish(x), read only through the pair below.
    n.opType = 'Mul';
    n.input = [xdq, sumDq];
    n.attribute = [];
    const q = uniqueName(`${base}_quantized`, taken);
    const dq = uniqueName(`${base}_dequantized`, taken);
    inserts.set(y, [mk('QuantizeLinear', [y, yQs, yZ], [q]), mk('DequantizeLinear', [q, yS, yZ], [dq])]);
    dqName.set(y, dq);
    params.set(y, out);
  };

  /**
   * Stores quantized weights as an int8 initializer with its scales and zero points, and a DequantizeLinear placed
   * just before the node that reads it; returns the dequantized name the node should read.
   */
  /**
   * Stores weights as int8 with per-channel float scales, restored by Cast(int8 → float) and Mul: plain ops on
   * constants, which onnxruntime folds into a float32 initializer when it loads the model (it never folds a
   * DequantizeLinear, which would run on every inference). Returns the name the node should read.
   */
  const emitWeightCastMul = (
    wName: string,
    key: string,
    w: onnx.ITensorProto,
    qw: { values: Int8Array; scales: Float32Array },
    axis: number,
  ): string => {
    const base = wName.replace(/[^A-Za-z0-9_.:-]/g, '_');
    const dims = tensorDims(w);
    const qn = uniqueName(`${base}_int8`, taken);
    const sn = uniqueName(`${base}_scale`, taken);
    const cast = uniqueName(`${base}_int8_as_float`, taken);
    const out = uniqueName(`${base}_restored`, taken);
    newInits.push(
      int8Init(qn, w.dims ?? [], qw.values),
      onnx.TensorProto.create({
        name: sn,
        dataType: DataType.FLOAT,
        dims: dims.map((d, i) => (i === axis ? d : 1)),
        rawData: new Uint8Array(qw.scales.buffer, qw.scales.byteOffset, qw.scales.byteLength),
      }),
    );
    inserts.set(`${wName}\u0000${key}`, [
      onnx.NodeProto.create({
        name: uniqueName(`${base}_Cast`, taken),
        opType: 'Cast',
        input: [qn],
        output: [cast],
        attribute: [
          onnx.AttributeProto.create({
            name: 'to',
            type: onnx.AttributeProto.AttributeType.INT,
            i: DataType.FLOAT,
          }),
        ],
      }),
      onnx.NodeProto.create({
        name: uniqueName(`${base}_Mul`, taken),
        opType: 'Mul',
        input: [cast, sn],
        output: [out],
      }),
    ]);
    return out;
  };

  const emitWeightDq = (
    wName: string,
    key: string,
    w: onnx.ITensorProto,
    qw: { values: Int8Array; scales: Float32Array },
    axis: number | undefined,
  ): string => {
    const base = wName.replace(/[^A-Za-z0-9_.:-]/g, '_');
    const qn = uniqueName(`${base}_quantized`, taken);
    const sn = uniqueName(`${base}_scale`, taken);
    const zn = uniqueName(`${base}_zero_point`, taken);
    newInits.push(int8Init(qn, w.dims ?? [], qw.values));
    const perChannel = qw.scales.length > 1 && axis !== undefined;
    if (perChannel) {
      newInits.push(
        vecInit(sn, DataType.FLOAT, qw.scales),
        vecInit(zn, DataType.INT8, new Int8Array(qw.scales.length)),
      );
    } else {
      newInits.push(scalarInit(sn, DataType.FLOAT, qw.scales[0] ?? 1), scalarInit(zn, DataType.INT8, 0));
    }
    const dq = uniqueName(`${base}_dequantized`, taken);
    inserts.set(`${wName}\u0000${key}`, [
      onnx.NodeProto.create({
        name: uniqueName(`${base}_DequantizeLinear`, taken),
        opType: 'DequantizeLinear',
        input: [qn, sn, zn],
        output: [dq],
        attribute: perChannel
          ? [
              onnx.AttributeProto.create({
                name: 'axis',
                type: onnx.AttributeProto.AttributeType.INT,
                i: axis,
              }),
            ]
          : [],
      }),
    ]);
    return dq;
  };

  const planned = nodes.filter((n) => plan.has(keyOf.get(n) ?? ''));
  for (const n of planned) {
    const key = keyOf.get(n) ?? '';
    const rule = OP_RULES[n.opType ?? ''];
    const skip = (reason: string): void => {
      result.skipped.push({ node: key, opType: n.opType ?? '', reason });
    };
    if (!rule || !(n.domain === '' || n.domain == null)) {
      skip(`${n.opType ?? '?'} has no QDQ form here`);
      continue;
    }
    const ins = n.input ?? [];
    const actIdx = n.opType === 'Concat' ? ins.map((_, k) => k) : rule.activations;
    // Check everything first, then rewrite, so a skipped node is left untouched.
    const wIdx = rule.weight?.index;
    const wTensor = wIdx !== undefined ? inits.get(ins[wIdx] ?? '') : undefined;
    const wIsWeight = wTensor !== undefined && !graphInputs.has(ins[wIdx ?? -1] ?? '');
    let missing: string | undefined;
    const inputParams = new Map<number, QParams>();
    for (const k of actIdx) {
      const name = ins[k];
      if (!name) continue;
      if (k === wIdx && wIsWeight) continue;
      if (inits.has(name) && !graphInputs.has(name)) continue; // constant operand
      if (!isFloatType(types.get(name))) {
        missing = `input ${name} is not float32`;
        break;
      }
      const p = paramsFor(name);
      if (!p) {
        missing = `no calibrated range for ${name}`;
        break;
      }
      inputParams.set(k, p);
    }
    if (missing) {
      skip(missing);
      continue;
    }
    const outName = n.output?.[0] ?? '';
    let outTarget: { tensor: string; absorbed?: onnx.INodeProto } | undefined;
    let outParams: QParams | undefined;
    if (
      rule.output !== 'none' &&
      (opts.quantizeOutputs === true || !outputs.has(outName)) &&
      isFloatType(types.get(outName))
    ) {
      outTarget = activationOutput(n, consumers, plan, nodes);
      if (outTarget && outputs.has(outTarget.tensor) && opts.quantizeOutputs !== true) outTarget = undefined;
      if (outTarget) {
        if (rule.output === 'input') {
          outParams = inputParams.get(0);
          if (outParams) params.set(outTarget.tensor, outParams);
        } else {
          outParams = paramsFor(outTarget.tensor);
        }
        if (!outParams) {
          skip(`no calibrated range for output ${outTarget.tensor}`);
          continue;
        }
      }
    }
    if (n.opType === 'HardSwish' && opts.activationType === 'uint8') {
      const inP = inputParams.get(0);
      if (!outTarget || !outParams || !inP) {
        skip('HardSwish output is a graph output or has no range');
        continue;
      }
      const xdq = addQdq(ins[0] ?? '', inP);
      hardSwishAsQLinear(n, key, xdq, outParams);
      result.quantized.push(key);
      continue;
    }
    // Weight and bias.
    let weightScales: Float32Array | undefined;
    let biasShift: Float64Array | undefined;
    if (wIdx !== undefined && wTensor && wIsWeight) {
      const dims = tensorDims(wTensor);
      const axis = rule.weight?.axis(n, dims);
      const quant = quantizedWeight(
        sourceInits.get(ins[wIdx] ?? '') ?? wTensor,
        dims,
        axis,
        opts.reduceRange === true,
      );
      if (!quant) {
        skip('weight is not a float32 initializer held in the model');
        continue;
      }
      const qw = quant.qw;
      weightScales = qw.scales;
      if (n.opType === 'Conv' && opts.biasCorrection !== false && axis === 0) {
        const mean = ranges.get(ins[0] ?? '')?.channelMean;
        if (mean) biasShift = quant.biasShift(dims, int64(attribute(n, 'group')?.i ?? 1), mean);
      }
      const wName = ins[wIdx] ?? '';
      n.input![wIdx] = emitWeightDq(wName, key, wTensor, qw, axis);
      result.weights.push({
        tensor: wName,
        node: key,
        channels: qw.scales.length,
        bits: opts.reduceRange ? 7 : 8,
      });
    }
    const bIdx = rule.bias;
    const bExisting = bIdx !== undefined ? n.input?.[bIdx] : undefined;
    if (bIdx !== undefined && weightScales && biasShift && !(bExisting && inits.has(bExisting))) {
      // No bias yet: the correction needs one.
      const zeroBias = uniqueName(`${key.replace(/[^A-Za-z0-9_.:-]/g, '_')}_bias`, taken);
      const t = onnx.TensorProto.create({
        name: zeroBias,
        dataType: DataType.FLOAT,
        dims: [biasShift.length],
      });
      t.rawData = new Uint8Array(new Float32Array(biasShift.length).buffer);
      inits.set(zeroBias, t);
      newInits.push(t);
      while ((n.input ?? []).length < bIdx) n.input!.push('');
      n.input![bIdx] = zeroBias;
    }
    const bName2 = bIdx !== undefined ? (n.input?.[bIdx] ?? undefined) : undefined;
    if (bIdx !== undefined && bName2 && weightScales && inits.has(bName2)) {
      const bName = bName2;
      const bt = inits.get(bName);
      const raw = bt ? readFloats(bt) : undefined;
      const values = raw && biasShift ? raw.map((v, i) => v - (biasShift[i] ?? 0)) : raw;
      const inP = inputParams.get(0);
      const qb = values && inP ? quantizeBias(values, inP.scale, weightScales) : undefined;
      if (qb) {
        const base = bName.replace(/[^A-Za-z0-9_.:-]/g, '_');
        const qn = uniqueName(`${base}_quantized`, taken);
        const sn = uniqueName(`${base}_scale`, taken);
        const zn = uniqueName(`${base}_zero_point`, taken);
        newInits.push(
          vecInit(qn, DataType.INT32, qb.values),
          vecInit(sn, DataType.FLOAT, qb.scales),
          vecInit(zn, DataType.INT32, new Int32Array(qb.scales.length)),
        );
        const dq = uniqueName(`${base}_dequantized`, taken);
        inserts.set(`${bName}\u0000${key}`, [
          onnx.NodeProto.create({
            name: uniqueName(`${base}_DequantizeLinear`, taken),
            opType: 'DequantizeLinear',
            input: [qn, sn, zn],
            output: [dq],
            attribute: [
              onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }),
            ],
          }),
        ]);
        n.input![bIdx] = dq;
      }
    }
    // Activation inputs.
    for (const k of actIdx) {
      const name = ins[k];
      if (!name || (k === wIdx && wIsWeight)) continue;
      if (inits.has(name) && !graphInputs.has(name)) {
        const dq = constantQdq(name);
        if (dq) n.input![k] = dq;
        continue;
      }
      const p = inputParams.get(k);
      if (p) n.input![k] = addQdq(name, p);
    }
    if (outTarget && outParams) addQdq(outTarget.tensor, outParams);
    result.quantized.push(key);
  }

  // Weight-only int8 storage for the weighted nodes that stay float.
  if (opts.floatWeights === 'int8') {
    const done = new Set(result.quantized);
    const uses = new Map<string, number>();
    for (const n of nodes) for (const i of n.input ?? []) if (i) uses.set(i, (uses.get(i) ?? 0) + 1);
    for (const n of nodes) {
      const key = keyOf.get(n) ?? '';
      const rule = OP_RULES[n.opType ?? ''];
      if (done.has(key) || !rule?.weight || !(n.domain === '' || n.domain == null)) continue;
      const wIdx = rule.weight.index;
      const wName = n.input?.[wIdx] ?? '';
      const wt = inits.get(wName);
      if (!wt || graphInputs.has(wName) || (uses.get(wName) ?? 0) !== 1) continue;
      const values = readFloats(wt);
      const dims = tensorDims(wt);
      const axis = rule.weight.axis(n, dims);
      if (!values || axis === undefined || values.length < 128) continue;
      const qw = quantizeWeightsPerChannel(values, dims, axis, false);
      let biasShift: Float64Array | undefined;
      const bIdx = rule.bias;
      const bName = bIdx !== undefined ? n.input?.[bIdx] : undefined;
      if (n.opType === 'Conv' && axis === 0 && bName && inits.has(bName) && opts.biasCorrection !== false) {
        const mean = ranges.get(n.input?.[0] ?? '')?.channelMean;
        if (mean)
          biasShift = convBiasShift(
            values,
            qw.values,
            qw.scales,
            dims,
            int64(attribute(n, 'group')?.i ?? 1),
            mean,
          );
      }
      n.input![wIdx] = emitWeightCastMul(wName, key, wt, qw, axis);
      if (biasShift && bName) {
        const bt = inits.get(bName);
        const b = bt ? readFloats(bt) : undefined;
        if (bt && b && b.length === biasShift.length && (uses.get(bName) ?? 0) === 1) {
          const corrected = b.map((v, i) => v - (biasShift[i] ?? 0));
          const t = onnx.TensorProto.create({
            name: uniqueName(`${bName}_corrected`, taken),
            dataType: DataType.FLOAT,
            dims: bt.dims ?? [],
          });
          t.rawData = new Uint8Array(Float32Array.from(corrected).buffer);
          newInits.push(t);
          n.input![bIdx ?? 2] = t.name ?? '';
        }
      }
      result.weights.push({
        tensor: wName,
        node: key,
        channels: qw.scales.length,
        bits: 8,
        weightOnly: true,
      });
    }
  }

  // Rewire consumers: a quantized producer's output is read dequantized by everyone.
  const quantizedSet = new Set(result.quantized);
  for (const [tensor, dq] of dqName) {
    const p = producer.get(tensor);
    const prodQuantized =
      p !== undefined &&
      (quantizedSet.has(keyOf.get(p) ?? '') ||
        // the Relu absorbed into a quantized Conv's output
        [...(p.input ?? [])].some((i) => {
          const pp = producer.get(i);
          return (
            pp !== undefined &&
            quantizedSet.has(keyOf.get(pp) ?? '') &&
            (p.opType === 'Relu' || p.opType === 'Clip')
          );
        }));
    if (!prodQuantized) continue;
    for (const c of consumers.get(tensor) ?? []) {
      if (c.opType === 'QuantizeLinear' && c.input?.[0] === tensor) continue;
      c.input = (c.input ?? []).map((i) => (i === tensor ? dq : i));
    }
  }

  // Quantized model outputs keep their names: the producer writes a renamed float tensor, and the DQ the output.
  if (opts.quantizeOutputs === true) {
    for (const o of outputs) {
      const dq = dqName.get(o);
      const p = producer.get(o);
      const pair = inserts.get(o);
      if (!dq || !p || !pair) continue;
      const pre = uniqueName(`${o.replace(/[^A-Za-z0-9_.:-]/g, '_')}_float`, taken);
      p.output = (p.output ?? []).map((x) => (x === o ? pre : x));
      pair[0]!.input = [pre, ...(pair[0]!.input ?? []).slice(1)];
      pair[1]!.output = [o];
      for (const n of nodes) n.input = (n.input ?? []).map((x) => (x === dq ? o : x));
      inserts.delete(o);
      inserts.set(pre, pair);
      producer.set(pre, p);
      dqName.set(o, o);
    }
  }

  // Emit nodes in order: each Q/DQ right after its tensor's producer; weight DQs before their consumer.
  const out: onnx.INodeProto[] = [];
  const top: onnx.INodeProto[] = [];
  for (const [key, ns] of inserts) {
    const [tensor] = key.split('\u0000');
    if (key.includes('\u0000')) continue;
    if (!producer.has(tensor ?? '')) top.push(...ns);
  }
  const weightDqFor = new Map<string, onnx.INodeProto[]>();
  for (const [key, ns] of inserts) {
    const parts = key.split('\u0000');
    if (parts.length !== 2) continue;
    const owner = parts[1] === 'const' ? '\u0000const' : (parts[1] ?? '');
    const list = weightDqFor.get(owner) ?? [];
    list.push(...ns);
    weightDqFor.set(owner, list);
  }
  out.push(...(weightDqFor.get('\u0000const') ?? []), ...top);
  for (const n of nodes) {
    out.push(...(weightDqFor.get(keyOf.get(n) ?? '') ?? []));
    out.push(n);
    for (const o of n.output ?? []) {
      const ins2 = inserts.get(o);
      if (ins2) out.push(...ins2);
    }
  }
  graph.node = out;
  graph.initializer = [...(graph.initializer ?? []), ...newInits];
  for (const [t, dq] of dqName) if (!inits.has(t)) result.dequantized.set(t, dq);
  // Float weights no longer used by anyone are dropped.
  const used = new Set<string>();
  for (const n of out) for (const i of n.input ?? []) if (i) used.add(i);
  for (const o of graph.output ?? []) if (o.name) used.add(o.name);
  graph.initializer = graph.initializer.filter(
    (t) => used.has(t.name ?? '') || graphInputs.has(t.name ?? ''),
  );
  // Intermediate value_info types stay valid (float stays float); nothing else to update.
  if (opts.floatWeights === 'float16') {
    const h = storeWeightsAsFloat16(model, { inPlace: true, minElements: 128 });
    result.model = h.model;
    const stored = new Set(h.tensors);
    for (const n of h.model.graph?.node ?? []) {
      const rule = OP_RULES[n.opType ?? ''];
      const w = rule?.weight ? n.input?.[rule.weight.index] : undefined;
      if (w && stored.has(w))
        result.weights.push({ tensor: w, node: n.name ?? '', channels: 0, bits: 16, weightOnly: true });
    }
  }
  return result;
}
