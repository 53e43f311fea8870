/**
 * Element types of a graph's values, propagated from the inputs and initializers through the nodes. The quantizer
 * needs to know which tensors are float (only those are calibrated and quantized: real exported graphs carry int64
 * shape arithmetic between the float layers). Unknown stays unknown; callers treat it as "not float".
 */
import { onnx } from '../onnx/schema.js';
import { DataType } from '../onnx/tensors.js';
import { attribute } from '../passes/graph.js';
import { int64 } from '../onnx/tensors.js';

const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression']);
const BOOL_OUT = new Set([
  'Equal',
  'Less',
  'LessOrEqual',
  'Greater',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'IsNaN',
  'IsInf',
]);

export function inferElemTypes(graph: onnx.IGraphProto): Map<string, number> {
  const types = new Map<string, number>();
  for (const v of [...(graph.input ?? []), ...(graph.valueInfo ?? []), ...(graph.output ?? [])]) {
    const t = v.type?.tensorType?.elemType;
    if (v.name && t) types.set(v.name, t);
  }
  for (const t of graph.initializer ?? []) if (t.name && t.dataType) types.set(t.name, t.dataType);
  for (const n of graph.node ?? []) {
    const op = n.opType ?? '';
    const outs = n.output ?? [];
    const firstKnown = (n.input ?? []).map((i) => types.get(i)).find((t) => t !== undefined);
    const set = (i: number, t: number | undefined): void => {
      const name = outs[i];
      if (name && t !== undefined && !types.has(name)) types.set(name, t);
    };
    if (!(n.domain === '' || n.domain === undefined || n.domain === null || n.domain === 'ai.onnx')) {
      if (op === 'DequantizeLinear' || op === 'QLinearConv') set(0, DataType.FLOAT);
      continue;
    }
    if (INT64_OUT.has(op)) set(0, DataType.INT64);
    else if (BOOL_OUT.has(op)) set(0, DataType.BOOL);
    else if (op === 'Cast') set(0, int64(attribute(n, 'to')?.i ?? 0) || undefined);
    else if (op === 'CastLike') set(0, types.get(n.input?.[1] ?? ''));
    else if (op === 'Constant') set(0, attribute(n, 'value')?.t?.dataType ?? undefined);
    else if (op === 'ConstantOfShape') set(0, attribute(n, 'value')?.t?.dataType ?? DataType.FLOAT);
    else if (op === 'DequantizeLinear') set(0, types.get(n.input?.[1] ?? '') ?? DataType.FLOAT);
    else if (op === 'QuantizeLinear') set(0, types.get(n.input?.[2] ?? '') ?? DataType.UINT8);
    else if (op === 'Where') set(0, types.get(n.input?.[1] ?? ''));
    else if (op === 'TopK') {
      set(0, types.get(n.input?.[0] ?? ''));
      set(1, DataType.INT64);
    } else if (op === 'MaxPool') {
      set(0, types.get(n.input?.[0] ?? ''));
      set(1, DataType.INT64);
    } else if (op === 'Dropout') {
      set(0, types.get(n.input?.[0] ?? ''));
      set(1, DataType.BOOL);
    } else {
      // Elementwise, shape and layout ops keep their data input's type.
      const t =
        op === 'Gather' || op === 'Slice' || op === 'Reshape' ? types.get(n.input?.[0] ?? '') : firstKnown;
      for (let i = 0; i < outs.length; i++) set(i, t);
    }
  }
  return types;
}

export function isFloatType(t: number | undefined): boolean {
  return t === DataType.FLOAT;
}
