/**
 * Will this ONNX model run on that target, and how? A static check of the model against a target profile
 * (shared/targets.ts): operators the target's converter/parser does not take, precision and quantization rules
 * (TensorRT explicit quantization, Edge TPU full-integer), where the Edge TPU compiler would split the graph,
 * parameter memory against the device, dynamic input shapes and opset range. Pure: no Node imports, no onnxruntime.
 *
 * It predicts what the tools documented and printed in real runs; the tools themselves (trtexec, edgetpu_compiler)
 * have the last word, and their output is parsed by models/compile/.
 */
import {
  type CompatIssue,
  type CompatReport,
  type DynamicInput,
  type EdgeTpuPartition,
  type IssueCategory,
  type MemoryCheck,
  type PartitionSide,
  type Precision,
  type Severity,
  type TargetProfile,
  type UnsupportedOp,
  tensorRtVersion,
} from '../../shared/targets.js';
import { inspectModel, type ShapeDim } from '../onnx/inspect.js';
import { onnx } from '../onnx/schema.js';
import {
  DataType,
  dataTypeBits,
  elementCount,
  forEachNode,
  forEachTensor,
  int64,
  tensorDims,
} from '../onnx/tensors.js';
import { isDefaultDomain } from '../passes/graph.js';
import {
  describeNodes,
  foldGraph,
  type Folding,
  type GraphIndex,
  type IndexedNode,
  indexGraph,
  intAttr,
  intsAttr,
  nodeRef,
  opKey,
  readInts,
  stringAttr,
} from './graph-index.js';
import { analyzeQdq, dequantizedBy, type QdqInfo, quantizationFormat } from './qdq.js';

export interface CompatOptions {
  /** Default: int8 for a quantized model or the Edge TPU, fp32 otherwise. */
  precision?: Precision;
  /**
   * Edge TPU: the model reaches the compiler through Edge Console's TFLite export (models/tflite/export.ts), which
   * fixes the input sizes from the samples, lowers HardSigmoid and HardSwish to mapped MUL/ADD ops, and runs a
   * Softmax or Sigmoid at the model's end in int8 (TFLite's fixed output scale) before the final DEQUANTIZE.
   */
  tfliteExport?: boolean;
  /** The export split the model: what TFLite did not take ships as model_tail.onnx (TfliteSplit). */
  tfliteTail?: boolean;
}

/** Domains onnxruntime's CPU build has kernels for. */
const ORT_DOMAINS = new Set(['', 'ai.onnx', 'ai.onnx.ml', 'com.microsoft', 'com.microsoft.nchwc']);
const WEIGHTED_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);
const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);
const EDGETPU_SRAM_NOTE =
  'The compiler reports the real split ("On-chip memory used for caching model parameters" / "Off-chip memory used for streaming uncached model parameters"); in published compiles 7–8 MiB of the SRAM was available for parameters.';

class Issues {
  readonly list: CompatIssue[] = [];
  add(
    severity: Severity,
    category: IssueCategory,
    code: string,
    message: string,
    extra: { hint?: string; nodes?: readonly IndexedNode[] } = {},
  ): void {
    const issue: CompatIssue = { severity, category, code, message };
    if (extra.hint) issue.hint = extra.hint;
    if (extra.nodes?.length) issue.nodes = nodeRef(extra.nodes);
    this.list.push(issue);
  }
}

/** Groups unsupported nodes by (domain, op, reason). */
class Unsupported {
  private readonly groups = new Map<
    string,
    { opType: string; domain: string; reason: string; nodes: IndexedNode[] }
  >();
  add(n: IndexedNode, reason: string): void {
    const domain = n.node.domain || '';
    const key = `${domain}\u0000${n.node.opType ?? '?'}\u0000${reason}`;
    const g = this.groups.get(key) ?? { opType: n.node.opType ?? '?', domain, reason, nodes: [] };
    g.nodes.push(n);
    this.groups.set(key, g);
  }
  get size(): number {
    return this.groups.size;
  }
  list(): UnsupportedOp[] {
    return [...this.groups.values()]
      .sort((a, b) => b.nodes.length - a.nodes.length || a.opType.localeCompare(b.opType))
      .map((g) => ({ opType: g.opType, domain: g.domain, nodes: nodeRef(g.nodes), reason: g.reason }));
  }
  nodes(): IndexedNode[] {
    return [...this.groups.values()].flatMap((g) => g.nodes);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Operators
// ---------------------------------------------------------------------------------------------------------------

function checkCpuOps(model: onnx.IModelProto, unsupported: Unsupported): void {
  forEachNode(model, ({ node, index }) => {
    const domain = node.domain ?? '';
    if (!ORT_DOMAINS.has(domain)) {
      unsupported.add(
        { node, index, label: node.name || `${node.opType ?? '?'}#${index}`, key: opKey(node) },
        `custom-domain operator (${domain}): onnxruntime needs a custom-op library registered for it`,
      );
    }
  });
}

function checkTensorRtOps(
  model: onnx.IModelProto,
  ix: GraphIndex,
  target: TargetProfile,
  unsupported: Unsupported,
): void {
  const ops = target.ops!;
  const supported = new Set(ops.supported);
  const trt = tensorRtVersion(target);
  const version = `TensorRT ${target.runtime.version}`;
  forEachNode(model, ({ node, index }) => {
    const n: IndexedNode = {
      node,
      index,
      label: node.name || `${node.opType ?? '?'}#${index}`,
      key: opKey(node),
    };
    if (!isDefaultDomain(node.domain)) {
      unsupported.add(
        n,
        `custom-domain operator (${node.domain}): the ${version} ONNX parser imports it only as a plugin of that name, which must be built and loaded`,
      );
      return;
    }
    const op = node.opType ?? '?';
    if (!supported.has(op)) {
      const qop = [
        'QLinearConv',
        'QLinearMatMul',
        'ConvInteger',
        'MatMulInteger',
        'DynamicQuantizeLinear',
      ].includes(op);
      unsupported.add(
        n,
        qop
          ? `QOperator-format quantized op: TensorRT takes quantized models only in QDQ format (QuantizeLinear/DequantizeLinear around float ops)`
          : `not in the ${version} ONNX parser's operator list (${ops.source})`,
      );
      return;
    }
    if (op === 'Resize' || op === 'Upsample') {
      const mode = stringAttr(node, 'mode');
      if (mode === 'cubic')
        unsupported.add(n, `mode "cubic": ${version} resizes with nearest or linear only`);
    }
    if (trt && trt.major === 8 && trt.minor < 5 && (op === 'Conv' || op === 'ConvTranspose')) {
      const w = node.input?.[1] ?? '';
      if (w && !ix.constants.has(w) && !dequantizedBy(ix, w) && ix.producer.has(w)) {
        unsupported.add(n, `${version} requires the weights W of ${op} to be an initializer`);
      }
    }
  });
}

/** Why an Edge TPU-mapped op cannot map in this instance, or 'conditional: …' when only the compiler can tell. */
function edgeTpuInstanceProblem(
  ix: GraphIndex,
  fold: Folding,
  n: IndexedNode,
  tfliteExport = false,
): string | undefined {
  const node = n.node;
  const inputs = node.input ?? [];
  switch (n.key) {
    case 'Conv':
    case 'ConvTranspose': {
      const w = ix.constants.get(inputs[1] ?? '') ?? weightBehindDq(ix, inputs[1] ?? '');
      if (w && tensorDims(w).length !== 4) return `${tensorDims(w).length - 2}-D convolution: only 2-D maps`;
      return undefined;
    }
    case 'Div':
      return fold.constValues.has(inputs[1] ?? '')
        ? undefined
        : 'division by a tensor: DIV is not an Edge TPU operation (only division by a constant, as MUL)';
    case 'MatMul':
      return fold.constValues.has(inputs[1] ?? '')
        ? undefined
        : 'MatMul of two activations becomes BATCH_MATMUL, which the Edge TPU does not run';
    case 'Resize':
    case 'Upsample': {
      const mode = stringAttr(node, 'mode') ?? 'nearest';
      return mode === 'cubic' ? 'cubic resize: only bilinear and nearest-neighbor map' : undefined;
    }
    case 'ReduceMean':
    case 'ReduceMax':
    case 'ReduceMin':
    case 'ReduceSum': {
      let axes = intsAttr(node, 'axes');
      if (!axes && inputs[1]) {
        const t = ix.constants.get(inputs[1]);
        axes = t ? readInts(t) : undefined;
      }
      if (!axes) return 'conditional: reduction axes are not constant here; only x/y reductions map';
      if (axes.every((a) => a === 2 || a === 3)) return undefined;
      // Negative axes depend on the input rank, which the graph does not always say.
      if (axes.every((a) => a === -1 || a === -2 || a === 2 || a === 3)) {
        return `conditional: reduction over axes [${axes.join(', ')}] maps only if those are the x/y axes`;
      }
      return `reduction over axes [${axes.join(', ')}]: only x/y (axes 2, 3 of NCHW) map`;
    }
    case 'Pad': {
      const pads =
        intsAttr(node, 'pads') ?? (inputs[1] ? readInts(ix.constants.get(inputs[1]) ?? {}) : undefined);
      if (pads && pads.length === 8) {
        const nonSpatial = [0, 1, 4, 5].some((i) => (pads[i] ?? 0) !== 0);
        if (nonSpatial) return 'padding along batch or channel: only x/y padding maps';
      }
      return undefined;
    }
    case 'LSTM': {
      const dir = stringAttr(node, 'direction') ?? 'forward';
      return dir === 'bidirectional' ? 'bidirectional LSTM: only unidirectional maps' : undefined;
    }
    case 'BatchNormalization': {
      // Converters fold a BatchNormalization that follows a convolution into the convolution's weights.
      const p = ix.producer.get(inputs[0] ?? '');
      if (p && (p.key === 'Conv' || p.key === 'ConvTranspose' || p.key === 'Gemm')) return undefined;
      return 'conditional: a BatchNormalization not after a convolution maps only if the converter turns it into MUL + ADD';
    }
    case 'HardSigmoid':
      if (tfliteExport) return undefined; // exported as MUL + ADD with a fused RELU
      return 'conditional: HardSigmoid has no Edge TPU operation of its own; it maps only if the converter lowers it to mapped ops';
    default:
      return undefined;
  }
}

function weightBehindDq(ix: GraphIndex, value: string): onnx.ITensorProto | undefined {
  const dq = dequantizedBy(ix, value);
  return dq ? ix.constants.get(dq.node.input?.[0] ?? '') : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Quantization / precision
// ---------------------------------------------------------------------------------------------------------------

function checkPrecisionSupport(
  target: TargetProfile,
  precision: Precision,
  format: 'none' | 'qdq' | 'qoperator',
  issues: Issues,
): void {
  const support = target.precisions[precision];
  if (!support.supported) {
    // CPU fp16 still runs; elsewhere an unsupported precision cannot be built.
    const severity: Severity = target.kind === 'cpu' ? 'warning' : 'error';
    issues.add(
      severity,
      'precision',
      'precision-unsupported',
      `${precision} on ${target.label}: ${support.note}`,
      {
        hint:
          target.kind === 'coral'
            ? 'Quantize the model to int8 (full integer) and build for int8.'
            : target.kind === 'cpu'
              ? 'Build fp32, or int8 from a quantized model.'
              : 'Build fp16 (or fp32) for this device.',
      },
    );
  }
  if (
    format !== 'none' &&
    target.kind === 'jetson' &&
    !target.precisions.int8.supported &&
    precision !== 'int8'
  ) {
    issues.add(
      'error',
      'precision',
      'quantized-model-on-non-int8-device',
      `The model is quantized (${format.toUpperCase()}): TensorRT builds its Q/DQ layers in INT8, which ${target.label} does not support.`,
      { hint: 'Deploy the float (FP32) model and build it with --fp16.' },
    );
  }
  if (precision === 'int8' && format === 'none' && target.precisions.int8.supported) {
    if (target.kind === 'coral') {
      issues.add(
        'error',
        'precision',
        'not-quantized',
        'The model is float: the Edge TPU runs only full-integer 8-bit models.',
        {
          hint: 'Build it as static INT8 with calibration samples: the build quantizes every op and exports the full-integer TFLite model (model.tflite) edgetpu_compiler takes.',
        },
      );
    } else {
      issues.add(
        'warning',
        'precision',
        'not-quantized',
        'The model has no QuantizeLinear/DequantizeLinear nodes: an int8 build needs quantization first.',
        {
          hint:
            target.kind === 'jetson'
              ? 'Quantize it to a Q/DQ model (int8 symmetric) so TensorRT uses explicit quantization; implicit INT8 calibration is deprecated in TensorRT 10.'
              : 'Quantize it (static QDQ with calibration samples) before deploying as int8.',
        },
      );
    }
  }
  if (
    format !== 'none' &&
    precision !== 'int8' &&
    target.kind !== 'coral' &&
    target.precisions.int8.supported
  ) {
    issues.add(
      'info',
      'precision',
      'quantized-model',
      `The model is quantized (${format.toUpperCase()}); its quantized layers run in int8 whatever precision is asked for.`,
      target.kind === 'jetson'
        ? { hint: 'Build with --int8 (plus --fp16 for the layers outside Q/DQ regions).' }
        : {},
    );
  }
}

/** TensorRT explicit-quantization rules, from the onnx-tensorrt importer (QuantDequantLinearHelper). */
function checkTensorRtQdq(ix: GraphIndex, qdq: QdqInfo[], target: TargetProfile, issues: Issues): void {
  const trt = tensorRtVersion(target) ?? { major: 10, minor: 0 };
  const v = `TensorRT ${target.runtime.version}`;
  const by = (pred: (q: QdqInfo) => boolean): IndexedNode[] => qdq.filter(pred).map((q) => q.n);

  const missingZp = by((q) => q.zeroPoint === 'missing');
  if (missingZp.length) {
    if (trt.major < 10) {
      issues.add(
        'error',
        'precision',
        'qdq-missing-zero-point',
        `${v} requires 3 inputs (x, scale, zero point) for INT8 QuantizeLinear/DequantizeLinear; ${describeNodes(missingZp)} have none.`,
        { hint: 'Give every Q/DQ node an int8 zero point of 0.', nodes: missingZp },
      );
    } else {
      issues.add(
        'info',
        'precision',
        'qdq-missing-zero-point',
        `${describeNodes(missingZp)} have no zero point (ONNX default: uint8); ${v} treats them as INT8.`,
        { nodes: missingZp },
      );
    }
  }
  const uint8 = by((q) => q.elemType === 'uint8' && q.zeroPoint !== 'missing');
  if (uint8.length) {
    issues.add(
      trt.major < 10 ? 'error' : 'warning',
      'precision',
      'qdq-uint8',
      trt.major < 10
        ? `${v} takes only INT8 Q/DQ; ${describeNodes(uint8)} quantize to uint8.`
        : `${v} does not support uint8 Q/DQ; the parser warns and uses INT8 instead for ${describeNodes(uint8)}, so values above 127 steps saturate.`,
      {
        hint: 'Quantize activations as int8 symmetric (zero point 0), the TensorRT convention.',
        nodes: uint8,
      },
    );
  }
  const nonZero = by((q) => Array.isArray(q.zeroPoint) && q.zeroPoint.some((z) => z !== 0));
  if (nonZero.length) {
    issues.add(
      'error',
      'precision',
      'qdq-nonzero-zero-point',
      `TensorRT supports only symmetric quantization: the zero point must be all zeros, but ${describeNodes(nonZero)} have non-zero zero points (asymmetric quantization).`,
      {
        hint: 'Re-quantize with symmetric int8 activations (zero point 0) and symmetric per-channel weights.',
        nodes: nonZero,
      },
    );
  }
  const dynZp = by((q) => q.zeroPoint === 'dynamic');
  if (dynZp.length) {
    issues.add(
      'warning',
      'precision',
      'qdq-dynamic-zero-point',
      `The zero points of ${describeNodes(dynZp)} are not constants; TensorRT needs them to be all zeros, which cannot be checked here.`,
      { nodes: dynZp },
    );
  }
  const badScale = by((q) => q.scale !== undefined && q.scale.some((s) => !(s > 0)));
  if (badScale.length) {
    issues.add(
      'error',
      'precision',
      'qdq-scale-not-positive',
      `Scale coefficients must all be positive; ${describeNodes(badScale)} have a zero, negative or NaN scale.`,
      {
        hint: 'A zero scale usually comes from a tensor that was constant during calibration; recalibrate, or clamp scales to a small positive value.',
        nodes: badScale,
      },
    );
  }
  const perChannelActivation = by((q) => q.perChannel && !q.constantInput);
  if (perChannelActivation.length) {
    issues.add(
      'error',
      'precision',
      'qdq-per-channel-activation',
      `TensorRT quantizes activations per tensor only; ${describeNodes(perChannelActivation)} quantize an activation per channel.`,
      {
        hint: 'Use one scale per activation tensor; keep per-channel scales for weights.',
        nodes: perChannelActivation,
      },
    );
  }
  const countMismatch = by(
    (q) =>
      q.perChannel &&
      q.constantInput &&
      q.inputDims !== undefined &&
      q.scale !== undefined &&
      q.inputDims[q.axis] !== q.scale.length,
  );
  if (countMismatch.length) {
    issues.add(
      'error',
      'precision',
      'qdq-scale-count',
      `The number of scales is not equal to the number of output channels for ${describeNodes(countMismatch)}.`,
      { nodes: countMismatch },
    );
  }
  // Per-channel weight axis: TensorRT scales weights per output channel (K of KCRS for convolutions).
  const wrongAxis: IndexedNode[] = [];
  const matmulAxis: IndexedNode[] = [];
  for (const q of qdq) {
    if (q.kind !== 'DQ' || !q.perChannel || !q.constantInput) continue;
    const out = q.n.node.output?.[0] ?? '';
    for (const c of ix.consumers.get(out) ?? []) {
      const slot = (c.node.input ?? []).indexOf(out);
      if (c.key === 'Conv' && slot === 1 && q.axis !== 0) wrongAxis.push(q.n);
      if ((c.key === 'MatMul' || c.key === 'Gemm') && slot === 1 && q.inputDims?.length === 2) {
        const transB = c.key === 'Gemm' && intAttr(c.node, 'transB') === 1;
        if (q.axis !== (transB ? 0 : 1)) matmulAxis.push(q.n);
      }
    }
  }
  if (wrongAxis.length) {
    issues.add(
      'error',
      'precision',
      'qdq-weight-axis',
      `Convolution weights must be quantized per output channel (axis 0 of the KCRS weight); ${describeNodes(wrongAxis)} use another axis.`,
      { hint: 'Quantize Conv weights with axis=0.', nodes: wrongAxis },
    );
  }
  if (matmulAxis.length) {
    issues.add(
      'warning',
      'precision',
      'qdq-weight-axis',
      `MatMul/Gemm weights of ${describeNodes(matmulAxis)} are not quantized along their output-channel axis; TensorRT expects per-output-channel weight scales.`,
      { nodes: matmulAxis },
    );
  }
  // Q must feed DQ: TensorRT fuses Q/DQ pairs into the neighbouring layers.
  const unpaired = qdq
    .filter((q) => q.kind === 'Q')
    .filter((q) => {
      const out = q.n.node.output?.[0] ?? '';
      const cons = ix.consumers.get(out) ?? [];
      return ix.graphOutputs.has(out) || cons.length === 0 || cons.some((c) => c.key !== 'DequantizeLinear');
    })
    .map((q) => q.n);
  if (unpaired.length) {
    issues.add(
      'warning',
      'precision',
      'qdq-unpaired-quantize',
      `${describeNodes(unpaired)} feed something other than a DequantizeLinear; TensorRT fuses Q→DQ pairs into the surrounding layers and leaves an int8 tensor here.`,
      { nodes: unpaired },
    );
  }
  checkWeightedOpsQuantized(ix, issues, 'TensorRT runs it in FP16/FP32 instead of INT8');
}

/** Conv/Gemm/MatMul with only one of data and weight coming through a DequantizeLinear. */
function checkWeightedOpsQuantized(ix: GraphIndex, issues: Issues, consequence: string): void {
  const half: IndexedNode[] = [];
  for (const n of ix.nodes) {
    if (!WEIGHTED_OPS.has(n.key)) continue;
    const [x = '', w = ''] = n.node.input ?? [];
    const xq = dequantizedBy(ix, x) !== undefined;
    const wq = dequantizedBy(ix, w) !== undefined;
    if (xq !== wq) half.push(n);
  }
  if (half.length) {
    issues.add(
      'warning',
      'precision',
      'qdq-half-quantized',
      `${describeNodes(half)} have only one of data and weights quantized: ${consequence}.`,
      {
        hint: 'Quantize both inputs of weighted ops (Conv, ConvTranspose, Gemm, MatMul), as TensorRT’s Q/DQ placement recommendations say.',
        nodes: half,
      },
    );
  }
}

/**
 * Edge TPU full-integer rule in ONNX terms: every compute op must sit inside a Q/DQ region, i.e. its activations
 * come from DequantizeLinear nodes (or from other ops inside the region, as in Conv → Relu → QuantizeLinear) and its
 * results reach QuantizeLinear nodes; weights must come from DequantizeLinear of 8-bit constants. Returns the nodes
 * that would stay float, with why.
 */
function edgeTpuFloatNodes(ix: GraphIndex, fold: Folding, tfliteExport = false): Map<IndexedNode, string> {
  const compute = ix.nodes.filter(
    (n) => !fold.folded.has(n) && n.key !== 'QuantizeLinear' && n.key !== 'DequantizeLinear',
  );
  const isCompute = new Set(compute);
  const out = new Map<IndexedNode, string>();
  // Forward: activations come from DQ or from compute nodes whose inputs are quantized.
  const inputOk = new Set<IndexedNode>();
  for (const n of compute) {
    let why: string | undefined;
    for (const [slot, i] of (n.node.input ?? []).entries()) {
      if (!i) continue;
      if (fold.constValues.has(i)) {
        const c = ix.constants.get(i);
        if (WEIGHTED_OPS.has(n.key) && slot === 1 && c && FLOAT_TYPES.has(c.dataType ?? 0)) {
          why = 'float weights (not dequantized from int8)';
          break;
        }
        continue;
      }
      const p = producerThroughNoOps(ix, fold, i);
      if (p?.key === 'DequantizeLinear') continue;
      if (p && isCompute.has(p) && inputOk.has(p)) continue;
      why = ix.graphInputs.has(i)
        ? 'takes the float model input directly'
        : p && isCompute.has(p)
          ? `takes a float result (${p.label})`
          : 'runs in float (not inside a Q/DQ region)';
      break;
    }
    if (why) out.set(n, why);
    else inputOk.add(n);
  }
  // Backward: results must reach QuantizeLinear, possibly through other compute nodes of the region.
  const outputOk = new Set<IndexedNode>();
  for (const n of [...compute].reverse()) {
    const outs = (n.node.output ?? []).filter((o) => o);
    const ok = outs.every((o) => {
      // The TFLite export quantizes a final Softmax/Sigmoid itself (fixed output scale) and dequantizes after it.
      if (ix.graphOutputs.has(o)) return tfliteExport && (n.key === 'Softmax' || n.key === 'Sigmoid');
      const cons = consumersThroughNoOps(ix, fold, o);
      return cons.length > 0 && cons.every((c) => c.key === 'QuantizeLinear' || outputOk.has(c));
    });
    if (ok) outputOk.add(n);
    else if (!out.has(n)) out.set(n, 'its result stays float (no QuantizeLinear after it)');
  }
  return out;
}

function producerThroughNoOps(ix: GraphIndex, fold: Folding, value: string): IndexedNode | undefined {
  let p = ix.producer.get(value);
  for (
    let hops = 0;
    p && hops < 16 && fold.folded.has(p) && (p.key === 'Identity' || p.key === 'Dropout');
    hops++
  ) {
    p = ix.producer.get(p.node.input?.[0] ?? '');
  }
  return p;
}

function consumersThroughNoOps(ix: GraphIndex, fold: Folding, value: string, depth = 0): IndexedNode[] {
  const out: IndexedNode[] = [];
  for (const c of ix.consumers.get(value) ?? []) {
    if (depth < 16 && fold.folded.has(c) && (c.key === 'Identity' || c.key === 'Dropout')) {
      for (const o of c.node.output ?? []) if (o) out.push(...consumersThroughNoOps(ix, fold, o, depth + 1));
    } else out.push(c);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Edge TPU partition
// ---------------------------------------------------------------------------------------------------------------

const BIAS_SLOT_OPS = new Set(['Conv', 'ConvTranspose', 'Gemm']);

/**
 * The constants a compute node reads as parameters (through folded nodes such as DequantizeLinear of an int8
 * weight), with the bytes per element they take once quantized: 1 for weights, 4 for biases (int32).
 */
function nodeParameters(ix: GraphIndex, fold: Folding, n: IndexedNode, into: Map<string, number>): void {
  const visit = (value: string, bytesPerElement: number, depth: number): void => {
    if (depth > 32 || !value) return;
    if (ix.constants.has(value)) {
      into.set(value, bytesPerElement);
      return;
    }
    const p = ix.producer.get(value);
    if (!p || !fold.folded.has(p)) return;
    // Only the data input of a Q/DQ is a parameter; its scale and zero point become quantization metadata.
    const inputs =
      p.key === 'DequantizeLinear' || p.key === 'QuantizeLinear'
        ? [p.node.input?.[0] ?? '']
        : (p.node.input ?? []);
    for (const i of inputs) visit(i, bytesPerElement, depth + 1);
  };
  for (const [slot, i] of (n.node.input ?? []).entries()) {
    if (!fold.constValues.has(i)) continue;
    visit(i, BIAS_SLOT_OPS.has(n.key) && slot === 2 ? 4 : 1, 0);
  }
}

/** Bytes of parameters once quantized (shape constants excluded). */
function quantizedBytes(ix: GraphIndex, params: Map<string, number>): number {
  let bytes = 0;
  for (const [name, perElement] of params) {
    const t = ix.constants.get(name);
    if (!t || t.dataType === DataType.INT64 || t.dataType === DataType.STRING) continue;
    const count = elementCount(tensorDims(t));
    bytes += count * (t.dataType === DataType.INT32 ? 4 : perElement);
  }
  return bytes;
}

function side(ix: GraphIndex, fold: Folding, nodes: IndexedNode[]): PartitionSide {
  const ops = new Map<string, number>();
  const weights = new Map<string, number>();
  for (const n of nodes) {
    ops.set(n.key, (ops.get(n.key) ?? 0) + 1);
    nodeParameters(ix, fold, n, weights);
  }
  return {
    nodes: nodes.length,
    ops: [...ops]
      .map(([op, count]) => ({ op, count }))
      .sort((a, b) => b.count - a.count || a.op.localeCompare(b.op)),
    weightBytes: quantizedBytes(ix, weights),
  };
}

function edgeTpuPartition(
  ix: GraphIndex,
  fold: Folding,
  blocking: Map<IndexedNode, string>,
): { partition: EdgeTpuPartition; compute: IndexedNode[] } {
  const compute = ix.nodes.filter(
    (n) => !fold.folded.has(n) && n.key !== 'QuantizeLinear' && n.key !== 'DequantizeLinear',
  );
  const splitIndex = compute.findIndex((n) => blocking.has(n));
  const tpu = splitIndex < 0 ? compute : compute.slice(0, splitIndex);
  const cpu = splitIndex < 0 ? [] : compute.slice(splitIndex);
  const split = splitIndex < 0 ? undefined : compute[splitIndex];
  return {
    compute,
    partition: {
      splitAt: split
        ? { name: split.label, opType: split.key, index: split.index, reason: blocking.get(split) ?? '' }
        : null,
      tpu: side(ix, fold, tpu),
      cpu: side(ix, fold, cpu),
      folded: ix.nodes.length - compute.length,
      note: 'edgetpu_compiler maps ops in graph order and cannot partition more than once: the first op it cannot map and every op after it run on the CPU. Counts are ONNX nodes (the TFLite graph differs in detail); Q/DQ nodes become tensor quantization parameters, except the QUANTIZE/DEQUANTIZE of float model inputs/outputs, which run on the CPU.',
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Memory, shapes, opsets
// ---------------------------------------------------------------------------------------------------------------

function weightBytes(model: onnx.IModelProto, precision: Precision): { stored: number; deployed: number } {
  let stored = 0;
  let deployed = 0;
  forEachTensor(model, ({ tensor, kind }) => {
    if (kind === 'attribute') return;
    const count = elementCount(tensorDims(tensor));
    const bits = dataTypeBits(tensor.dataType);
    const bytes = Math.ceil((count * bits) / 8);
    stored += bytes;
    if (FLOAT_TYPES.has(tensor.dataType ?? 0)) {
      deployed += count * (precision === 'fp32' ? 4 : precision === 'fp16' ? 2 : 1);
    } else {
      deployed += bytes;
    }
  });
  return { stored, deployed };
}

function memoryCheck(
  target: TargetProfile,
  model: onnx.IModelProto,
  precision: Precision,
  partition: EdgeTpuPartition | null,
  issues: Issues,
): MemoryCheck {
  const { stored, deployed } = weightBytes(model, precision);
  const mib = (b: number): string => `${(b / 1024 ** 2).toFixed(2)} MiB`;
  if (target.kind === 'coral') {
    const onTpu = partition ? partition.tpu.weightBytes : deployed;
    const limit = target.memoryBytes ?? 8 * 1024 ** 2;
    const fits = onTpu <= limit;
    if (!fits) {
      issues.add(
        'warning',
        'memory',
        'edgetpu-parameters-stream',
        `About ${mib(onTpu)} of 8-bit parameters run on the Edge TPU, more than its ${mib(limit)} of on-chip SRAM: the rest streams from host memory on every inference, which is slower.`,
        {
          hint: 'Use a smaller model, or split it across several Edge TPUs (edgetpu_compiler --num_segments) and pipeline them.',
        },
      );
    }
    return {
      modelWeightBytes: stored,
      deployedWeightBytes: onTpu,
      limitBytes: limit,
      limitKind: 'parameter-sram',
      fits,
      note: `8-bit parameters of the Edge TPU part against the on-chip SRAM. ${EDGETPU_SRAM_NOTE}`,
    };
  }
  if (target.memoryBytes === null) {
    return {
      modelWeightBytes: stored,
      deployedWeightBytes: deployed,
      limitBytes: null,
      limitKind: target.memoryKind,
      fits: null,
      note: 'Host RAM depends on the machine; activations and the runtime come on top of the weights.',
    };
  }
  const limit = target.memoryBytes;
  const fits = deployed <= limit;
  if (!fits) {
    issues.add(
      'error',
      'memory',
      'weights-exceed-ram',
      `The ${precision} weights (${mib(deployed)}) exceed the ${mib(limit)} of RAM of ${target.label}.`,
      { hint: 'Use a smaller model, or a lower precision.' },
    );
  } else if (deployed > limit / 2) {
    issues.add(
      'warning',
      'memory',
      'weights-near-ram',
      `The ${precision} weights (${mib(deployed)}) take more than half of the ${mib(limit)} of RAM the CPU, GPU and OS share.`,
    );
  }
  return {
    modelWeightBytes: stored,
    deployedWeightBytes: deployed,
    limitBytes: limit,
    limitKind: target.memoryKind,
    fits,
    note: `${target.memoryNote} Engine size ≈ weights at the deployed precision; activations and TensorRT workspace come on top.`,
  };
}

function dynamicInputs(model: onnx.IModelProto): DynamicInput[] {
  const out: DynamicInput[] = [];
  for (const input of inspectModel(model).inputs) {
    const shape: ShapeDim[] | null = input.shape;
    const dyn = shape === null ? [] : shape.flatMap((d, i) => (typeof d === 'number' && d > 0 ? [] : [i]));
    if (shape === null || dyn.length > 0) out.push({ name: input.name, shape, dynamicDims: dyn });
  }
  return out;
}

function checkShapes(target: TargetProfile, inputs: DynamicInput[], issues: Issues): void {
  if (!inputs.length) return;
  const names = inputs.map((i) => `${i.name} [${i.shape?.join(', ') ?? '?'}]`).join('; ');
  if (target.kind === 'jetson') {
    issues.add(
      'warning',
      'shapes',
      'dynamic-shape',
      `Inputs with dynamic dimensions: ${names}. TensorRT needs an optimization profile (min/opt/max shape) for them.`,
      {
        hint: 'Pass --minShapes/--optShapes/--maxShapes to trtexec (e.g. x:1x3x48x160,x:1x3x48x320,x:8x3x48x960); the engine only accepts shapes inside the range.',
      },
    );
  } else if (target.kind === 'coral') {
    issues.add(
      'error',
      'shapes',
      'dynamic-shape',
      `Inputs with dynamic dimensions: ${names}. The Edge TPU needs tensor sizes constant at compile time.`,
      {
        hint: 'A static INT8 build fixes the size from its calibration samples when it exports model.tflite; otherwise re-export the model with a static shape.',
      },
    );
  }
}

function checkOpset(target: TargetProfile, ix: GraphIndex, issues: Issues): void {
  const ops = target.ops;
  const v = ix.defaultOpset;
  if (!ops || v === undefined) return;
  if (ops.opsetMax !== null && v > ops.opsetMax) {
    issues.add(
      'warning',
      'opset',
      'opset-newer',
      `The model uses opset ${v}; ${target.runtime.name} ${target.runtime.version} documents operators up to opset ${ops.opsetMax}.`,
      { hint: `Re-export with opset ${ops.opsetMax} or lower.` },
    );
  }
  if (ops.opsetMin !== null && v < ops.opsetMin) {
    issues.add(
      'warning',
      'opset',
      'opset-older',
      `The model uses opset ${v}; ${target.runtime.name} ${target.runtime.version} supports opsets ${ops.opsetMin} to ${ops.opsetMax ?? 'current'}.`,
      { hint: `Convert it to opset ${ops.opsetMin} or newer (onnx.version_converter).` },
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------------------------

export function compatibilityReport(
  model: onnx.IModelProto,
  target: TargetProfile,
  opts: CompatOptions = {},
): CompatReport {
  const ix = indexGraph(model);
  const fold = foldGraph(ix);
  const format = quantizationFormat(ix);
  const precision: Precision =
    opts.precision ?? (format !== 'none' || target.kind === 'coral' ? 'int8' : 'fp32');
  const issues = new Issues();
  const unsupported = new Unsupported();
  let partition: EdgeTpuPartition | null = null;

  checkPrecisionSupport(target, precision, format, issues);

  if (target.kind === 'cpu') {
    checkCpuOps(model, unsupported);
  } else if (target.kind === 'jetson') {
    checkTensorRtOps(model, ix, target, unsupported);
    if (format === 'qdq' && target.precisions.int8.supported) {
      checkTensorRtQdq(ix, analyzeQdq(ix, fold.constValues), target, issues);
    }
  } else {
    const ops = target.ops!;
    const supported = new Set(ops.supported);
    const blocking = new Map<IndexedNode, string>();
    const conditional: IndexedNode[] = [];
    for (const n of ix.nodes) {
      if (fold.folded.has(n) || n.key === 'QuantizeLinear' || n.key === 'DequantizeLinear') continue;
      if (!supported.has(n.key)) {
        const reason = isDefaultDomain(n.node.domain)
          ? 'not in the Edge TPU’s table of supported operations'
          : `custom-domain operator (${n.node.domain}): no TFLite/Edge TPU equivalent`;
        unsupported.add(n, reason);
        blocking.set(n, reason);
        continue;
      }
      const problem = edgeTpuInstanceProblem(ix, fold, n, opts.tfliteExport);
      if (problem?.startsWith('conditional: ')) conditional.push(n);
      else if (problem) {
        unsupported.add(n, problem);
        blocking.set(n, problem);
      }
    }
    if (conditional.length) {
      const kinds = [...new Set(conditional.map((n) => n.key))].join(', ');
      issues.add(
        'warning',
        'ops',
        'edgetpu-conditional-op',
        `${kinds} (${conditional.length} nodes) map to the Edge TPU only depending on how they are converted or on their parameters.`,
        { hint: 'Check the operation table edgetpu_compiler -s prints.', nodes: conditional },
      );
    }
    if (format === 'qdq') {
      const floats = edgeTpuFloatNodes(ix, fold, opts.tfliteExport);
      const floatNodes = [...floats.keys()];
      if (floatNodes.length) {
        issues.add(
          'error',
          'precision',
          'edgetpu-float-op',
          `${describeNodes(floatNodes)} are not inside Q/DQ regions: they would stay float, and the Edge TPU runs only full-integer models (each becomes a CPU fallback point).`,
          {
            hint: 'Quantize every op (all activations through QuantizeLinear/DequantizeLinear, weights as int8), or convert with full-integer quantization.',
            nodes: floatNodes,
          },
        );
        for (const [n, why] of floats) if (!blocking.has(n)) blocking.set(n, why);
      }
      checkWeightedOpsQuantized(ix, issues, 'the converter keeps it float, so it runs on the CPU');
    }
    // For a float model (already an error above) the partition shows the operator-level picture.
    const { partition: p, compute } = edgeTpuPartition(ix, fold, blocking);
    partition = p;
    if (p.splitAt) {
      issues.add(
        p.tpu.nodes === 0 ? 'error' : 'warning',
        'partition',
        'edgetpu-cpu-fallback',
        p.tpu.nodes === 0
          ? `Nothing would run on the Edge TPU: the first op, ${p.splitAt.name} (${p.splitAt.opType}), cannot (${p.splitAt.reason}).`
          : `The Edge TPU graph ends at ${p.splitAt.name} (${p.splitAt.opType}: ${p.splitAt.reason}): ${p.tpu.nodes} of ${compute.length} ops run on the Edge TPU, ${p.cpu.nodes} on the CPU.`,
        {
          hint: opts.tfliteTail
            ? 'The build cuts the model there: model.tflite holds the Edge TPU part, model_tail.onnx the rest, for onnxruntime on the CPU. To run more on the Edge TPU, replace the unsupported op or move it toward the end of the model (post-processing).'
            : 'Replace or move the unsupported op toward the end of the model (post-processing), or cut the model before it and run the rest separately.',
        },
      );
    }
  }

  const unsupportedOps = unsupported.list();
  if (unsupportedOps.length) {
    const total = unsupported.nodes().length;
    const names = unsupportedOps.map((u) => u.opType).filter((op, i, all) => all.indexOf(op) === i);
    issues.add(
      'error',
      'ops',
      'unsupported-op',
      `${total} node${total === 1 ? '' : 's'} use operators ${target.label} cannot run: ${names.join(', ')}.`,
      {
        hint:
          target.kind === 'jetson'
            ? 'Replace them in the exporter, write a TensorRT plugin, or run that part of the model elsewhere.'
            : target.kind === 'coral'
              ? 'Replace them with supported ops, or keep them at the end of the model so only they run on the CPU.'
              : 'Register the custom-op library with onnxruntime, or re-export without custom ops.',
        nodes: unsupported.nodes(),
      },
    );
  }

  const dyn = dynamicInputs(model);
  // The TFLite export fixes sizes from the samples.
  if (!(opts.tfliteExport && target.kind === 'coral')) checkShapes(target, dyn, issues);
  checkOpset(target, ix, issues);
  const memory = memoryCheck(target, model, precision, partition, issues);

  const order: Record<Severity, number> = { error: 0, warning: 1, info: 2 };
  const list = issues.list.sort((a, b) => order[a.severity] - order[b.severity]);
  const errors = list.filter((i) => i.severity === 'error');
  const warnings = list.filter((i) => i.severity === 'warning');
  const ok = errors.length === 0;
  let verdict: string;
  if (!ok) {
    verdict = `Not compatible with ${target.label} at ${precision}: ${errors[0]!.message}${errors.length > 1 ? ` (${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})` : ''}`;
  } else {
    const coral =
      partition && partition.splitAt
        ? `; ${partition.tpu.nodes} ops on the Edge TPU, ${partition.cpu.nodes} on the CPU`
        : '';
    verdict = `Compatible with ${target.label} at ${precision}${coral}${warnings.length ? ` (${warnings.length} warning${warnings.length === 1 ? '' : 's'})` : ''}.`;
  }

  return {
    targetId: target.id,
    targetLabel: target.label,
    precision,
    ok,
    verdict,
    model: {
      nodes: inspectModel(model).nodeCount,
      opsets: (model.opsetImport ?? []).map((o) => ({
        domain: o.domain || 'ai.onnx',
        version: int64(o.version),
      })),
      quantized: format,
    },
    unsupportedOps,
    issues: list,
    partition,
    memory,
    dynamicInputs: dyn,
  };
}
