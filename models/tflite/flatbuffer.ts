/**
 * Writes TensorFlow Lite model files (the "TFL3" FlatBuffer) with the `flatbuffers` runtime: the subset of the
 * schema a full-integer model needs (Model, SubGraph, Tensor with quantization parameters, Operator and its
 * builtin options, Buffer). Field slots and enum values follow tensorflow/lite/schema/schema.fbs; new members are
 * only ever appended there, so files written this way read in old and new interpreters alike.
 */
import * as flatbuffers from 'flatbuffers';

/** TensorType. */
export const TensorType = { FLOAT32: 0, INT32: 2, UINT8: 3, INT64: 4, INT8: 9 } as const;
export type TensorTypeCode = (typeof TensorType)[keyof typeof TensorType];

/** BuiltinOperator codes used here. */
export const Op = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONCATENATION: 2,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MAX_POOL_2D: 17,
  MUL: 18,
  RELU: 19,
  RELU6: 21,
  RESHAPE: 22,
  RESIZE_BILINEAR: 23,
  SOFTMAX: 25,
  PAD: 34,
  TRANSPOSE: 39,
  MEAN: 40,
  SUB: 41,
  TRANSPOSE_CONV: 67,
  RESIZE_NEAREST_NEIGHBOR: 97,
  LEAKY_RELU: 98,
  QUANTIZE: 114,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];
export const OP_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(Op).map(([k, v]) => [v, k]),
);

export const Padding = { SAME: 0, VALID: 1 } as const;
export const Activation = { NONE: 0, RELU: 1, RELU6: 3 } as const;
export type ActivationCode = (typeof Activation)[keyof typeof Activation];

/** Builtin options, by the operator they configure (the union member's index in BuiltinOptions). */
export type Options =
  | {
      kind: 'conv2d';
      padding: number;
      strideW: number;
      strideH: number;
      activation: ActivationCode;
      dilationW: number;
      dilationH: number;
    }
  | {
      kind: 'depthwise';
      padding: number;
      strideW: number;
      strideH: number;
      depthMultiplier: number;
      activation: ActivationCode;
      dilationW: number;
      dilationH: number;
    }
  | { kind: 'pool'; padding: number; strideW: number; strideH: number; filterW: number; filterH: number }
  | { kind: 'transposeConv'; padding: number; strideW: number; strideH: number }
  | { kind: 'fullyConnected'; activation: ActivationCode }
  | { kind: 'softmax'; beta: number }
  | { kind: 'concat'; axis: number }
  | { kind: 'add' | 'mul' | 'sub'; activation: ActivationCode }
  | { kind: 'reshape'; newShape: number[] }
  | { kind: 'reducer'; keepDims: boolean }
  | { kind: 'resize'; alignCorners: boolean; halfPixelCenters: boolean; bilinear: boolean }
  | { kind: 'leakyRelu'; alpha: number }
  | { kind: 'pad' | 'transpose' };

export interface Quantization {
  scale: number[];
  zeroPoint: number[];
  /** Axis the scales run along (per-channel weights); 0 for per-tensor. */
  dimension?: number;
}

export interface TensorSpec {
  name: string;
  shape: number[];
  type: TensorTypeCode;
  /** Constant data (little-endian bytes); absent for activations. */
  data?: Uint8Array;
  quantization?: Quantization;
}

export interface OperatorSpec {
  op: OpCode;
  inputs: number[];
  outputs: number[];
  options?: Options;
}

export interface ModelSpec {
  tensors: TensorSpec[];
  operators: OperatorSpec[];
  inputs: number[];
  outputs: number[];
  description: string;
}

function intVector(b: flatbuffers.Builder, xs: readonly number[]): number {
  b.startVector(4, xs.length, 4);
  for (let i = xs.length - 1; i >= 0; i--) b.addInt32(xs[i]!);
  return b.endVector();
}

function floatVector(b: flatbuffers.Builder, xs: readonly number[]): number {
  b.startVector(4, xs.length, 4);
  for (let i = xs.length - 1; i >= 0; i--) b.addFloat32(xs[i]!);
  return b.endVector();
}

function longVector(b: flatbuffers.Builder, xs: readonly number[]): number {
  b.startVector(8, xs.length, 8);
  for (let i = xs.length - 1; i >= 0; i--) b.addInt64(BigInt(xs[i]!));
  return b.endVector();
}

function byteVector(b: flatbuffers.Builder, data: Uint8Array, align: number): number {
  b.startVector(1, data.length, align);
  for (let i = data.length - 1; i >= 0; i--) b.addInt8(data[i]!);
  return b.endVector();
}

function offsetVector(b: flatbuffers.Builder, xs: readonly number[]): number {
  b.startVector(4, xs.length, 4);
  for (let i = xs.length - 1; i >= 0; i--) b.addOffset(xs[i]!);
  return b.endVector();
}

/** The BuiltinOptions union index and table of an operator's options. */
function writeOptions(b: flatbuffers.Builder, o: Options): [number, number] {
  switch (o.kind) {
    case 'conv2d': {
      b.startObject(6);
      b.addFieldInt8(0, o.padding, 0);
      b.addFieldInt32(1, o.strideW, 0);
      b.addFieldInt32(2, o.strideH, 0);
      b.addFieldInt8(3, o.activation, 0);
      b.addFieldInt32(4, o.dilationW, 1);
      b.addFieldInt32(5, o.dilationH, 1);
      return [1, b.endObject()];
    }
    case 'depthwise': {
      b.startObject(7);
      b.addFieldInt8(0, o.padding, 0);
      b.addFieldInt32(1, o.strideW, 0);
      b.addFieldInt32(2, o.strideH, 0);
      b.addFieldInt32(3, o.depthMultiplier, 0);
      b.addFieldInt8(4, o.activation, 0);
      b.addFieldInt32(5, o.dilationW, 1);
      b.addFieldInt32(6, o.dilationH, 1);
      return [2, b.endObject()];
    }
    case 'pool': {
      b.startObject(6);
      b.addFieldInt8(0, o.padding, 0);
      b.addFieldInt32(1, o.strideW, 0);
      b.addFieldInt32(2, o.strideH, 0);
      b.addFieldInt32(3, o.filterW, 0);
      b.addFieldInt32(4, o.filterH, 0);
      return [5, b.endObject()];
    }
    case 'transposeConv': {
      b.startObject(3);
      b.addFieldInt8(0, o.padding, 0);
      b.addFieldInt32(1, o.strideW, 0);
      b.addFieldInt32(2, o.strideH, 0);
      return [49, b.endObject()];
    }
    case 'fullyConnected': {
      b.startObject(2);
      b.addFieldInt8(0, o.activation, 0);
      return [8, b.endObject()];
    }
    case 'softmax': {
      b.startObject(1);
      b.addFieldFloat32(0, o.beta, 0);
      return [9, b.endObject()];
    }
    case 'concat': {
      b.startObject(2);
      b.addFieldInt32(0, o.axis, 0);
      return [10, b.endObject()];
    }
    case 'add':
    case 'mul':
    case 'sub': {
      b.startObject(1);
      b.addFieldInt8(0, o.activation, 0);
      return [o.kind === 'add' ? 11 : o.kind === 'mul' ? 21 : 28, b.endObject()];
    }
    case 'reshape': {
      const shape = intVector(b, o.newShape);
      b.startObject(1);
      b.addFieldOffset(0, shape, 0);
      return [17, b.endObject()];
    }
    case 'reducer': {
      b.startObject(1);
      b.addFieldInt8(0, o.keepDims ? 1 : 0, 0);
      return [27, b.endObject()];
    }
    case 'resize': {
      // ResizeBilinearOptions: new_height, new_width (deprecated), align_corners, half_pixel_centers;
      // ResizeNearestNeighborOptions: align_corners, half_pixel_centers.
      if (o.bilinear) {
        b.startObject(4);
        b.addFieldInt8(2, o.alignCorners ? 1 : 0, 0);
        b.addFieldInt8(3, o.halfPixelCenters ? 1 : 0, 0);
        return [15, b.endObject()];
      }
      b.startObject(2);
      b.addFieldInt8(0, o.alignCorners ? 1 : 0, 0);
      b.addFieldInt8(1, o.halfPixelCenters ? 1 : 0, 0);
      return [74, b.endObject()];
    }
    case 'leakyRelu': {
      b.startObject(1);
      b.addFieldFloat32(0, o.alpha, 0);
      return [75, b.endObject()];
    }
    case 'pad':
      b.startObject(0);
      return [22, b.endObject()];
    case 'transpose':
      b.startObject(0);
      return [26, b.endObject()];
  }
}

/** Serializes a model: one subgraph, buffer 0 the empty sentinel, one buffer per constant tensor. */
export function writeTflite(spec: ModelSpec): Uint8Array {
  const b = new flatbuffers.Builder(1 << 16);
  // Buffers: 0 is the empty sentinel every activation points at.
  const bufferOffsets: number[] = [];
  const bufferOf: number[] = [];
  b.startObject(1);
  bufferOffsets.push(b.endObject());
  for (const t of spec.tensors) {
    if (!t.data) {
      bufferOf.push(0);
      continue;
    }
    const data = byteVector(b, t.data, 16);
    b.startObject(1);
    b.addFieldOffset(0, data, 0);
    bufferOf.push(bufferOffsets.length);
    bufferOffsets.push(b.endObject());
  }
  const tensorOffsets = spec.tensors.map((t, i) => {
    const name = b.createString(t.name);
    const shape = intVector(b, t.shape);
    let quant = 0;
    if (t.quantization) {
      const scale = floatVector(b, t.quantization.scale);
      const zp = longVector(b, t.quantization.zeroPoint);
      b.startObject(7);
      b.addFieldOffset(2, scale, 0);
      b.addFieldOffset(3, zp, 0);
      b.addFieldInt32(6, t.quantization.dimension ?? 0, 0);
      quant = b.endObject();
    }
    b.startObject(6);
    b.addFieldOffset(0, shape, 0);
    b.addFieldInt8(1, t.type, 0);
    b.addFieldInt32(2, bufferOf[i]!, 0);
    b.addFieldOffset(3, name, 0);
    if (quant) b.addFieldOffset(4, quant, 0);
    return b.endObject();
  });
  const codes = [...new Set(spec.operators.map((o) => o.op))];
  const codeOffsets = codes.map((c) => {
    b.startObject(4);
    // deprecated_builtin_code (a byte, what older readers take) and builtin_code (int32, newer readers).
    b.addFieldInt8(0, c, 0);
    b.addFieldInt32(2, 1, 1);
    b.addFieldInt32(3, c, 0);
    return b.endObject();
  });
  const opOffsets = spec.operators.map((o) => {
    const inputs = intVector(b, o.inputs);
    const outputs = intVector(b, o.outputs);
    const [optType, opt] = o.options ? writeOptions(b, o.options) : [0, 0];
    b.startObject(9);
    b.addFieldInt32(0, codes.indexOf(o.op), 0);
    b.addFieldOffset(1, inputs, 0);
    b.addFieldOffset(2, outputs, 0);
    if (optType) {
      b.addFieldInt8(3, optType, 0);
      b.addFieldOffset(4, opt, 0);
    }
    return b.endObject();
  });
  const tensors = offsetVector(b, tensorOffsets);
  const inputs = intVector(b, spec.inputs);
  const outputs = intVector(b, spec.outputs);
  const operators = offsetVector(b, opOffsets);
  const sgName = b.createString('main');
  b.startObject(5);
  b.addFieldOffset(0, tensors, 0);
  b.addFieldOffset(1, inputs, 0);
  b.addFieldOffset(2, outputs, 0);
  b.addFieldOffset(3, operators, 0);
  b.addFieldOffset(4, sgName, 0);
  const subgraph = b.endObject();
  const opCodes = offsetVector(b, codeOffsets);
  const subgraphs = offsetVector(b, [subgraph]);
  const description = b.createString(spec.description);
  const buffers = offsetVector(b, bufferOffsets);
  b.startObject(6);
  b.addFieldInt32(0, 3, 0);
  b.addFieldOffset(1, opCodes, 0);
  b.addFieldOffset(2, subgraphs, 0);
  b.addFieldOffset(3, description, 0);
  b.addFieldOffset(4, buffers, 0);
  b.finish(b.endObject(), 'TFL3');
  return b.asUint8Array();
}
