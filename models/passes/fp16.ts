/**
 * Float32 → float16 conversion of a model's main graph, with float32 kept where float16 is unsafe or unsupported.
 *
 * How it works (the approach of onnxconverter-common's float16 converter, with its gaps closed for these graphs):
 *
 * 1. **Element types.** Every main-graph value gets its element type from the graph inputs, initializers, Constant
 *    nodes and value_info, then forward through the nodes by the operator's type rules (`inferOutputTypes`). A node
 *    whose input or output type stays unknown (custom operators without value_info, sequences, optionals) is kept
 *    float32, and so is everything that consumes its unknown outputs: nothing is converted on a guess.
 * 2. **Which nodes run in float16.** A default-domain node is converted unless it is blocked: its op is in
 *    `blockOps` (DEFAULT_FP16_BLOCK_OPS), its name in `blockNodes`, it needs float32 whatever the list says (the
 *    spec's NonMaxSuppression, Range and quantization ops; RandomNormal/RandomUniform, which onnxruntime cannot load
 *    in float16), it holds subgraphs, or it is in another domain. Two analyses keep more nodes float32:
 *    - *Float arithmetic on integers.* Float arithmetic on the result of a Cast from integers, with constants
 *      (shape computations exported as float: Cast(Shape) · 0.5 → Floor → Cast to int64), stays float32: float16
 *      has 11 significant bits, so 4098 would become 4096.
 *    - *Overflow.* A blocked op whose output may exceed float16's ±65504 (Exp, Pow, ReduceSumSquare, ReduceProd,
 *      CumSum) would overflow anyway if its result were cast straight back to float16, so its float32 result
 *      is carried on through the arithmetic and reductions that consume it (ReduceMean, Add, ...) until an op that
 *      brings it back into range (Sqrt, Log, Reciprocal, a division of one large value by another). For a LayerNorm
 *      exported as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div this keeps Pow → ReduceMean → Add → Sqrt float32.
 * 3. **Rewriting.** A converted node's float32 inputs and outputs become float16, except inputs the spec or
 *    onnxruntime want float32 (Resize's roi and scales, Upsample's scales, OneHot's depth) and outputs that are
 *    float32 whatever the input (LayerNormalization's mean and inverse std). Float32 initializers and Constant
 *    tensors a converted node reads are stored as float16 (IEEE half, round to nearest even, values beyond ±65504
 *    clamped to ±65504 and reported, tiny values flushed to zero reported); one read by both float16 and float32
 *    consumers is stored twice, so the float32 consumers keep the exact values. Cast nodes join the rest: one Cast
 *    per value and direction, right after its producer. A Cast(to=FLOAT) on a float16 node makes whichever
 *    precision its consumers read (a second Cast from the same input when they read both), so there are no Casts
 *    back to back, and a Cast of integers feeds float16 and float32 consumers each exactly. ConstantOfShape's value
 *    and the dtype of EyeLike and the random *Like ops follow the node into float16.
 * 4. **Interface.** With keepIoTypes (default) float32 graph inputs and outputs stay float32, with a Cast after the
 *    input and before the output; without it they become float16. Graph input/output and value_info element types
 *    are updated to match.
 *
 * **Subgraphs** (If/Loop/Scan bodies) are not converted: the node holding them is kept float32, and every
 * main-graph value a subgraph may read from the outer scope keeps its float32 type under its own name.
 * Model-local functions, training info, sparse initializers and externally stored tensors are left as they are
 * (a converted node reading an external or sparse float32 tensor gets a Cast). Opset imports, metadata, doc strings
 * and unknown fields are preserved.
 *
 * onnxruntime's CPU provider has float16 kernels for only some ops; for the others it inserts casts itself when
 * the session is created, so the converted model loads and runs on CPU (slower there than float32: float16 is
 * for GPUs, NPUs and TensorRT, and for halving the weights).
 */
import { AppError } from '../../shared/errors.js';
import { onnx } from '../onnx/schema.js';
import { DataType, int64, isExternal, tensorByteSize } from '../onnx/tensors.js';
import {
  allSubgraphReferences,
  attribute,
  cloneModel,
  isDefaultDomain,
  readFloats,
  subgraphsOf,
  uniqueName,
  usedNames,
} from './graph.js';

export interface Fp16Options {
  /** Keep the model's float32 inputs/outputs (Cast at the boundary). Default true. */
  keepIoTypes?: boolean;
  /** Op types kept in float32 (default: DEFAULT_FP16_BLOCK_OPS). Replaces the default list. */
  blockOps?: readonly string[];
  /** Node names kept in float32. */
  blockNodes?: readonly string[];
}

/**
 * Default-domain ops kept in float32 unless the caller passes its own list, and why:
 *
 * - `Range`: the ONNX spec has no float16 Range (and the element count, ceil((limit − start) / delta), would change
 *   with float16 rounding). Always kept float32, whatever the list says.
 * - `NonMaxSuppression`: the spec allows float32 boxes and scores only. Always kept float32.
 * - `RandomNormal`, `RandomUniform`: onnxruntime has no float16 kernel for them, and their output type comes from
 *   the dtype attribute, so it cannot add casts itself: a float16 one does not load. Always kept float32.
 * - `RoiAlign`: box coordinates are in pixels, and float16 steps are 0.5 px from 1024 and 2 px from 4096.
 * - `Exp`: overflows float16 for x > 11.1 (e^11.1 > 65504).
 * - `Pow`: x² overflows float16 for |x| > 256: the variance step of a LayerNorm exported as primitives.
 * - `ReduceSumSquare`, `ReduceProd`, `CumSum`: sums of squares, products and running sums overflow ±65504 on
 *   ordinary activations, and running sums lose precision (float16 steps are 2 from 2048, 32 from 32768).
 *
 * The overflow-prone ones (Exp, Pow, ReduceSumSquare, ReduceProd, CumSum) also keep the ops consuming their result
 * float32 until the value is back in range (see the file comment): a Cast of an overflowed value to float16 right
 * after the blocked op would be no better than running it in float16.
 *
 * Not blocked, on purpose: `Resize` (its scales and roi inputs stay float32, the data is float16), `TopK`/`ArgMax`
 * (their inputs are computed in float16 upstream anyway: a Cast to float32 in front would not undo ties float16
 * created), `Softmax`/`LogSoftmax` (computed with the maximum subtracted, so in range), `ReduceMean`/`ReduceSum`/
 * `Sqrt`/`Add`... (in range on their own; kept float32 when fed by an overflow-prone op), `MatMul`/`Gemm`/`Conv`
 * (the point of float16).
 */
export const DEFAULT_FP16_BLOCK_OPS: readonly string[] = Object.freeze([
  'Range',
  'NonMaxSuppression',
  'RandomNormal',
  'RandomUniform',
  'RoiAlign',
  'Exp',
  'Pow',
  'ReduceSumSquare',
  'ReduceProd',
  'CumSum',
]);

export interface Fp16Report {
  /**
   * Float32 initializers, Constant tensors and ConstantOfShape values stored as float16 (one also kept as float32
   * counts once).
   */
  convertedInitializers: number;
  /** Main-graph nodes with float tensors that now compute in float16. */
  convertedNodes: number;
  /** Cast nodes added. */
  castsInserted: number;
  /** Nodes with float32 inputs or outputs that stay float32, and why. */
  keptFloat32: { node: string; opType: string; reason: string }[];
  /**
   * Tensors with values float16 cannot hold: `count` values beyond ±65504 (stored as ±65504), `maxAbs` the largest
   * magnitude in the tensor, `flushed` nonzero values below half the smallest float16 subnormal (~2.98e-8), which
   * became zero.
   */
  clamped: { tensor: string; count: number; maxAbs: number; flushed: number }[];
  /** Bytes of the main graph's initializers and Constant tensors, before and after. */
  bytesBefore: number;
  bytesAfter: number;
}

// ---------------------------------------------------------------------------------------------------------------
// IEEE 754 half precision

/** The largest finite float16 value. */
export const FLOAT16_MAX = 65504;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The float16 bit pattern nearest to `value` (first rounded to float32, as float32 data already is), rounding to
 * nearest with ties to even as IEEE 754 does: subnormals kept, values from 65520 up become infinity, NaN stays a
 * (quiet) NaN with its sign. For tensors see toFloat16Array, which clamps instead of overflowing.
 */
export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  if (exp > 142) return sign | 0x7c00; // 2^16 and up
  if (exp >= 113) {
    // Normal in float16: rebias the exponent (127 → 15), keep 10 mantissa bits, round on the 13 dropped.
    const h = sign | ((exp - 112) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    // A carry out of the mantissa moves into the exponent, which is the right result (up to infinity).
    return rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1) ? h + 1 : h;
  }
  if (exp < 102) return sign; // below 2^-25: rounds to zero
  // Subnormal in float16: value = m · 2^(exp − 150) with the implicit bit, in units of 2^-24.
  const m = mant | 0x800000;
  const shift = 126 - exp; // 14..24
  let h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1) === 1)) h++;
  return sign | h;
}

let halfTable: Float64Array | undefined;

/** The value of a float16 bit pattern (from a table of all 65536, built on first use). */
export function float16BitsToNumber(bits: number): number {
  if (!halfTable) {
    halfTable = new Float64Array(65536);
    for (let b = 0; b < 65536; b++) halfTable[b] = decodeHalf(b);
  }
  return halfTable[bits & 0xffff] ?? NaN;
}

function decodeHalf(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

export interface Float16Conversion {
  bits: Uint16Array;
  /** Finite values beyond ±65504, stored as ±65504. */
  clamped: number;
  /** Nonzero finite values that became (signed) zero. */
  flushed: number;
  /** The largest finite magnitude among the inputs. */
  maxAbs: number;
}

/** Values as float16 bit patterns, finite values beyond ±65504 clamped to ±65504 (infinities and NaN kept). */
export function toFloat16Array(values: ArrayLike<number>): Float16Conversion {
  const bits = new Uint16Array(values.length);
  let clamped = 0;
  let flushed = 0;
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    let v = values[i]!;
    if (Number.isFinite(v)) {
      const a = Math.abs(v);
      if (a > maxAbs) maxAbs = a;
      if (a > FLOAT16_MAX) {
        clamped++;
        v = v < 0 ? -FLOAT16_MAX : FLOAT16_MAX;
      }
    }
    const h = float32ToFloat16Bits(v);
    if ((h & 0x7fff) === 0 && v !== 0 && !Number.isNaN(v)) flushed++;
    bits[i] = h;
  }
  return { bits, clamped, flushed, maxAbs };
}

function halfRawData(bits: Uint16Array): Uint8Array {
  const out = new Uint8Array(bits.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < bits.length; i++) view.setUint16(i * 2, bits[i]!, true);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Element types

// Plain numbers: element types are compared with values decoded from int64 fields and attributes.
const FLOAT: number = DataType.FLOAT;
const FLOAT16: number = DataType.FLOAT16;
const INT64: number = DataType.INT64;
const BOOL: number = DataType.BOOL;
const FLOAT_TYPES: ReadonlySet<number> = new Set([
  DataType.FLOAT,
  DataType.FLOAT16,
  DataType.DOUBLE,
  DataType.BFLOAT16,
]);
const AT = onnx.AttributeProto.AttributeType;

type Types = (number | undefined)[];

/** Ops whose outputs all have their first input's element type. */
const SAME_AS_FIRST_INPUT = new Set(
  (
    'Abs Acos Acosh Add AffineGrid Asin Asinh Atan Atanh AveragePool BatchNormalization BitShift BitwiseAnd ' +
    'BitwiseNot BitwiseOr BitwiseXor Ceil Celu CenterCropPad Clip Col2Im Compress Concat Conv ConvTranspose Cos ' +
    'Cosh CumSum DepthToSpace Det Div Einsum Elu Erf Exp Expand Flatten Floor GRU Gather GatherElements GatherND ' +
    'Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool GridSample GroupNormalization HardSigmoid HardSwish ' +
    'Hardmax Identity InstanceNormalization LRN LSTM LeakyRelu Log LogSoftmax LpNormalization LpPool MatMul Max ' +
    'MaxRoiPool MaxUnpool Mean MeanVarianceNormalization Min Mish Mod Mul Neg PRelu Pad Pow RNN Range Reciprocal ' +
    'ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum ' +
    'ReduceSumSquare Relu Reshape Resize ReverseSequence RoiAlign Round Scatter ScatterElements ScatterND Selu ' +
    'Shrink Sigmoid Sign Sin Sinh Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt Squeeze Sub Sum Tan ' +
    'Tanh ThresholdedRelu Tile Transpose Trilu Unsqueeze Upsample'
  ).split(' '),
);
const INT64_OUTPUTS = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression']);
const BOOL_OUTPUTS = new Set(
  'Equal Less LessOrEqual Greater GreaterOrEqual And Or Xor Not IsNaN IsInf'.split(' '),
);

function intAttr(node: onnx.INodeProto, name: string): number | undefined {
  const a = attribute(node, name);
  return a && (a.type === AT.INT || a.i !== undefined) ? int64(a.i) : undefined;
}

/** Declared element types of a subgraph's outputs. */
function subgraphOutputTypes(g: onnx.IGraphProto | null | undefined): Types {
  return (g?.output ?? []).map((o) => o.type?.tensorType?.elemType ?? undefined);
}

/** The element type a Constant node produces. */
function constantType(node: onnx.INodeProto): number | undefined {
  const a = node.attribute?.[0];
  switch (a?.name) {
    case 'value':
      return a.t?.dataType ?? undefined;
    case 'sparse_value':
      return a.sparseTensor?.values?.dataType ?? undefined;
    case 'value_float':
    case 'value_floats':
      return FLOAT;
    case 'value_int':
    case 'value_ints':
      return INT64;
    case 'value_string':
    case 'value_strings':
      return DataType.STRING;
    default:
      return undefined;
  }
}

/** Output element types of a default-domain node from its input types; undefined where the rules do not say. */
export function inferOutputTypes(node: onnx.INodeProto, inputs: Types): Types {
  const op = node.opType ?? '';
  const n = (node.output ?? []).length;
  const all = (t: number | undefined): Types => Array.from({ length: n }, () => t);
  if (!isDefaultDomain(node.domain)) return all(undefined);
  const dtype = intAttr(node, 'dtype');
  if (SAME_AS_FIRST_INPUT.has(op)) return all(inputs[0]);
  if (INT64_OUTPUTS.has(op)) return all(INT64);
  if (BOOL_OUTPUTS.has(op)) return all(BOOL);
  switch (op) {
    case 'Constant':
      return all(constantType(node));
    case 'Cast':
      return all(intAttr(node, 'to'));
    case 'CastLike':
      return all(inputs[1]);
    case 'ConstantOfShape':
      return all(attribute(node, 'value')?.t?.dataType ?? FLOAT);
    case 'EyeLike':
    case 'RandomNormalLike':
    case 'RandomUniformLike':
    case 'Bernoulli':
      return all(dtype ?? inputs[0]);
    case 'RandomNormal':
    case 'RandomUniform':
      return all(dtype ?? FLOAT);
    case 'Multinomial':
      return all(dtype ?? DataType.INT32);
    case 'Where':
      return all(inputs[1]);
    case 'OneHot':
      return all(inputs[2]);
    case 'TopK':
      return [inputs[0], INT64];
    case 'MaxPool':
      return [inputs[0], INT64];
    case 'Dropout':
      return [inputs[0], BOOL];
    case 'Unique':
      return [inputs[0], INT64, INT64, INT64];
    case 'LayerNormalization': {
      const stash = intAttr(node, 'stash_type') ?? FLOAT;
      return [inputs[0], stash, stash];
    }
    case 'QuantizeLinear':
      return all(intAttr(node, 'output_dtype') || inputs[2] || DataType.UINT8);
    case 'DequantizeLinear':
      return all(inputs[1]);
    case 'DynamicQuantizeLinear':
      return [DataType.UINT8, FLOAT, DataType.UINT8];
    case 'MatMulInteger':
    case 'ConvInteger':
      return all(DataType.INT32);
    case 'QLinearConv':
    case 'QLinearMatMul':
      return all(inputs[7]);
    case 'If':
      return subgraphOutputTypes(attribute(node, 'then_branch')?.g);
    case 'Loop':
      return subgraphOutputTypes(attribute(node, 'body')?.g).slice(1);
    case 'Scan':
      return subgraphOutputTypes(attribute(node, 'body')?.g);
    default:
      return all(undefined);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Which nodes run in float16

/** Ops the ONNX spec (or onnxruntime) runs on float32 only: kept float32 whatever blockOps says. */
const SPEC_FLOAT32_OPS = new Map<string, string>([
  ['NonMaxSuppression', 'NonMaxSuppression takes float32 boxes and scores only'],
  ['Range', 'ONNX has no float16 Range'],
  ['RandomNormal', 'onnxruntime has no float16 RandomNormal kernel'],
  ['RandomUniform', 'onnxruntime has no float16 RandomUniform kernel'],
  ['DynamicQuantizeLinear', 'DynamicQuantizeLinear takes float32 input only'],
  ['QuantizeLinear', 'quantization ops keep their float32 scales and inputs'],
  ['DequantizeLinear', 'quantization ops keep their float32 scales and outputs'],
]);

/** Why each default-blocked op is blocked, for the report. */
const BLOCK_REASONS: Readonly<Record<string, string>> = {
  RoiAlign: 'pixel box coordinates lose precision in float16',
  Exp: 'exp(x) exceeds float16’s ±65504 for x > 11.1',
  Pow: 'x^y can exceed float16’s ±65504 (x² for |x| > 256)',
  ReduceSumSquare: 'sums of squares can exceed float16’s ±65504',
  ReduceProd: 'products can exceed float16’s ±65504',
  CumSum: 'running sums can exceed float16’s ±65504 and lose precision',
};
/** Ops whose float output type comes from a dtype attribute (when it is set). */
const DTYPE_OPS = ['EyeLike', 'RandomNormalLike', 'RandomUniformLike', 'Bernoulli'];

/** Ops whose (blocked, float32) result may lie beyond float16's range. */
const OVERFLOW_PRONE = new Set(['Exp', 'Pow', 'ReduceSumSquare', 'ReduceProd', 'CumSum']);
/** Ops that carry a possibly-huge float32 value on (kept float32 when fed one). */
const CARRY_ON = new Set(
  'Add Sub Mul Div Neg Abs Max Min Sum Mean ReduceSum ReduceMean ReduceMax ReduceMin ReduceL1 ReduceSumSquare Sqrt Log Reciprocal'.split(
    ' ',
  ),
);
/** Of those, the ones whose result is back in range. */
const BRINGS_BACK = new Set(['Sqrt', 'Log', 'Reciprocal']);

/** Input slots that stay float32 on a float16 node. */
function float32Slots(op: string, opset: number): readonly number[] {
  switch (op) {
    case 'Resize':
      return opset >= 11 ? [1, 2] : [1]; // roi and scales (opset 10: scales)
    case 'Upsample':
      return [1]; // scales
    case 'OneHot':
      return [1]; // depth: a count, exact in float32
    default:
      return [];
  }
}

/** Output slots that are float32 whatever the node's input type. */
function float32Outputs(node: onnx.INodeProto): readonly number[] {
  if (node.opType === 'LayerNormalization' && (intAttr(node, 'stash_type') ?? FLOAT) === FLOAT) return [1, 2];
  return [];
}

// ---------------------------------------------------------------------------------------------------------------
// The conversion

function castNode(name: string, input: string, output: string, to: Precision): onnx.INodeProto {
  return {
    name,
    opType: 'Cast',
    input: [input],
    output: [output],
    attribute: [{ name: 'to', type: AT.INT, i: to === 16 ? FLOAT16 : FLOAT }],
  };
}

function label(node: onnx.INodeProto, index: number): string {
  return node.name || `${node.opType ?? '?'}#${index}(${node.output?.[0] ?? ''})`;
}

/** The float32 tensor a Constant node holds (value / value_float / value_floats), or undefined. */
function constantFloatTensor(node: onnx.INodeProto): onnx.ITensorProto | undefined {
  if (node.opType !== 'Constant' || !isDefaultDomain(node.domain)) return undefined;
  const a = node.attribute?.[0];
  if (!a || (node.attribute ?? []).length !== 1) return undefined;
  if (a.name === 'value' && a.t && a.t.dataType === FLOAT) return a.t;
  if (a.name === 'value_float') return { dataType: FLOAT, dims: [], floatData: [a.f ?? 0] };
  if (a.name === 'value_floats') {
    const fs = a.floats ?? [];
    return { dataType: FLOAT, dims: [fs.length], floatData: [...fs] };
  }
  return undefined;
}

type Precision = 16 | 32;

/** Where a float32 value comes from, which decides how its other-precision twin is made. */
type Source =
  /** A graph input: its declared type follows the interface, twins are Casts. */
  | { kind: 'input' }
  /** An external or sparse initializer, or an initializer listed as a graph input: float32, twins are Casts. */
  | { kind: 'fixed' }
  /** Tensors: stored in whichever precision is wanted, twins are copies (exact for float32 consumers). */
  | { kind: 'initializer'; tensor: onnx.ITensorProto }
  | { kind: 'constant'; tensor: onnx.ITensorProto; node: onnx.INodeProto }
  /**
   * A Cast to float32 on a float16 node: it can produce either precision, and its twin is a Cast from the same
   * input (or that input itself when it is float16), not a Cast of its output.
   */
  | { kind: 'cast'; node: onnx.INodeProto }
  /** Any other node output. */
  | { kind: 'node'; node: onnx.INodeProto; slot: number };

interface ValueFacts {
  source: Source;
  needs16: boolean;
  needs32: boolean;
  /** Which precision carries the value's own name. */
  canonical: Precision;
  /** The name of the other precision, once made. */
  twin?: string;
}

type ClampStats = { count: number; maxAbs: number; flushed: number };

/**
 * Converts a copy of the model to float16 (see the file comment for what stays float32 and why). The caller's
 * model is not changed.
 */
export function convertToFloat16(
  model: onnx.IModelProto,
  opts: Fp16Options = {},
): { model: onnx.ModelProto; report: Fp16Report } {
  if (!model.graph) {
    throw new AppError('MODEL_MALFORMED', 'The model has no graph: there is nothing to convert to float16.', {
      hint: 'Check that this is the .onnx model file you meant: an exported model has a graph of nodes.',
    });
  }
  const copy = cloneModel(model);
  const graph = copy.graph!;
  const keepIo = opts.keepIoTypes ?? true;
  const blockOps = new Set(opts.blockOps ?? DEFAULT_FP16_BLOCK_OPS);
  const blockNodes = new Set(opts.blockNodes ?? []);
  const opset = Number((copy.opsetImport ?? []).find((o) => isDefaultDomain(o.domain))?.version ?? 0);
  const nodes = graph.node ?? [];
  const taken = usedNames(copy);

  const report: Fp16Report = {
    convertedInitializers: 0,
    convertedNodes: 0,
    castsInserted: 0,
    keptFloat32: [],
    clamped: [],
    bytesBefore: weightBytes(graph),
    bytesAfter: 0,
  };

  // --- 1. Element types of every main-graph value.
  const types = new Map<string, number>();
  const declared = new Map<string, number>();
  for (const v of [...(graph.input ?? []), ...(graph.valueInfo ?? []), ...(graph.output ?? [])]) {
    const t = v.type?.tensorType?.elemType;
    if (v.name && t) declared.set(v.name, t);
  }
  const inputNames = new Set((graph.input ?? []).map((v) => v.name ?? ''));
  for (const v of graph.input ?? [])
    if (v.name && declared.has(v.name)) types.set(v.name, declared.get(v.name)!);
  for (const t of graph.initializer ?? []) if (t.name && t.dataType) types.set(t.name, t.dataType);
  for (const s of graph.sparseInitializer ?? [])
    if (s.values?.name && s.values.dataType) types.set(s.values.name, s.values.dataType);
  for (const node of nodes) {
    const inferred = inferOutputTypes(
      node,
      (node.input ?? []).map((i) => (i ? types.get(i) : undefined)),
    );
    (node.output ?? []).forEach((o, k) => {
      const t = declared.get(o) ?? inferred[k];
      if (o && t) types.set(o, t);
    });
  }
  const isFloat32 = (name: string | null | undefined): name is string => !!name && types.get(name) === FLOAT;
  const isIntCast = (node: onnx.INodeProto): boolean => {
    const i = node.input?.[0];
    const t = i ? types.get(i) : undefined;
    return node.opType === 'Cast' && isDefaultDomain(node.domain) && t !== undefined && !FLOAT_TYPES.has(t);
  };

  const constants = new Set<string>();
  for (const t of graph.initializer ?? []) if (t.name && !inputNames.has(t.name)) constants.add(t.name);
  for (const node of nodes)
    if (node.opType === 'Constant' && isDefaultDomain(node.domain)) constants.add(node.output?.[0] ?? '');

  // --- 2. Which nodes run in float16.
  const converted = new Set<onnx.INodeProto>();
  const fromInts = new Map<string, string>(); // float32 values computed from integers → the Cast they come from
  const huge = new Map<string, string>(); // float32 values that may exceed float16 → the op they come from

  nodes.forEach((node, index) => {
    const op = node.opType ?? '';
    const ins = (node.input ?? []).filter((i) => i);
    const outs = (node.output ?? []).filter((o) => o);
    const floatIns = ins.filter(isFloat32);
    const floatOuts = outs.filter(isFloat32);
    const name = label(node, index);
    let reason: string | undefined;
    if (!isDefaultDomain(node.domain))
      reason = `an op of domain ${node.domain ?? ''}: its float16 support is unknown`;
    else if (subgraphsOf(node).length > 0) reason = 'it holds subgraphs, which are not converted';
    else if (SPEC_FLOAT32_OPS.has(op)) reason = SPEC_FLOAT32_OPS.get(op);
    else if (node.name && blockNodes.has(node.name)) reason = 'named in blockNodes';
    else if (blockOps.has(op)) {
      const why = BLOCK_REASONS[op];
      reason = `${op} is in the block list${why ? `: ${why}` : ''}`;
    } else {
      const unknown = [...ins, ...outs].filter((x) => !types.has(x));
      if (unknown.length > 0) reason = `the element type of ${unknown.join(', ')} is unknown`;
    }

    // Float arithmetic on integers (shape computations done in float) stays float32.
    if (isIntCast(node)) {
      for (const o of floatOuts) fromInts.set(o, name);
    } else if (op !== 'Constant') {
      const fromInt = floatIns.find((i) => fromInts.has(i));
      if (fromInt !== undefined && floatIns.every((i) => fromInts.has(i) || constants.has(i))) {
        const cast = fromInts.get(fromInt)!;
        reason ??= `float arithmetic on integers (from ${cast}): float16 would round values above 2048`;
        for (const o of floatOuts) fromInts.set(o, cast);
      }
    }

    // Results that may exceed float16's range stay float32 until an op brings them back.
    const hugeIn = floatIns.find((i) => huge.has(i));
    if (reason === undefined && hugeIn !== undefined && CARRY_ON.has(op))
      reason = `it carries on the float32 result of ${huge.get(hugeIn)!}, which may exceed float16’s ±65504`;
    if (reason !== undefined) {
      let stillHuge = false;
      if (OVERFLOW_PRONE.has(op) && blockOps.has(op)) stillHuge = true;
      else if (hugeIn !== undefined && CARRY_ON.has(op)) {
        stillHuge = !BRINGS_BACK.has(op);
        if (op === 'Div') stillHuge = huge.has(node.input?.[0] ?? '') && !huge.has(node.input?.[1] ?? '');
      }
      if (stillHuge) for (const o of floatOuts) huge.set(o, `${name} (${op})`);
    }

    if (reason === undefined) converted.add(node);
    else if (op !== 'Constant' && (floatIns.length > 0 || floatOuts.length > 0))
      report.keptFloat32.push({ node: name, opType: op, reason });
  });

  // --- 3. What each float32 value needs, and which precision keeps its name.
  const subgraphRefs = allSubgraphReferences(graph);
  const outputNames = new Set((graph.output ?? []).map((v) => v.name ?? ''));
  const facts = new Map<string, ValueFacts>();
  const addFact = (name: string, source: Source): void => {
    if (!facts.has(name)) facts.set(name, { source, needs16: false, needs32: false, canonical: 32 });
  };
  const initializerNames = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  for (const v of graph.input ?? [])
    if (isFloat32(v.name))
      addFact(v.name, initializerNames.has(v.name) ? { kind: 'fixed' } : { kind: 'input' });
  for (const t of graph.initializer ?? [])
    if (isFloat32(t.name))
      addFact(
        t.name,
        isExternal(t) || !readFloats(t) ? { kind: 'fixed' } : { kind: 'initializer', tensor: t },
      );
  for (const s of graph.sparseInitializer ?? [])
    if (isFloat32(s.values?.name)) addFact(s.values.name, { kind: 'fixed' });
  for (const node of nodes) {
    const tensor = constantFloatTensor(node);
    // A float16 Cast can produce either precision exactly, from whatever it gets.
    const flexibleCast = node.opType === 'Cast' && converted.has(node);
    (node.output ?? []).forEach((o, slot) => {
      if (!isFloat32(o)) return;
      if (tensor && readFloats(tensor)) addFact(o, { kind: 'constant', tensor, node });
      else if (flexibleCast) addFact(o, { kind: 'cast', node });
      else addFact(o, { kind: 'node', node, slot });
    });
  }
  /** The precision a node reads an input in; 'any' for a float16 Cast, which takes either. */
  const wants = (node: onnx.INodeProto, slot: number): Precision | 'any' => {
    if (!converted.has(node)) return 32;
    if (node.opType === 'Cast') return 'any';
    return float32Slots(node.opType ?? '', opset).includes(slot) ? 32 : 16;
  };
  for (const node of nodes)
    (node.input ?? []).forEach((i, slot) => {
      const f = isFloat32(i) ? facts.get(i) : undefined;
      const want = wants(node, slot);
      if (!f || want === 'any') return;
      if (want === 16) f.needs16 = true;
      else f.needs32 = true;
    });
  /** The precision a node output comes out in. */
  const nodeOutputPrecision = (node: onnx.INodeProto, slot: number): Precision =>
    converted.has(node) && node.opType !== 'Constant' && !float32Outputs(node).includes(slot) ? 16 : 32;
  for (const [name, f] of facts) {
    const flexible =
      f.source.kind === 'initializer' || f.source.kind === 'constant' || f.source.kind === 'cast';
    if (f.source.kind === 'fixed' || subgraphRefs.has(name)) f.canonical = 32;
    else if (inputNames.has(name) || outputNames.has(name)) f.canonical = keepIo ? 32 : 16;
    else if (flexible) f.canonical = f.needs16 && !f.needs32 ? 16 : 32;
    else if (f.source.kind === 'node') f.canonical = nodeOutputPrecision(f.source.node, f.source.slot);
  }

  // --- 4. Rewrite: tensors first, then the nodes in order with their Casts right after the producer.
  const newInitializers: onnx.ITensorProto[] = [];
  const convertedTensors = new Set<onnx.ITensorProto>();
  const clampedBy = new Map<string, ClampStats>();
  const toHalf = (t: onnx.ITensorProto, name: string): onnx.ITensorProto => {
    const conv = toFloat16Array(readFloats(t)!);
    if (conv.clamped > 0 || conv.flushed > 0)
      clampedBy.set(name, { count: conv.clamped, maxAbs: conv.maxAbs, flushed: conv.flushed });
    if (!convertedTensors.has(t)) {
      convertedTensors.add(t);
      report.convertedInitializers++;
    }
    const half: onnx.ITensorProto = {
      name,
      dims: t.dims ?? [],
      dataType: FLOAT16,
      rawData: halfRawData(conv.bits),
    };
    if (t.docString) half.docString = t.docString;
    return half;
  };
  const addCast = (list: onnx.INodeProto[], from: string, to: string, precision: Precision): void => {
    list.push(castNode(uniqueName(`${to}_cast`, taken), from, to, precision));
    report.castsInserted++;
  };
  const before: onnx.INodeProto[] = [];
  const after = new Map<onnx.INodeProto, onnx.INodeProto[]>();
  const afterOf = (node: onnx.INodeProto): onnx.INodeProto[] => {
    let list = after.get(node);
    if (!list) after.set(node, (list = []));
    return list;
  };

  for (const [name, f] of facts) {
    const s = f.source;
    const other: Precision = f.canonical === 16 ? 32 : 16;
    const otherNeeded = other === 16 ? f.needs16 : f.needs32;
    if (s.kind === 'input' || s.kind === 'fixed') {
      if (otherNeeded) addCast(before, name, (f.twin = uniqueName(`${name}_fp${other}`, taken)), other);
    } else if (s.kind === 'initializer' || s.kind === 'constant') {
      const twin = otherNeeded ? uniqueName(`${name}_fp${other}`, taken) : undefined;
      const original: onnx.ITensorProto = { ...s.tensor };
      const half = f.canonical === 16 || twin ? toHalf(s.tensor, name) : undefined;
      const twinTensor = twin ? { ...(other === 16 ? half! : original), name: twin } : undefined;
      if (f.canonical === 16) {
        if (s.kind === 'initializer') {
          for (const k of ['floatData', 'doubleData', 'int32Data', 'int64Data'] as const) delete s.tensor[k];
          Object.assign(s.tensor, half);
        } else s.node.attribute = [{ name: 'value', type: AT.TENSOR, t: half! }];
      }
      if (twin && twinTensor) {
        f.twin = twin;
        if (s.kind === 'initializer') newInitializers.push(twinTensor);
        else
          afterOf(s.node).push({
            name: uniqueName(`${s.node.name || name}_fp${other}`, taken),
            opType: 'Constant',
            output: [twin],
            attribute: [{ name: 'value', type: AT.TENSOR, t: twinTensor }],
          });
      }
    }
  }

  const out: onnx.INodeProto[] = [...before];
  nodes.forEach((node) => {
    let changed = false; // whether this node now computes in float16
    // Inputs: each float32 input in the precision this node wants.
    (node.input ?? []).forEach((i, slot) => {
      const f = isFloat32(i) ? facts.get(i) : undefined;
      const want = wants(node, slot);
      if (f && want !== 'any' && want !== f.canonical) node.input![slot] = f.twin!;
      if (f && want === 16) changed = true;
    });
    if (converted.has(node) && convertAttributes(node, report, clampedBy)) changed = true;
    const casts = afterOf(node);
    (node.output ?? []).forEach((o, slot) => {
      const f = isFloat32(o) ? facts.get(o) : undefined;
      if (!f) return;
      const s = f.source;
      const other: Precision = f.canonical === 16 ? 32 : 16;
      const otherNeeded = other === 16 ? f.needs16 : f.needs32;
      if (s.kind === 'cast') {
        // A Cast makes either precision from its input: this one the value's own, a second Cast the twin.
        const to = attribute(node, 'to');
        if (to) to.i = f.canonical === 16 ? FLOAT16 : FLOAT;
        if (f.canonical === 16) changed = true;
        if (otherNeeded) {
          const input = node.input![0]!;
          const inputHalf = types.get(input) === FLOAT16 || facts.get(input)?.canonical === 16;
          if (inputHalf && other === 16)
            f.twin = input; // the input already is float16
          else addCast(casts, input, (f.twin = uniqueName(`${o}_fp${other}`, taken)), other);
        }
      } else if (s.kind === 'node') {
        const natural = nodeOutputPrecision(node, slot);
        if (natural === 16) changed = true;
        if (natural !== f.canonical) {
          // The node writes its precision under a new name; a Cast gives the value its own name.
          const alias = uniqueName(`${o}_fp${natural}`, taken);
          node.output![slot] = alias;
          f.twin = alias;
          addCast(casts, alias, o, f.canonical);
        } else if (otherNeeded) addCast(casts, o, (f.twin = uniqueName(`${o}_fp${other}`, taken)), other);
      }
    });
    if (changed && node.opType !== 'Constant') report.convertedNodes++;
    out.push(node, ...casts);
  });
  graph.node = out;
  graph.initializer = [...(graph.initializer ?? []), ...newInitializers];

  // Interface and value_info types.
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
    const f = v.name ? facts.get(v.name) : undefined;
    if (f && f.canonical === 16 && v.type?.tensorType) v.type.tensorType.elemType = FLOAT16;
  }

  report.clamped = [...clampedBy].map(([tensor, c]) => ({ tensor, ...c }));
  report.bytesAfter = weightBytes(graph);
  // Round-trip through the codec so what was added here is made of the codec's own message classes.
  return { model: onnx.ModelProto.decode(onnx.ModelProto.encode(copy).finish()), report };
}

/** A float16 node's float32-typed attributes (other than Cast's `to`) in float16; true when any changed. */
function convertAttributes(
  node: onnx.INodeProto,
  report: Fp16Report,
  clampedBy: Map<string, ClampStats>,
): boolean {
  const op = node.opType ?? '';
  let changed = false;
  for (const a of node.attribute ?? []) {
    if (DTYPE_OPS.includes(op) && a.name === 'dtype' && int64(a.i) === FLOAT) {
      a.i = FLOAT16;
      changed = true;
    } else if (op === 'ConstantOfShape' && a.name === 'value' && a.t?.dataType === FLOAT) {
      const values = readFloats(a.t);
      if (!values) continue;
      const conv = toFloat16Array(values);
      if (conv.clamped > 0 || conv.flushed > 0)
        clampedBy.set(`${node.name || node.output?.[0] || op}.value`, {
          count: conv.clamped,
          maxAbs: conv.maxAbs,
          flushed: conv.flushed,
        });
      a.t = { dims: a.t.dims ?? [], dataType: FLOAT16, rawData: halfRawData(conv.bits) };
      report.convertedInitializers++;
      changed = true;
    }
  }
  if (op === 'ConstantOfShape' && !attribute(node, 'value')) {
    // Without a value it makes float32 zeros: make them float16 ones.
    (node.attribute ??= []).push({
      name: 'value',
      type: AT.TENSOR,
      t: { dims: [1], dataType: FLOAT16, rawData: new Uint8Array(2) },
    });
    changed = true;
  }
  return changed;
}

/** Bytes held by the main graph's initializers and Constant tensors. */
function weightBytes(graph: onnx.IGraphProto): number {
  let bytes = 0;
  for (const t of graph.initializer ?? []) bytes += tensorByteSize(t);
  for (const n of graph.node ?? []) {
    if (n.opType !== 'Constant' || !isDefaultDomain(n.domain)) continue;
    const a = n.attribute?.[0];
    if (a?.t) bytes += tensorByteSize(a.t);
    else if (a?.name === 'value_float') bytes += 4;
    else if (a?.name === 'value_floats') bytes += 4 * (a.floats ?? []).length;
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------------
// Float16 storage of float32 weights

export interface Float16StorageOptions {
  /** Initializers with fewer elements stay float32: a Cast node costs more than it saves (default 1024). */
  minElements?: number;
  /**
   * Largest relative RMS error a tensor may take from the float16 rounding (default 1e-3; float16 rounds to about
   * 2.4e-4 relative, so only tensors with many values below float16's normal range, 6.1e-5, exceed it).
   */
  maxRelativeError?: number;
}

export interface Float16StorageResult {
  model: onnx.ModelProto;
  /** Initializers now stored as float16. */
  tensors: string[];
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * Stores the large float32 weights of a model as float16, each behind a Cast back to float32, so the file shrinks
 * while every node still computes in float32 on the same values rounded to float16. onnxruntime folds
 * Cast(initializer) into a float32 initializer when it loads the model with graph optimizations on, so inference
 * costs nothing extra. Used for the layers an INT8 build keeps float. Initializers read by Q/DQ nodes (scales)
 * or used as graph inputs, external or sparse data, and tensors float16 cannot hold (beyond ±65504, or rounding
 * off more than `maxRelativeError`) stay as they are. The input model is not changed.
 */
export function storeWeightsAsFloat16(
  model: onnx.IModelProto,
  opts: Float16StorageOptions & {
    /** Rewrite `model` itself (it must be a ModelProto the caller owns) instead of a copy. */
    inPlace?: boolean;
  } = {},
): Float16StorageResult {
  const copy = opts.inPlace ? (model as onnx.ModelProto) : cloneModel(model);
  const graph = copy.graph;
  if (!graph) throw new AppError('MODEL_MALFORMED', 'model has no graph', { hint: 'Re-export the model.' });
  const bytesBefore = weightBytes(graph);
  const minElements = opts.minElements ?? 1024;
  const maxError = opts.maxRelativeError ?? 1e-3;
  const graphInputs = new Set((graph.input ?? []).map((v) => v.name ?? ''));
  const outputs = new Set((graph.output ?? []).map((v) => v.name ?? ''));
  const readers = new Map<string, onnx.INodeProto[]>();
  for (const n of graph.node ?? [])
    for (const i of n.input ?? []) if (i) readers.set(i, [...(readers.get(i) ?? []), n]);
  const subgraphNames = allSubgraphReferences(graph);
  const taken = usedNames(copy);
  const casts: onnx.INodeProto[] = [];
  const tensors: string[] = [];
  for (const t of graph.initializer ?? []) {
    const name = t.name ?? '';
    const rs = readers.get(name) ?? [];
    if (
      t.dataType !== DataType.FLOAT ||
      isExternal(t) ||
      graphInputs.has(name) ||
      outputs.has(name) ||
      subgraphNames.has(name) ||
      rs.length === 0 ||
      rs.some(
        (n) => !isDefaultDomain(n.domain) || n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear',
      )
    )
      continue;
    const values = readFloats(t);
    if (!values || values.length < minElements) continue;
    const half = toFloat16Array(values);
    if (half.clamped > 0) continue;
    let err = 0;
    let ref = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i] ?? 0;
      const d = float16BitsToNumber(half.bits[i] ?? 0) - v;
      err += d * d;
      ref += v * v;
    }
    if (ref > 0 && Math.sqrt(err / ref) > maxError) continue;
    const stored = uniqueName(`${name}_float16`, taken);
    graph.initializer!.push(
      onnx.TensorProto.create({
        name: stored,
        dataType: FLOAT16,
        dims: t.dims ?? [],
        rawData: halfRawData(half.bits),
      }),
    );
    casts.push(castNode(uniqueName(`${name}_Cast`, taken), stored, name, 32));
    tensors.push(name);
  }
  const moved = new Set(tensors);
  graph.initializer = (graph.initializer ?? []).filter((t) => !moved.has(t.name ?? ''));
  graph.node = [...casts, ...(graph.node ?? [])];
  return { model: copy, tensors, bytesBefore, bytesAfter: weightBytes(graph) };
}
