/**
 * Dynamic INT8 quantization for MatMul/Gemm-heavy models: weights become int8 per output column ahead of time,
 * activations are quantized at run time (uint8, from each batch's own range), so no calibration data is needed.
 *
 * MatMul(X, W) with W a [K, N] float initializer becomes
 *   DynamicQuantizeLinear(X) → (Xq, xs, xz);  MatMulInteger(Xq, Wq, xz, 0) → int32;  Cast(float) · (xs · ws)
 * which onnxruntime fuses into its DynamicQuantizeMatMul kernel. Gemm with constant B (transB handled) and
 * alpha = beta = 1 is rewritten the same way with its bias added after.
 */
import { AppError } from '../../shared/errors.js';
import { onnx } from '../onnx/schema.js';
import { DataType, int64, tensorDims } from '../onnx/tensors.js';
import { attribute, cloneModel, readFloats, uniqueName, usedNames } from '../passes/graph.js';
import { nodeKey } from './qdq.js';
import { quantizeWeightsPerChannel } from './qparams.js';

export interface DynamicResult {
  model: onnx.ModelProto;
  quantized: string[];
  skipped: { node: string; opType: string; reason: string }[];
}

export interface DynamicOptions {
  exclude?: (n: onnx.INodeProto, key: string) => boolean;
  reduceRange?: boolean;
}

export function quantizeDynamic(source: onnx.IModelProto, opts: DynamicOptions = {}): DynamicResult {
  const model = cloneModel(source);
  const graph = model.graph;
  if (!graph) throw new AppError('MODEL_MALFORMED', 'model has no graph', { hint: 'Re-export the model.' });
  const taken = usedNames(model);
  const inputs = new Set((graph.input ?? []).map((v) => v.name ?? ''));
  const inits = new Map<string, onnx.ITensorProto>();
  for (const t of graph.initializer ?? []) if (t.name && !inputs.has(t.name)) inits.set(t.name, t);
  const res: DynamicResult = { model, quantized: [], skipped: [] };
  const out: onnx.INodeProto[] = [];
  const added: onnx.ITensorProto[] = [];
  (graph.node ?? []).forEach((n, idx) => {
    const key = nodeKey(n, idx);
    const op = n.opType ?? '';
    if ((op !== 'MatMul' && op !== 'Gemm') || (n.domain ?? '') !== '') {
      out.push(n);
      return;
    }
    if (opts.exclude?.(n, key)) {
      res.skipped.push({ node: key, opType: op, reason: 'excluded' });
      out.push(n);
      return;
    }
    const wName = n.input?.[1] ?? '';
    const w = inits.get(wName);
    const values = w ? readFloats(w) : undefined;
    const dims = w ? tensorDims(w) : [];
    if (!w || !values || dims.length !== 2) {
      res.skipped.push({ node: key, opType: op, reason: 'right operand is not a 2-D float32 weight' });
      out.push(n);
      return;
    }
    let k = dims[0] ?? 0;
    let cols = dims[1] ?? 0;
    let wv: Float64Array = values;
    if (op === 'Gemm') {
      const alpha = attribute(n, 'alpha')?.f ?? 1;
      const beta = attribute(n, 'beta')?.f ?? 1;
      if (int64(attribute(n, 'transA')?.i ?? 0) !== 0 || alpha !== 1 || beta !== 1) {
        res.skipped.push({ node: key, opType: op, reason: 'Gemm with transA, alpha or beta is kept float' });
        out.push(n);
        return;
      }
      if (int64(attribute(n, 'transB')?.i ?? 0) !== 0) {
        // Store B as [K, N].
        const t = new Float64Array(values.length);
        const [nRows, kCols] = [dims[0] ?? 0, dims[1] ?? 0];
        for (let r = 0; r < nRows; r++)
          for (let c = 0; c < kCols; c++) t[c * nRows + r] = values[r * kCols + c] ?? 0;
        wv = t;
        k = kCols;
        cols = nRows;
      }
    }
    const q = quantizeWeightsPerChannel(wv, [k, cols], 1, opts.reduceRange === true);
    const base = wName.replace(/[^A-Za-z0-9_.:-]/g, '_');
    const wq = uniqueName(`${base}_quantized`, taken);
    const wz = uniqueName(`${base}_zero_point`, taken);
    const ws = uniqueName(`${base}_scale`, taken);
    added.push(
      onnx.TensorProto.create({
        name: wq,
        dataType: DataType.INT8,
        dims: [k, cols],
        rawData: new Uint8Array(q.values.buffer),
      }),
      onnx.TensorProto.create({
        name: wz,
        dataType: DataType.INT8,
        dims: [cols],
        rawData: new Uint8Array(cols),
      }),
      onnx.TensorProto.create({
        name: ws,
        dataType: DataType.FLOAT,
        dims: [cols],
        rawData: new Uint8Array(q.scales.buffer),
      }),
    );
    const x = n.input?.[0] ?? '';
    const y = n.output?.[0] ?? '';
    const p = `${key.replace(/[^A-Za-z0-9_.:-]/g, '_')}`;
    const xq = uniqueName(`${p}_x_quantized`, taken);
    const xs = uniqueName(`${p}_x_scale`, taken);
    const xz = uniqueName(`${p}_x_zero_point`, taken);
    const acc = uniqueName(`${p}_int32`, taken);
    const accf = uniqueName(`${p}_int32_float`, taken);
    const scale = uniqueName(`${p}_scale`, taken);
    const hasBias = op === 'Gemm' && (n.input?.[2] ?? '') !== '';
    const prod = hasBias ? uniqueName(`${p}_product`, taken) : y;
    const mk = (
      opType: string,
      i: string[],
      o: string[],
      attrs: onnx.IAttributeProto[] = [],
    ): onnx.INodeProto =>
      onnx.NodeProto.create({
        name: uniqueName(`${p}_${opType}`, taken),
        opType,
        input: i,
        output: o,
        attribute: attrs,
      });
    out.push(
      mk('DynamicQuantizeLinear', [x], [xq, xs, xz]),
      mk('MatMulInteger', [xq, wq, xz, wz], [acc]),
      mk(
        'Cast',
        [acc],
        [accf],
        [
          onnx.AttributeProto.create({
            name: 'to',
            type: onnx.AttributeProto.AttributeType.INT,
            i: DataType.FLOAT,
          }),
        ],
      ),
      mk('Mul', [xs, ws], [scale]),
      mk('Mul', [accf, scale], [prod]),
    );
    if (hasBias) out.push(mk('Add', [prod, n.input?.[2] ?? ''], [y]));
    res.quantized.push(key);
  });
  graph.node = out;
  graph.initializer = [...(graph.initializer ?? []), ...added];
  const used = new Set<string>();
  for (const n of out) for (const i of n.input ?? []) if (i) used.add(i);
  graph.initializer = graph.initializer.filter((t) => used.has(t.name ?? '') || inputs.has(t.name ?? ''));
  return res;
}
