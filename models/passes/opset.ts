/**
 * Default-domain opset upgrade (to 13 by default): every node whose operator signature or semantics changed between
 * the model's opset and the target is rewritten so the model computes exactly the same results. QDQ quantization
 * needs per-channel DequantizeLinear (opset ≥ 13), and real exports are older (PP-OCRv4 rec and PP-OCR cls are
 * opset 9, det is opset 11).
 *
 * The version history below is ONNX's own (onnx/defs/operator_sets.h: the opsets at which each schema was
 * redeclared, up to 13), and every redeclaration from 8 to 13 was checked against docs/Changelog.md. Models below
 * opset 7 are refused (onnxruntime supports opset 7 and later only; opset 7 changed broadcasting in arithmetic).
 *
 * | Change (opset)                                                  | Treatment                                    |
 * | --------------------------------------------------------------- | -------------------------------------------- |
 * | Slice (10): starts/ends/axes attributes → inputs                | int64 initializers                           |
 * | TopK (10): k attribute → K input                                | int64 [1] initializer                        |
 * | Upsample (9: scales → input; 10: deprecated)                    | Resize (asymmetric; nearest → floor)         |
 * | Resize (11): roi input, coordinate_transformation_mode, ...     | roi '', asymmetric, floor/ceil as ORT's 10   |
 * | Clip (11): min/max attributes → inputs                          | initializers of the input's element type     |
 * | Pad (11): pads/value attributes → inputs                        | int64 pads, constant_value                   |
 * | Dropout (12): ratio attribute → input                           | float32 scalar initializer                   |
 * | Dropout (10): mask output type → bool                           | refused if the mask is used, else dropped    |
 * | Scatter (11): deprecated                                        | ScatterElements (same semantics)             |
 * | BatchNormalization (9): spatial attribute removed               | spatial=1 dropped; spatial=0 refused         |
 * | Squeeze/Unsqueeze/ReduceSum axes, Split split (13): → inputs    | int64 initializers                           |
 * | Softmax, LogSoftmax, Hardmax (13): no 2-D coercion at `axis`    | axis=-1 if it is the last axis, else Shape → |
 * |                                                                 | Flatten → op(axis=1) → Reshape               |
 * | ConvTranspose (11): SAME_UPPER/SAME_LOWER odd padding swapped   | refused with auto_pad SAME_*                 |
 * | Resize (13): tf_half_pixel_for_nn removed                       | refused                                      |
 * | Scan (9): batch axis and sequence_lens removed                  | refused                                      |
 * | OneHot (11): negative indices count from the back (were all-off)| refused                                      |
 *
 * Verified compatible (new types, negative axes/indices where they used to be invalid, new attributes or optional
 * inputs whose defaults are the old behaviour, or documentation only):
 * Abs, Add, Ceil, Div, Erf, Exp, Floor, IsNaN, Log, Mul, Neg, Reciprocal, Relu, Sigmoid, Sign, Sqrt, Sub, Tanh (13,
 * types); ArgMax/ArgMin (11 negative axis, 12 select_last_index=0, 13); AveragePool (10 ceil_mode=0, 11 doc);
 * Cast (9 strings, 13); Clip (12, 13); Compress (11); Concat (11 negative axis, 13); Constant (9, 11, 12, 13);
 * Conv (11 doc); DepthToSpace (11 mode=DCR default, 13); DequantizeLinear/QuantizeLinear (13 axis only applies to a
 * 1-D scale, which 10 did not allow); Dropout (13); Equal (11, 13); Expand (13); Flatten (9, 11, 13); Gather (11
 * negative indices, 13); GatherElements (13); GatherND (12 batch_dims=0, 13); Gemm (9, 11 optional C, 13);
 * Greater/Less (9, 13); Identity (13); If (11, 13); LRN (13); Loop (11, 13); LpPool (11 doc); MatMul (9, 13);
 * Max/Min (8 broadcasting, 12, 13); MaxPool (8 storage_order/Indices, 10 ceil_mode/dilations, 11 doc, 12 types);
 * MaxUnpool (11); Mean/Sum (8 broadcasting, 13); MeanVarianceNormalization (13); Mod (13: floats already required
 * fmod=1); NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss (13); NonMaxSuppression (11 doc); NonZero (13);
 * PRelu (9); Pad (13); Pow (12 exponent type, 13); Reduce* (11 negative axes, 12 types, 13); Reshape (13);
 * Resize (13 optional roi/scales); ScatterElements/ScatterND (13); Shape, Size (13); Slice (11 negative axes,
 * 13); Softmax family (11 negative axis); SpaceToDepth (13); Split/Squeeze/Unsqueeze (11 negative axes); Tile (13);
 * TopK (11 largest=1/sorted=1 defaults); Transpose (13). Operators not redeclared between 8 and 13 need nothing.
 *
 * Other domains (ai.onnx.ml, com.microsoft, ...) and model-local functions keep their own opset imports and are
 * left alone. Subgraphs (If/Loop/Scan bodies) get the same treatment as the main graph.
 */
import { AppError } from '../../shared/errors.js';
import { onnx } from '../onnx/schema.js';
import { DataType, dataTypeName, int64, tensorDims } from '../onnx/tensors.js';
import {
  attribute,
  cloneModel,
  isDefaultDomain,
  readFloats,
  subgraphsOf,
  uniqueName,
  usedNames,
} from './graph.js';

/** The newest opset this pass can upgrade to: every schema change up to it is handled or refused above. */
export const MAX_UPGRADE_OPSET = 13;
/** The oldest opset it upgrades from (onnxruntime's own floor). */
export const MIN_UPGRADE_OPSET = 7;

export interface OpsetRewrite {
  /** The node's name, or its first output when it has none. */
  node: string;
  /** The operator before the rewrite (Upsample, Scatter: the new one is in `change`). */
  opType: string;
  change: string;
}

export interface UpgradeOpsetReport {
  /** Default-domain opset before. */
  from: number;
  /** Default-domain opset after (== from when the model was already at or past the target). */
  to: number;
  rewritten: OpsetRewrite[];
}

/** Opsets (≤ 13) at which each default-domain schema was (re)declared, from onnx/defs/operator_sets.h. */
const HISTORY: Readonly<Record<string, readonly number[]>> = {
  Abs: [1, 6, 13],
  Acos: [7],
  Acosh: [9],
  Add: [1, 6, 7, 13],
  And: [1, 7],
  ArgMax: [1, 11, 12, 13],
  ArgMin: [1, 11, 12, 13],
  Asin: [7],
  Asinh: [9],
  Atan: [7],
  Atanh: [9],
  AveragePool: [1, 7, 10, 11],
  BatchNormalization: [1, 6, 7, 9],
  BitShift: [11],
  Cast: [1, 6, 9, 13],
  Ceil: [1, 6, 13],
  Celu: [12],
  Clip: [1, 6, 11, 12, 13],
  Compress: [9, 11],
  Concat: [1, 4, 11, 13],
  ConcatFromSequence: [11],
  Constant: [1, 9, 11, 12, 13],
  ConstantOfShape: [9],
  Conv: [1, 11],
  ConvInteger: [10],
  ConvTranspose: [1, 11],
  Cos: [7],
  Cosh: [9],
  CumSum: [11],
  DepthToSpace: [1, 11, 13],
  DequantizeLinear: [10, 13],
  Det: [11],
  Div: [1, 6, 7, 13],
  Dropout: [1, 6, 7, 10, 12, 13],
  DynamicQuantizeLinear: [11],
  Einsum: [12],
  Elu: [1, 6],
  Equal: [1, 7, 11, 13],
  Erf: [9, 13],
  Exp: [1, 6, 13],
  Expand: [8, 13],
  EyeLike: [9],
  Flatten: [1, 9, 11, 13],
  Floor: [1, 6, 13],
  GRU: [1, 3, 7],
  Gather: [1, 11, 13],
  GatherElements: [11, 13],
  GatherND: [11, 12, 13],
  Gemm: [1, 6, 7, 9, 11, 13],
  GlobalAveragePool: [1],
  GlobalLpPool: [1, 2],
  GlobalMaxPool: [1],
  Greater: [1, 7, 9, 13],
  GreaterOrEqual: [12],
  HardSigmoid: [1, 6],
  Hardmax: [1, 11, 13],
  Identity: [1, 13],
  If: [1, 11, 13],
  InstanceNormalization: [1, 6],
  IsInf: [10],
  IsNaN: [9, 13],
  LRN: [1, 13],
  LSTM: [1, 7],
  LeakyRelu: [1, 6],
  Less: [1, 7, 9, 13],
  LessOrEqual: [12],
  Log: [1, 6, 13],
  LogSoftmax: [1, 11, 13],
  Loop: [1, 11, 13],
  LpNormalization: [1],
  LpPool: [1, 2, 11],
  MatMul: [1, 9, 13],
  MatMulInteger: [10],
  Max: [1, 6, 8, 12, 13],
  MaxPool: [1, 8, 10, 11, 12],
  MaxRoiPool: [1],
  MaxUnpool: [9, 11],
  Mean: [1, 6, 8, 13],
  MeanVarianceNormalization: [9, 13],
  Min: [1, 6, 8, 12, 13],
  Mod: [10, 13],
  Mul: [1, 6, 7, 13],
  Multinomial: [7],
  Neg: [1, 6, 13],
  NegativeLogLikelihoodLoss: [12, 13],
  NonMaxSuppression: [10, 11],
  NonZero: [9, 13],
  Not: [1],
  OneHot: [9, 11],
  Or: [1, 7],
  PRelu: [1, 6, 7, 9],
  Pad: [1, 2, 11, 13],
  Pow: [1, 7, 12, 13],
  QLinearConv: [10],
  QLinearMatMul: [10],
  QuantizeLinear: [10, 13],
  RNN: [1, 7],
  RandomNormal: [1],
  RandomNormalLike: [1],
  RandomUniform: [1],
  RandomUniformLike: [1],
  Range: [11],
  Reciprocal: [1, 6, 13],
  ReduceL1: [1, 11, 13],
  ReduceL2: [1, 11, 13],
  ReduceLogSum: [1, 11, 13],
  ReduceLogSumExp: [1, 11, 13],
  ReduceMax: [1, 11, 12, 13],
  ReduceMean: [1, 11, 13],
  ReduceMin: [1, 11, 12, 13],
  ReduceProd: [1, 11, 13],
  ReduceSum: [1, 11, 13],
  ReduceSumSquare: [1, 11, 13],
  Relu: [1, 6, 13],
  Reshape: [1, 5, 13],
  Resize: [10, 11, 13],
  ReverseSequence: [10],
  RoiAlign: [10],
  Round: [11],
  Scan: [8, 9, 11],
  Scatter: [9, 11],
  ScatterElements: [11, 13],
  ScatterND: [11, 13],
  Selu: [1, 6],
  SequenceAt: [11],
  SequenceConstruct: [11],
  SequenceEmpty: [11],
  SequenceErase: [11],
  SequenceInsert: [11],
  SequenceLength: [11],
  Shape: [1, 13],
  Shrink: [9],
  Sigmoid: [1, 6, 13],
  Sign: [9, 13],
  Sin: [7],
  Sinh: [9],
  Size: [1, 13],
  Slice: [1, 10, 11, 13],
  Softmax: [1, 11, 13],
  SoftmaxCrossEntropyLoss: [12, 13],
  Softplus: [1],
  Softsign: [1],
  SpaceToDepth: [1, 13],
  Split: [1, 2, 11, 13],
  SplitToSequence: [11],
  Sqrt: [1, 6, 13],
  Squeeze: [1, 11, 13],
  StringNormalizer: [10],
  Sub: [1, 6, 7, 13],
  Sum: [1, 6, 8, 13],
  Tan: [7],
  Tanh: [1, 6, 13],
  TfIdfVectorizer: [9],
  ThresholdedRelu: [10],
  Tile: [1, 6, 13],
  TopK: [1, 10, 11],
  Transpose: [1, 13],
  Unique: [11],
  Unsqueeze: [1, 11, 13],
  Upsample: [1, 7, 9, 10],
  Where: [9],
  Xor: [1, 7],
};

/** The schema version a node of `op` has in a model at `opset`; undefined when the operator does not exist there. */
function schemaVersion(op: string, opset: number): number | undefined {
  const versions = Object.hasOwn(HISTORY, op) ? HISTORY[op] : undefined;
  let found: number | undefined;
  for (const v of versions ?? []) if (v <= opset) found = v;
  return found;
}

// ---------------------------------------------------------------------------------------------------------------
// What is known about each value: rank and element type (from value_info, initializers, and a forward walk).

interface Fact {
  rank?: number;
  elem?: number;
  /** For a 1-D integer tensor: its length (a shape vector's length is the rank of what it shapes). */
  len?: number;
}

const UNARY = new Set([
  'Abs', 'Acos', 'Acosh', 'Asin', 'Asinh', 'Atan', 'Atanh', 'AveragePool', 'BatchNormalization', 'Ceil', 'Celu',
  'Clip', 'Conv', 'ConvTranspose', 'Cos', 'Cosh', 'CumSum', 'DepthToSpace', 'Dropout', 'Elu', 'Erf', 'Exp', 'Floor',
  'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'HardSigmoid', 'Hardmax', 'Identity', 'InstanceNormalization',
  'LRN', 'LeakyRelu', 'Log', 'LogSoftmax', 'LpNormalization', 'LpPool', 'MaxPool', 'MeanVarianceNormalization', 'Neg',
  'PRelu', 'Pad', 'Reciprocal', 'Relu', 'Resize', 'Round', 'Selu', 'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh',
  'Softmax', 'Softplus', 'Softsign', 'SpaceToDepth', 'Split', 'Sqrt', 'Tan', 'Tanh', 'ThresholdedRelu', 'Tile', 'TopK',
  'Upsample',
]); // prettier-ignore
/** Broadcasting ops: output rank is the largest input rank; element type is the first input's. */
const BROADCAST = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Mod',
  'Max',
  'Min',
  'Mean',
  'Sum',
  'BitShift',
]);
const PREDICATE = new Set(['And', 'Or', 'Xor', 'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual']);

class Facts {
  private readonly own = new Map<string, Fact>();
  constructor(private readonly parent?: Facts) {}
  get(name: string | null | undefined): Fact {
    if (!name) return {};
    return this.own.get(name) ?? this.parent?.get(name) ?? {};
  }
  /** Fills in what is not known yet (declared value_info wins over inference). */
  merge(name: string | null | undefined, fact: Fact): void {
    if (!name) return;
    const cur = this.own.get(name) ?? {}; // value names are unique across scopes (SSA): no outer fact to extend
    for (const k of ['rank', 'elem', 'len'] as const)
      if (cur[k] === undefined && fact[k] !== undefined) cur[k] = fact[k];
    this.own.set(name, cur);
  }
}

function attrInt(node: onnx.INodeProto, name: string): number | undefined {
  const a = attribute(node, name);
  return a ? int64(a.i) : undefined;
}

function attrInts(node: onnx.INodeProto, name: string): unknown[] | undefined {
  const a = attribute(node, name);
  return a ? ((a.ints ?? []) as unknown[]) : undefined;
}

function attrFloat(node: onnx.INodeProto, name: string): number | undefined {
  const a = attribute(node, name);
  return a ? (a.f ?? 0) : undefined;
}

function attrString(node: onnx.INodeProto, name: string): string | undefined {
  const a = attribute(node, name);
  return a ? new TextDecoder().decode(a.s ?? new Uint8Array()) : undefined;
}

function valueFact(v: onnx.IValueInfoProto): Fact {
  const t = v.type?.tensorType;
  if (!t) return {};
  const fact: Fact = {};
  if (t.elemType) fact.elem = t.elemType;
  if (t.shape) fact.rank = (t.shape.dim ?? []).length;
  return fact;
}

function tensorFact(t: onnx.ITensorProto): Fact {
  const dims = tensorDims(t);
  const fact: Fact = { rank: dims.length };
  if (t.dataType) fact.elem = t.dataType;
  if (dims.length === 1) fact.len = dims[0];
  return fact;
}

/** Constant tensors by name: initializers and Constant-node values of this graph and the enclosing ones. */
class Consts {
  private readonly own = new Map<string, onnx.ITensorProto>();
  constructor(private readonly parent?: Consts) {}
  get(name: string | null | undefined): onnx.ITensorProto | undefined {
    if (!name) return undefined;
    return this.own.get(name) ?? this.parent?.get(name);
  }
  set(name: string, t: onnx.ITensorProto): void {
    this.own.set(name, t);
  }
  /** Shadows an outer constant (a subgraph input or value of the same name). */
  hide(name: string): void {
    this.own.delete(name);
    if (this.parent?.get(name)) this.own.set(name, { name, dataType: DataType.UNDEFINED });
  }
}

function constantNodeTensor(node: onnx.INodeProto): onnx.ITensorProto | undefined {
  const a = (node.attribute ?? [])[0];
  if ((node.attribute ?? []).length !== 1 || !a) return undefined;
  switch (a.name) {
    case 'value':
      return a.t ?? undefined;
    case 'value_float':
      return { dataType: DataType.FLOAT, dims: [], floatData: [a.f ?? 0] };
    case 'value_floats':
      return { dataType: DataType.FLOAT, dims: [(a.floats ?? []).length], floatData: [...(a.floats ?? [])] };
    case 'value_int':
      return { dataType: DataType.INT64, dims: [] };
    case 'value_ints':
      return { dataType: DataType.INT64, dims: [(a.ints ?? []).length] };
    default:
      return undefined;
  }
}

/** Number of axes given by an attribute or (opset ≥ 13 forms) a constant 1-D input. */
function axesCount(
  node: onnx.INodeProto,
  name: string,
  inputIndex: number,
  consts: Consts,
): number | undefined {
  const ints = attrInts(node, name);
  if (ints) return ints.length;
  const t = consts.get(node.input?.[inputIndex]);
  if (!t) return undefined;
  const dims = tensorDims(t);
  return dims.length === 1 ? dims[0] : undefined;
}

/** Integer values of a constant int32/int64 tensor (as numbers: exact up to 2^53, enough for clamped indices). */
function readInts(t: onnx.ITensorProto): number[] | undefined {
  const n = tensorDims(t).reduce((a, b) => a * b, 1);
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (t.dataType === DataType.INT64 && raw.length === n * 8)
      return Array.from({ length: n }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    if (t.dataType === DataType.INT32 && raw.length === n * 4)
      return Array.from({ length: n }, (_, i) => view.getInt32(i * 4, true));
    return undefined;
  }
  const typed =
    t.dataType === DataType.INT64 ? t.int64Data : t.dataType === DataType.INT32 ? t.int32Data : undefined;
  if (!typed || typed.length !== n) return undefined;
  return (typed as unknown[]).map(int64);
}

/** The length of a 1-D slice of a 1-D tensor of known length (shape arithmetic), with constant bounds, step 1. */
function sliceLength(node: onnx.INodeProto, x: Fact, consts: Consts): number | undefined {
  if (x.rank !== 1 || x.len === undefined) return undefined;
  const ints = (attr: string, index: number): number[] | undefined => {
    const a = attrInts(node, attr);
    if (a) return a.map(int64);
    const t = consts.get(node.input?.[index]);
    return t ? readInts(t) : undefined;
  };
  const starts = ints('starts', 1);
  const ends = ints('ends', 2);
  const axes = ints('axes', 3) ?? [0];
  const steps = node.input?.[4] ? ints('', 4) : [1];
  if (starts?.length !== 1 || ends?.length !== 1 || axes.length !== 1 || (axes[0] !== 0 && axes[0] !== -1))
    return undefined;
  if (steps?.length !== 1 || steps[0] !== 1) return undefined;
  const len = x.len;
  const clamp = (v: number): number => Math.min(Math.max(v < 0 ? v + len : v, 0), len);
  return Math.max(0, clamp(ends[0]!) - clamp(starts[0]!));
}

function inferNode(node: onnx.INodeProto, facts: Facts, consts: Consts): void {
  const op = node.opType ?? '';
  const ins = (node.input ?? []).map((i) => facts.get(i));
  const outs = node.output ?? [];
  const x = ins[0] ?? {};
  const set = (i: number, fact: Fact): void => facts.merge(outs[i], fact);
  const allRanks = (list: Fact[]): number[] | undefined =>
    list.every((f) => f.rank !== undefined) ? list.map((f) => f.rank!) : undefined;
  const sameAs = (fact: Fact): Fact => ({
    ...(fact.rank !== undefined ? { rank: fact.rank } : {}),
    ...(fact.elem !== undefined ? { elem: fact.elem } : {}),
  });
  const rankOnly = (rank: number | undefined, elem?: number): Fact => ({
    ...(rank !== undefined && rank >= 0 ? { rank } : {}),
    ...(elem !== undefined ? { elem } : {}),
  });

  if (op === 'Constant') {
    const t = constantNodeTensor(node);
    if (t) set(0, tensorFact(t));
    return;
  }
  if (UNARY.has(op)) {
    set(0, sameAs(x));
    if (op === 'Split') outs.forEach((_, i) => set(i, sameAs(x)));
    if (op === 'TopK') set(1, rankOnly(x.rank, DataType.INT64));
    if (op === 'MaxPool') set(1, rankOnly(x.rank, DataType.INT64));
    return;
  }
  if (BROADCAST.has(op) || PREDICATE.has(op)) {
    const ranks = allRanks(ins);
    set(0, rankOnly(ranks ? Math.max(...ranks) : undefined, PREDICATE.has(op) ? DataType.BOOL : x.elem));
    return;
  }
  switch (op) {
    case 'Not':
    case 'IsNaN':
    case 'IsInf':
      set(0, rankOnly(x.rank, DataType.BOOL));
      return;
    case 'Where': {
      const ranks = allRanks(ins);
      set(0, rankOnly(ranks ? Math.max(...ranks) : undefined, ins[1]?.elem));
      return;
    }
    case 'Cast':
      set(0, rankOnly(x.rank, attrInt(node, 'to')));
      if (x.len !== undefined) facts.merge(outs[0], { len: x.len });
      return;
    case 'Shape':
      set(0, { rank: 1, elem: DataType.INT64, ...(x.rank !== undefined ? { len: x.rank } : {}) });
      return;
    case 'Size':
      set(0, { rank: 0, elem: DataType.INT64 });
      return;
    case 'Flatten':
    case 'Gemm':
      set(0, rankOnly(2, x.elem));
      return;
    case 'MatMul': {
      const a = x.rank;
      const b = ins[1]?.rank;
      let r: number | undefined;
      if (a !== undefined && b !== undefined)
        r = a === 1 && b === 1 ? 0 : a === 1 ? b - 1 : b === 1 ? a - 1 : Math.max(a, b);
      set(0, rankOnly(r, x.elem));
      return;
    }
    case 'Transpose': {
      const perm = attrInts(node, 'perm');
      set(0, rankOnly(perm && perm.length > 0 ? perm.length : x.rank, x.elem));
      return;
    }
    case 'Concat': {
      const known = ins.find((f) => f.rank !== undefined);
      set(0, rankOnly(known?.rank, x.elem));
      const lens = ins.map((f) => f.len);
      if (known?.rank === 1 && lens.every((l) => l !== undefined))
        facts.merge(outs[0], { len: lens.reduce<number>((sum, l) => sum + (l ?? 0), 0) });
      return;
    }
    case 'Reshape':
      set(0, rankOnly(ins[1]?.len, x.elem));
      return;
    case 'Expand': {
      const len = ins[1]?.len;
      set(0, rankOnly(len !== undefined && x.rank !== undefined ? Math.max(len, x.rank) : undefined, x.elem));
      return;
    }
    case 'ConstantOfShape': {
      const t = attribute(node, 'value')?.t;
      set(0, rankOnly(x.len, t?.dataType ?? DataType.FLOAT));
      return;
    }
    case 'Squeeze': {
      const n = axesCount(node, 'axes', 1, consts);
      set(0, rankOnly(n !== undefined && x.rank !== undefined ? x.rank - n : undefined, x.elem));
      return;
    }
    case 'Unsqueeze': {
      const n = axesCount(node, 'axes', 1, consts);
      set(0, rankOnly(n !== undefined && x.rank !== undefined ? x.rank + n : undefined, x.elem));
      if (n === 1 && x.rank === 0) facts.merge(outs[0], { len: 1 });
      return;
    }
    case 'Gather': {
      const q = ins[1]?.rank;
      set(0, rankOnly(x.rank !== undefined && q !== undefined ? x.rank + q - 1 : undefined, x.elem));
      return;
    }
    case 'Slice': {
      set(0, sameAs(x));
      const len = sliceLength(node, x, consts);
      if (len !== undefined) facts.merge(outs[0], { len });
      return;
    }
    case 'GatherElements':
      set(0, rankOnly(ins[1]?.rank, x.elem));
      return;
    case 'ArgMax':
    case 'ArgMin': {
      const keep = attrInt(node, 'keepdims') ?? 1;
      set(0, rankOnly(x.rank !== undefined ? (keep ? x.rank : x.rank - 1) : undefined, DataType.INT64));
      return;
    }
    default:
      break;
  }
  if (op.startsWith('Reduce')) {
    const keep = attrInt(node, 'keepdims') ?? 1;
    let r: number | undefined;
    if (x.rank !== undefined) {
      if (keep) r = x.rank;
      else {
        const n = axesCount(node, 'axes', 1, consts);
        r = n === undefined ? undefined : n === 0 ? 0 : x.rank - n;
      }
    }
    set(0, rankOnly(r, x.elem));
  }
}

/** Facts and constants of one graph, given those of the enclosing graph (for a subgraph). */
function analyzeGraph(
  g: onnx.IGraphProto,
  outerFacts?: Facts,
  outerConsts?: Consts,
): { facts: Facts; consts: Consts } {
  const facts = new Facts(outerFacts);
  const consts = new Consts(outerConsts);
  for (const v of g.input ?? []) consts.hide(v.name ?? '');
  for (const v of [...(g.input ?? []), ...(g.valueInfo ?? []), ...(g.output ?? [])])
    facts.merge(v.name, valueFact(v));
  const inputNames = new Set((g.input ?? []).map((v) => v.name ?? ''));
  for (const t of g.initializer ?? []) {
    if (!t.name) continue;
    facts.merge(t.name, tensorFact(t));
    // An initializer that is also a graph input can be overridden at run time: not a constant.
    if (!inputNames.has(t.name)) consts.set(t.name, t);
  }
  for (const n of g.node ?? []) {
    for (const o of n.output ?? []) if (o) consts.hide(o);
    if (n.opType === 'Constant' && isDefaultDomain(n.domain) && n.output?.[0]) {
      const t = constantNodeTensor(n);
      if (t) consts.set(n.output[0], t);
    }
    if (isDefaultDomain(n.domain)) inferNode(n, facts, consts);
  }
  return { facts, consts };
}

// ---------------------------------------------------------------------------------------------------------------
// Tensors for the new inputs.

const AT = onnx.AttributeProto.AttributeType;

/** An int64 field (Long, number, bigint or string) as an exact bigint (a Long's 64 bits, not a rounded double). */
function toBigInt(v: unknown): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string') return BigInt(v);
  if (v !== null && typeof v === 'object') {
    const l = v as { low?: unknown; high?: unknown; unsigned?: unknown };
    if (typeof l.low === 'number' && typeof l.high === 'number') {
      const bits = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
      return l.unsigned === true ? bits : BigInt.asIntN(64, bits);
    }
  }
  return BigInt(int64(v));
}

function int64Tensor(
  name: string,
  values: readonly bigint[],
  dims: number[] = [values.length],
): onnx.ITensorProto {
  const data = BigInt64Array.from(values);
  return { name, dataType: DataType.INT64, dims, rawData: new Uint8Array(data.buffer) };
}

/** float32 → IEEE half bits, round to nearest even (what numpy's astype(float16) does). */
function toHalfBits(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // a carry rounds up into the exponent, correctly
  return sign | half;
}

/** A scalar of a floating element type (float32 when the type is unknown or not floating). */
function floatScalar(name: string, value: number, elem: number | undefined): onnx.ITensorProto {
  if (elem === DataType.DOUBLE) {
    return {
      name,
      dataType: DataType.DOUBLE,
      dims: [],
      rawData: new Uint8Array(new Float64Array([value]).buffer),
    };
  }
  if (elem === DataType.FLOAT16) {
    return {
      name,
      dataType: DataType.FLOAT16,
      dims: [],
      rawData: new Uint8Array(new Uint16Array([toHalfBits(value)]).buffer),
    };
  }
  return {
    name,
    dataType: DataType.FLOAT,
    dims: [],
    rawData: new Uint8Array(new Float32Array([value]).buffer),
  };
}

function floatVector(name: string, values: readonly number[]): onnx.ITensorProto {
  return {
    name,
    dataType: DataType.FLOAT,
    dims: [values.length],
    rawData: new Uint8Array(Float32Array.from(values).buffer),
  };
}

function removeAttributes(node: onnx.INodeProto, ...names: string[]): void {
  node.attribute = (node.attribute ?? []).filter((a) => !names.includes(a.name ?? ''));
}

function setAttribute(node: onnx.INodeProto, a: onnx.IAttributeProto): void {
  removeAttributes(node, a.name ?? '');
  node.attribute = [...(node.attribute ?? []), a];
}

const intAttr = (name: string, i: number): onnx.IAttributeProto => ({ name, type: AT.INT, i });
const stringAttr = (name: string, s: string): onnx.IAttributeProto => ({
  name,
  type: AT.STRING,
  s: new TextEncoder().encode(s),
});

// ---------------------------------------------------------------------------------------------------------------
// The pass.

interface Problem {
  node: string;
  opType: string;
  reason: string;
}

interface Ctx {
  from: number;
  target: number;
  taken: Set<string>;
  rewritten: OpsetRewrite[];
  problems: Problem[];
  /** Values some node (in any graph) consumes, and graph outputs: for "is this output used?". */
  used: Set<string>;
}

/** One node being upgraded, with what its rewrite needs. */
interface Site {
  ctx: Ctx;
  graph: onnx.IGraphProto;
  facts: Facts;
  consts: Consts;
  node: onnx.INodeProto;
  /** The schema version the node has at the model's opset. */
  from: number;
  /** Its inputs before any rewrite. */
  inputs: string[];
  /** Descriptions of what was changed. */
  changes: string[];
  /** Initializers to add to the node's graph. */
  added: onnx.ITensorProto[];
}

function label(node: onnx.INodeProto): string {
  return node.name || node.output?.[0] || node.opType || '?';
}

/** Does the upgrade cross the redeclaration of the node's operator at `version`? */
function crosses(s: Site, version: number): boolean {
  return s.from < version && version <= s.ctx.target;
}

function refuse(s: Site, reason: string): undefined {
  s.ctx.problems.push({ node: label(s.node), opType: s.node.opType ?? '', reason });
  return undefined;
}

/** A fresh name `<node>_<suffix>`. */
function fresh(s: Site, suffix: string): string {
  return uniqueName(`${label(s.node)}_${suffix}`, s.ctx.taken);
}

/** Adds an initializer for the node; returns its name. */
function addInit(s: Site, t: onnx.ITensorProto): string {
  s.added.push(t);
  return t.name!;
}

function int64Input(s: Site, suffix: string, values: readonly unknown[], dims?: number[]): string {
  return addInit(s, int64Tensor(fresh(s, suffix), values.map(toBigInt), dims));
}

function usedValueNames(model: onnx.IModelProto): Set<string> {
  const used = new Set<string>();
  const visit = (g: onnx.IGraphProto): void => {
    for (const n of g.node ?? []) {
      for (const i of n.input ?? []) if (i) used.add(i);
      for (const s of subgraphsOf(n)) visit(s);
    }
    for (const o of g.output ?? []) if (o.name) used.add(o.name);
  };
  if (model.graph) visit(model.graph);
  return used;
}

/** Slice < 10: starts/ends/axes attributes → int64 inputs (steps left out: 1s). */
function slice(s: Site): void {
  if (!crosses(s, 10)) return;
  const n = s.node;
  const axes = attrInts(n, 'axes');
  const ins = [
    s.inputs[0] ?? '',
    int64Input(s, 'starts', attrInts(n, 'starts') ?? []),
    int64Input(s, 'ends', attrInts(n, 'ends') ?? []),
  ];
  if (axes) ins.push(int64Input(s, 'axes', axes));
  n.input = ins;
  removeAttributes(n, 'starts', 'ends', 'axes');
  s.changes.push(`starts/ends${axes ? '/axes' : ''} attributes → int64 inputs`);
}

/** TopK < 10: k attribute → int64 [1] K input. */
function topK(s: Site): void {
  if (!crosses(s, 10)) return;
  const k = attribute(s.node, 'k');
  s.node.input = [s.inputs[0] ?? '', int64Input(s, 'k', [k?.i ?? 0])];
  removeAttributes(s.node, 'k');
  s.changes.push('k attribute → int64 K input');
}

/** Clip < 11: min/max attributes → scalar inputs of the input's element type ('' for an absent min). */
function clip(s: Site): void {
  if (!crosses(s, 11)) return;
  const n = s.node;
  const elem = floatElem(s.facts.get(s.inputs[0]).elem);
  const min = attrFloat(n, 'min');
  const max = attrFloat(n, 'max');
  const ins = [s.inputs[0] ?? ''];
  if (min !== undefined || max !== undefined)
    ins.push(min === undefined ? '' : addInit(s, floatScalar(fresh(s, 'min'), min, elem)));
  if (max !== undefined) ins.push(addInit(s, floatScalar(fresh(s, 'max'), max, elem)));
  n.input = ins;
  removeAttributes(n, 'min', 'max');
  const which = [min !== undefined ? 'min' : '', max !== undefined ? 'max' : ''].filter(Boolean).join('/');
  s.changes.push(which ? `${which} attributes → ${dataTypeName(elem)} inputs` : 'no min/max attributes');
}

/** Pad < 11: pads → int64 input, value → constant_value input (left out when 0, the default). */
function pad(s: Site): void {
  if (!crosses(s, 11)) return;
  const n = s.node;
  const value = attrFloat(n, 'value');
  const mode = attrString(n, 'mode') ?? 'constant';
  const ins = [s.inputs[0] ?? '', int64Input(s, 'pads', attrInts(n, 'pads') ?? [])];
  const withValue = value !== undefined && mode === 'constant' && !Object.is(value, 0);
  if (withValue) {
    const elem = floatElem(s.facts.get(s.inputs[0]).elem);
    ins.push(addInit(s, floatScalar(fresh(s, 'value'), value, elem)));
  }
  n.input = ins;
  removeAttributes(n, 'pads', 'value');
  s.changes.push(`pads attribute → int64 input${withValue ? ', value → constant_value input' : ''}`);
}

/** Squeeze/Unsqueeze/ReduceSum (axes) and Split (split) < 13: the list attribute → int64 input. */
function listToInput(s: Site, attr: 'axes' | 'split'): void {
  if (!crosses(s, 13)) return;
  const n = s.node;
  const values = attrInts(n, attr);
  if (!values) return; // absent: Squeeze squeezes all 1s, ReduceSum reduces all, Split splits evenly, in both
  removeAttributes(n, attr);
  // An empty ReduceSum axes list meant "all axes", as an absent axes input does (noop_with_empty_axes = 0).
  if (values.length === 0 && n.opType === 'ReduceSum') {
    s.changes.push('empty axes attribute dropped');
    return;
  }
  n.input = [s.inputs[0] ?? '', int64Input(s, attr, values)];
  s.changes.push(`${attr} attribute → int64 input`);
}

function dropout(s: Site): void {
  const n = s.node;
  if (crosses(s, 10)) {
    const mask = n.output?.[1];
    if (mask) {
      if (s.ctx.used.has(mask))
        return void refuse(s, 'its mask output is used, and Dropout-10 changed the mask type to bool');
      n.output = [n.output![0]!];
      s.graph.valueInfo = (s.graph.valueInfo ?? []).filter((v) => v.name !== mask);
      s.changes.push('unused mask output dropped (its type became bool in opset 10)');
    }
  }
  if (crosses(s, 12)) {
    const ratio = attrFloat(n, 'ratio');
    if (ratio === undefined) return;
    n.input = [s.inputs[0] ?? '', addInit(s, floatScalar(fresh(s, 'ratio'), ratio, DataType.FLOAT))];
    removeAttributes(n, 'ratio');
    s.changes.push('ratio attribute → float32 input');
  }
}

function batchNormalization(s: Site): void {
  if (!crosses(s, 9)) return;
  const spatial = attrInt(s.node, 'spatial');
  if (spatial === undefined) return;
  if (spatial !== 1) return void refuse(s, 'spatial=0 (per-activation statistics) was removed in opset 9');
  removeAttributes(s.node, 'spatial');
  s.changes.push('spatial=1 attribute dropped (the only mode since opset 9)');
}

/** Resize-11/12 need a roi input (an empty tensor when unused); Resize-13 lets it be ''. */
function roiInput(s: Site): string {
  return s.ctx.target >= 13 ? '' : addInit(s, floatVector(fresh(s, 'roi'), []));
}

/**
 * Upsample-7/9 → Resize. onnxruntime runs Upsample (and Resize-10) with asymmetric coordinates, and in nearest mode
 * truncates the source coordinate along upsampled axes (Upsample scales are ≥ 1): nearest_mode=floor.
 */
function upsample(s: Site): void {
  const n = s.node;
  const attrScales = (): string => {
    const values = [...(attribute(n, 'scales')?.floats ?? [])];
    removeAttributes(n, 'scales');
    return addInit(s, floatVector(fresh(s, 'scales'), values));
  };
  if (!crosses(s, 10)) {
    if (crosses(s, 9)) {
      n.input = [s.inputs[0] ?? '', attrScales()];
      s.changes.push('scales attribute → float input');
    }
    return;
  }
  const mode = attrString(n, 'mode') ?? 'nearest';
  if (mode !== 'nearest' && mode !== 'linear') return void refuse(s, `mode=${mode} has no Resize equivalent`);
  const scales = s.from < 9 ? attrScales() : (s.inputs[1] ?? '');
  n.opType = 'Resize';
  if (!crosses(s, 11)) {
    n.input = [s.inputs[0] ?? '', scales];
    s.changes.push('→ Resize-10');
    return;
  }
  n.input = [s.inputs[0] ?? '', roiInput(s), scales];
  setAttribute(n, stringAttr('coordinate_transformation_mode', 'asymmetric'));
  if (mode === 'nearest') setAttribute(n, stringAttr('nearest_mode', 'floor'));
  s.changes.push(
    `→ Resize (roi ${s.ctx.target >= 13 ? "''" : 'empty'}, coordinate_transformation_mode=asymmetric${mode === 'nearest' ? ', nearest_mode=floor' : ''})`,
  );
}

/**
 * Resize-10 → 11: (X, scales) → (X, roi, scales) with Resize-10's asymmetric coordinates. In nearest mode
 * onnxruntime's Resize-10 rounds the source coordinate down along upsampled axes and up along downsampled ones, so
 * the scales must be constant and all on one side of 1. Resize-11 → 13: tf_half_pixel_for_nn is gone.
 */
function resize(s: Site): void {
  const n = s.node;
  if (crosses(s, 11)) {
    const mode = attrString(n, 'mode') ?? 'nearest';
    if (mode !== 'nearest' && mode !== 'linear')
      return void refuse(s, `mode=${mode} is not a Resize-10 mode`);
    let nearest: string | undefined;
    if (mode === 'nearest') {
      const t = s.consts.get(s.inputs[1]);
      const scales = t ? readFloats(t) : undefined;
      if (!scales)
        return void refuse(
          s,
          'nearest mode with non-constant scales: the rounding (floor or ceil) depends on them',
        );
      const resized = [...scales].filter((v) => v !== 1);
      if (resized.every((v) => v > 1)) nearest = 'floor';
      else if (resized.every((v) => v < 1)) nearest = 'ceil';
      else return void refuse(s, 'nearest mode that upsamples some axes and downsamples others');
    }
    n.input = [s.inputs[0] ?? '', roiInput(s), s.inputs[1] ?? ''];
    setAttribute(n, stringAttr('coordinate_transformation_mode', 'asymmetric'));
    if (nearest) setAttribute(n, stringAttr('nearest_mode', nearest));
    s.changes.push(
      `(X, scales) → (X, roi, scales), coordinate_transformation_mode=asymmetric${nearest ? `, nearest_mode=${nearest}` : ''}`,
    );
    return;
  }
  if (crosses(s, 13) && attrString(n, 'coordinate_transformation_mode') === 'tf_half_pixel_for_nn')
    refuse(s, 'coordinate_transformation_mode=tf_half_pixel_for_nn was removed in Resize-13');
}

/**
 * Softmax/LogSoftmax/Hardmax < 13 coerce the input to 2-D at `axis` (default 1); 13 works along `axis` alone. The
 * same when `axis` is the last axis; otherwise the old computation spelled out: Shape → Flatten → op(axis=1) →
 * Reshape. Returns the nodes replacing the node, or undefined to keep it.
 */
function softmax(s: Site): onnx.INodeProto[] | undefined {
  if (!crosses(s, 13)) return undefined;
  const n = s.node;
  const axis = attrInt(n, 'axis') ?? 1;
  const rank = s.facts.get(s.inputs[0]).rank;
  const ofRank = rank !== undefined ? ` of rank ${rank}` : '';
  if (axis === -1 || (rank !== undefined && (axis < 0 ? axis + rank : axis) === rank - 1)) {
    setAttribute(n, intAttr('axis', -1));
    s.changes.push(`axis ${axis} is the last axis${ofRank}: axis=-1`);
    return undefined;
  }
  const x = s.inputs[0] ?? '';
  const y = n.output?.[0] ?? '';
  const shape = uniqueName(`${x}_shape`, s.ctx.taken);
  const flat = uniqueName(`${x}_2d`, s.ctx.taken);
  const y2 = uniqueName(`${y}_2d`, s.ctx.taken);
  const domain = n.domain ? { domain: n.domain } : {};
  const shapeNode: onnx.INodeProto = {
    name: fresh(s, 'shape'),
    opType: 'Shape',
    input: [x],
    output: [shape],
    ...domain,
  };
  const flatten: onnx.INodeProto = {
    name: fresh(s, 'flatten'),
    opType: 'Flatten',
    input: [x],
    output: [flat],
    attribute: [intAttr('axis', axis)],
    ...domain,
  };
  const reshape: onnx.INodeProto = {
    name: fresh(s, 'reshape'),
    opType: 'Reshape',
    input: [y2, shape],
    output: [y],
    ...domain,
  };
  n.input = [flat];
  n.output = [y2];
  setAttribute(n, intAttr('axis', 1));
  s.changes.push(
    `axis ${axis} not known to be the last axis${rank !== undefined ? ` (rank ${rank})` : ' (rank unknown)'}: Shape → Flatten(axis=${axis}) → ${n.opType ?? ''}(axis=1) → Reshape`,
  );
  return [shapeNode, flatten, n, reshape];
}

/** Rewrites one node in place; returns the nodes that replace it when it becomes several. */
function upgradeNode(s: Site): onnx.INodeProto[] | undefined {
  const n = s.node;
  switch (n.opType) {
    case 'Slice':
      return void slice(s);
    case 'TopK':
      return void topK(s);
    case 'Clip':
      return void clip(s);
    case 'Pad':
      return void pad(s);
    case 'Squeeze':
    case 'Unsqueeze':
    case 'ReduceSum':
      return void listToInput(s, 'axes');
    case 'Split':
      return void listToInput(s, 'split');
    case 'Dropout':
      return void dropout(s);
    case 'BatchNormalization':
      return void batchNormalization(s);
    case 'Upsample':
      return void upsample(s);
    case 'Resize':
      return void resize(s);
    case 'Softmax':
    case 'LogSoftmax':
    case 'Hardmax':
      return softmax(s);
    case 'Scatter':
      if (crosses(s, 11)) {
        n.opType = 'ScatterElements';
        s.changes.push('→ ScatterElements (Scatter is deprecated since opset 11; same semantics)');
      }
      return undefined;
    case 'ConvTranspose': {
      const autoPad = attrString(n, 'auto_pad') ?? 'NOTSET';
      if (crosses(s, 11) && (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER'))
        refuse(
          s,
          `auto_pad=${autoPad}: opset 11 swapped the side SAME_UPPER/SAME_LOWER put the odd padding on`,
        );
      return undefined;
    }
    case 'Scan':
      if (crosses(s, 9)) refuse(s, 'Scan-9 removed the batch axis and the sequence_lens input');
      return undefined;
    case 'OneHot':
      if (crosses(s, 11))
        refuse(s, 'OneHot-11 counts negative indices from the back (OneHot-9 gave all off_value)');
      return undefined;
    default:
      return undefined;
  }
}

function upgradeGraph(g: onnx.IGraphProto, ctx: Ctx, outerFacts?: Facts, outerConsts?: Consts): void {
  const { facts, consts } = analyzeGraph(g, outerFacts, outerConsts);
  const nodes: onnx.INodeProto[] = [];
  const added: onnx.ITensorProto[] = [];
  for (const node of g.node ?? []) {
    for (const sub of subgraphsOf(node)) upgradeGraph(sub, ctx, facts, consts);
    const op = node.opType ?? '';
    const from = isDefaultDomain(node.domain) ? schemaVersion(op, ctx.from) : undefined;
    if (!isDefaultDomain(node.domain)) {
      nodes.push(node);
      continue;
    }
    if (from === undefined) {
      ctx.problems.push({
        node: label(node),
        opType: op,
        reason: `not an ONNX operator at opset ${ctx.from}`,
      });
      nodes.push(node);
      continue;
    }
    const site: Site = {
      ctx,
      graph: g,
      facts,
      consts,
      node,
      from,
      inputs: [...(node.input ?? [])],
      changes: [],
      added,
    };
    nodes.push(...(upgradeNode(site) ?? [node]));
    if (site.changes.length > 0)
      ctx.rewritten.push({ node: label(node), opType: op, change: site.changes.join('; ') });
  }
  g.node = nodes;
  if (added.length > 0) g.initializer = [...(g.initializer ?? []), ...added];
}

/** A floating element type for Clip/Pad scalars (the only types their pre-11 versions take); float32 otherwise. */
function floatElem(elem: number | undefined): number {
  return elem === DataType.DOUBLE || elem === DataType.FLOAT16 ? elem : DataType.FLOAT;
}

/** The IR version each opset first appeared with (onnx/helper.py VERSION_TABLE). */
const MIN_IR_FOR_OPSET: Readonly<Record<number, number>> = { 7: 3, 8: 3, 9: 4, 10: 5, 11: 6, 12: 7, 13: 7 };

function defaultOpset(model: onnx.IModelProto): number | undefined {
  let v: number | undefined;
  for (const o of model.opsetImport ?? [])
    if (isDefaultDomain(o.domain)) v = Math.max(v ?? 0, int64(o.version));
  return v;
}

/**
 * Upgrades the default-domain opset to `target` (7 to 13), rewriting every node whose operator changed signature or
 * semantics in between so the model computes the same results. The input model is not modified; a model already at
 * or past the target comes back as an unchanged copy. Throws MODEL_MALFORMED, naming the operators and nodes, when
 * an operator changed in a way this pass does not convert (or when the model is below opset 7).
 */
export function upgradeOpset(
  model: onnx.IModelProto,
  target = MAX_UPGRADE_OPSET,
): { model: onnx.ModelProto; report: UpgradeOpsetReport } {
  if (!Number.isInteger(target) || target < MIN_UPGRADE_OPSET || target > MAX_UPGRADE_OPSET) {
    throw new AppError('BAD_INPUT', `Cannot upgrade to opset ${target}.`, {
      hint: `Pick a target opset from ${MIN_UPGRADE_OPSET} to ${MAX_UPGRADE_OPSET}.`,
    });
  }
  const copy = cloneModel(model);
  const from = defaultOpset(copy);
  if (from === undefined) {
    throw new AppError('MODEL_MALFORMED', 'The model imports no default-domain (ai.onnx) opset.', {
      hint: 'Re-export the model with an explicit opset (e.g. torch.onnx.export(..., opset_version=13)).',
    });
  }
  if (from >= target) return { model: copy, report: { from, to: from, rewritten: [] } };
  if (from < MIN_UPGRADE_OPSET) {
    throw new AppError(
      'MODEL_MALFORMED',
      `The model uses opset ${from}; upgrading starts at opset ${MIN_UPGRADE_OPSET}.`,
      { hint: 'Re-export the model at opset 7 or later (the oldest opset onnxruntime supports).' },
    );
  }
  const ctx: Ctx = {
    from,
    target,
    taken: usedNames(copy),
    rewritten: [],
    problems: [],
    used: usedValueNames(copy),
  };
  if (copy.graph) upgradeGraph(copy.graph, ctx);
  if (ctx.problems.length > 0) {
    const shown = ctx.problems.slice(0, 20).map((p) => `${p.opType} '${p.node}': ${p.reason}`);
    if (ctx.problems.length > shown.length) shown.push(`… and ${ctx.problems.length - shown.length} more`);
    const ops = [...new Set(ctx.problems.map((p) => p.opType))].join(', ');
    throw new AppError(
      'MODEL_MALFORMED',
      `Cannot upgrade from opset ${from} to ${target} exactly: ${ops} changed in a way this upgrade does not convert, or are not operators of opset ${from} (${shown.join('; ')}).`,
      {
        hint: `Re-export the model at opset ${target} or later from its source framework, or keep opset ${from} and quantize per tensor.`,
      },
    );
  }
  for (const o of copy.opsetImport ?? []) if (isDefaultDomain(o.domain)) o.version = target;
  const minIr = MIN_IR_FOR_OPSET[target] ?? 7;
  if (int64(copy.irVersion) < minIr) copy.irVersion = minIr;
  return { model: copy, report: { from, to: target, rewritten: ctx.rewritten } };
}
