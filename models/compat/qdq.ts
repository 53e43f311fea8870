/**
 * What a model's QuantizeLinear / DequantizeLinear nodes say: element type, zero points, scales, axis, and
 * whether the quantized value is a constant (weight) or an activation. The TensorRT and Edge TPU checks read this.
 * Pure: no Node imports.
 */
import { dataTypeName, tensorDims } from '../onnx/tensors.js';
import { type GraphIndex, type IndexedNode, intAttr, readFloatValues, readInts } from './graph-index.js';

export type QdqKind = 'Q' | 'DQ';

export interface QdqInfo {
  n: IndexedNode;
  kind: QdqKind;
  /** Quantized element type: from the zero point; 'uint8' when a QuantizeLinear has none (the ONNX default). */
  elemType: string;
  /** 'missing' (no zero-point input), 'dynamic' (not a constant), or its values. */
  zeroPoint: 'missing' | 'dynamic' | number[];
  /** Scale values when constant. */
  scale: number[] | undefined;
  /** More than one scale: per-axis quantization. */
  perChannel: boolean;
  /** Axis as written (default 1), normalized against the input rank when known. */
  axis: number;
  /** Input 0 is a constant (a weight) rather than an activation. */
  constantInput: boolean;
  /** Dims of input 0 when it is a constant. */
  inputDims: number[] | undefined;
}

export const QOPERATOR_OPS = new Set([
  'QLinearConv',
  'QLinearMatMul',
  'ConvInteger',
  'MatMulInteger',
  'DynamicQuantizeLinear',
  'com.microsoft::QLinearAdd',
  'com.microsoft::QLinearMul',
  'com.microsoft::QLinearConcat',
  'com.microsoft::QLinearGlobalAveragePool',
  'com.microsoft::QLinearSigmoid',
  'com.microsoft::QLinearLeakyRelu',
]);

export function quantizationFormat(ix: GraphIndex): 'none' | 'qdq' | 'qoperator' {
  if (ix.nodes.some((n) => n.key === 'QuantizeLinear' || n.key === 'DequantizeLinear')) return 'qdq';
  if (ix.nodes.some((n) => QOPERATOR_OPS.has(n.key))) return 'qoperator';
  return 'none';
}

/** The element type of a value, as far as the graph says (initializer, Q output, value_info, input/output). */
function valueElemType(ix: GraphIndex, name: string): string | undefined {
  const c = ix.constants.get(name);
  if (c) return dataTypeName(c.dataType);
  for (const v of [...(ix.graph.valueInfo ?? []), ...(ix.graph.input ?? []), ...(ix.graph.output ?? [])]) {
    if (v.name === name && v.type?.tensorType?.elemType) return dataTypeName(v.type.tensorType.elemType);
  }
  return undefined;
}

/**
 * Every Q/DQ node of the main graph. `constValues` names the values that are constants once shapes are fixed
 * (see constantValues): a DequantizeLinear of one of them dequantizes a weight.
 */
export function analyzeQdq(ix: GraphIndex, constValues: ReadonlySet<string>): QdqInfo[] {
  const out: QdqInfo[] = [];
  for (const n of ix.nodes) {
    if (n.key !== 'QuantizeLinear' && n.key !== 'DequantizeLinear') continue;
    const kind: QdqKind = n.key === 'QuantizeLinear' ? 'Q' : 'DQ';
    const [x = '', scaleName = '', zpName = ''] = n.node.input ?? [];
    const zpTensor = zpName ? ix.constants.get(zpName) : undefined;
    const zeroPoint: QdqInfo['zeroPoint'] = !zpName
      ? 'missing'
      : zpTensor
        ? (readInts(zpTensor) ?? 'dynamic')
        : 'dynamic';
    let elemType: string;
    if (zpTensor) elemType = dataTypeName(zpTensor.dataType);
    else if (kind === 'Q') elemType = zpName ? (valueElemType(ix, zpName) ?? 'unknown') : 'uint8';
    else elemType = valueElemType(ix, x) ?? 'unknown';
    const scaleTensor = ix.constants.get(scaleName);
    const scale = scaleTensor ? readFloatValues(scaleTensor) : undefined;
    const scaleCount = scaleTensor
      ? tensorDims(scaleTensor).reduce((a, b) => a * b, 1)
      : (scale?.length ?? 1);
    // A weight is either stored quantized (DQ of an int8 initializer) or stored float and quantized by a Q → DQ pair.
    const viaQ = ix.producer.get(x);
    const source =
      ix.constants.get(x) ??
      (viaQ?.key === 'QuantizeLinear' ? ix.constants.get(viaQ.node.input?.[0] ?? '') : undefined);
    const inputDims = source ? tensorDims(source) : undefined;
    let axis = intAttr(n.node, 'axis') ?? 1;
    if (axis < 0 && inputDims) axis += inputDims.length;
    out.push({
      n,
      kind,
      elemType,
      zeroPoint,
      scale,
      perChannel: scaleCount > 1,
      axis,
      constantInput: constValues.has(x),
      inputDims,
    });
  }
  return out;
}

/** The DequantizeLinear (if any) that produces `value`. */
export function dequantizedBy(ix: GraphIndex, value: string): IndexedNode | undefined {
  const p = ix.producer.get(value);
  return p?.key === 'DequantizeLinear' ? p : undefined;
}
