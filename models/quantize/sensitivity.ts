/**
 * How much each quantized layer costs in accuracy, measured rather than guessed:
 * - sensitivity: the model's output error when only that layer is quantized (everything else float);
 * - per-layer SQNR of the fully quantized model: each quantized layer's output against the FP32 model's value of
 *   the same tensor, so users see where precision was lost along the graph;
 * - agreement: output cosine similarity and SQNR of a quantized model against FP32 on the evaluation samples.
 *
 * Sessions here run with graph optimization disabled: onnxruntime then evaluates the Q/DQ nodes as written
 * (float emulation of the integer arithmetic), which is what the placement search needs and much cheaper to
 * create than fused integer sessions.
 */
import type * as ortTypes from 'onnxruntime-node';
import { AppError } from '../../shared/errors.js';
import { onnx } from '../onnx/schema.js';
import { encodeModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import { exposeTensors, toOrtFeeds, type CalibrationSample, type TensorRange } from './calibrate.js';
import { cosine, sqnrDb } from './qparams.js';
import { nodeKey, quantizeQdq, type QdqOptions } from './qdq.js';

export interface Agreement {
  /** Mean over samples and outputs of the cosine similarity to FP32. */
  cosine: number;
  /** Lowest cosine over samples and outputs. */
  minCosine: number;
  /** Mean output SQNR in dB. */
  sqnrDb: number;
}

export type Outputs = Record<string, Float32Array>[];

/** Shapes of the arrays runAll returned (kept aside so Outputs stays plain arrays). */
const shapes = new WeakMap<Float32Array, readonly number[]>();

/**
 * SQNR averaged over channels (axis 1 of NCHW tensors, the last axis of [N, T, C] ones), in dB. Plain SQNR is
 * dominated by the largest-magnitude channels; a per-tensor uint8 scale stretched by a few outlier channels can
 * crush the small ones while the tensor-wide SQNR still looks fine. The channel average sees that.
 */
export function channelSqnrDb(ref: Float32Array, act: Float32Array): number {
  const dims = shapes.get(ref) ?? [ref.length];
  let channels = 1;
  let inner = ref.length;
  let channelStride = 0;
  if (dims.length === 4) {
    channels = dims[1] ?? 1;
    inner = (dims[2] ?? 1) * (dims[3] ?? 1);
    channelStride = inner;
  } else if (dims.length === 3) {
    channels = dims[2] ?? 1;
    inner = (dims[0] ?? 1) * (dims[1] ?? 1);
    channelStride = -1;
  }
  if (channels <= 1) {
    const v = sqnrDb(ref, act);
    return Number.isFinite(v) ? Math.min(100, v) : 100;
  }
  const batch = ref.length / (channels * inner);
  let total = 0;
  for (let c = 0; c < channels; c++) {
    let sig = 0;
    let noise = 0;
    for (let b = 0; b < batch; b++)
      for (let i = 0; i < inner; i++) {
        const idx = channelStride === -1 ? (b * inner + i) * channels + c : (b * channels + c) * inner + i;
        const x = ref[idx] ?? 0;
        const d = x - (act[idx] ?? 0);
        sig += x * x;
        noise += d * d;
      }
    total += noise === 0 ? 100 : sig === 0 ? 0 : Math.max(-20, Math.min(100, 10 * Math.log10(sig / noise)));
  }
  return total / channels;
}

export interface EvalContext {
  samples: readonly CalibrationSample[];
  reference: Outputs;
  outputNames: string[];
  threads?: number;
  signal?: AbortSignal;
  /**
   * Evaluate quantized models as onnxruntime runs them (graph optimizations on: its fused integer kernels) rather
   * than Q/DQ as written (float arithmetic on quantized values). Right when the build runs on the target's own
   * CPU type; the emulation stands in for other runtimes (TensorRT, the Edge TPU) and other CPUs.
   */
  optimized?: boolean;
}

function check(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AppError('CANCELLED', 'Cancelled.');
}

async function runAll(
  model: onnx.IModelProto | Uint8Array,
  samples: readonly CalibrationSample[],
  fetch: string[],
  opts: {
    threads?: number;
    optimized?: boolean;
    signal?: AbortSignal;
    /** Called with each sample's outputs; returning false stops the run there. */
    onSample?: (index: number, outputs: Record<string, Float32Array>) => boolean;
  },
): Promise<Outputs> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  const session = await createSession(bytes, {
    graphOptimizationLevel: opts.optimized ? 'all' : 'disabled',
    ...(opts.threads !== undefined ? { intraOpNumThreads: opts.threads } : {}),
  });
  try {
    const out: Outputs = [];
    for (const s of samples) {
      check(opts.signal);
      const r: ortTypes.InferenceSession.ReturnType = await session.run(toOrtFeeds(s.feeds), fetch);
      const rec: Record<string, Float32Array> = {};
      for (const name of fetch) {
        const t = r[name];
        if (t && t.type === 'float32') {
          const data = t.data as Float32Array;
          shapes.set(data, t.dims);
          rec[name] = data;
        }
      }
      out.push(rec);
      if (opts.onSample && !opts.onSample(out.length - 1, rec)) break;
    }
    return out;
  } finally {
    await session.release();
  }
}

export function floatOutputNames(model: onnx.IModelProto): string[] {
  return (model.graph?.output ?? [])
    .filter((o) => Number(o.type?.tensorType?.elemType ?? 1) === Number(onnx.TensorProto.DataType.FLOAT))
    .map((o) => o.name ?? '');
}

export async function referenceOutputs(
  model: onnx.IModelProto,
  samples: readonly CalibrationSample[],
  opts: { threads?: number; signal?: AbortSignal } = {},
): Promise<EvalContext> {
  const outputNames = floatOutputNames(model);
  const reference = await runAll(model, samples, outputNames, { ...opts, optimized: true });
  return { samples, reference, outputNames, ...opts };
}

export function compareOutputs(reference: Outputs, actual: Outputs, names: string[]): Agreement {
  let cosSum = 0;
  let minCos = 1;
  let sqnrSum = 0;
  let n = 0;
  for (let i = 0; i < reference.length; i++)
    for (const name of names) {
      const a = reference[i]?.[name];
      const b = actual[i]?.[name];
      if (!a || !b) continue;
      const c = cosine(a, b);
      cosSum += c;
      minCos = Math.min(minCos, c);
      const s = sqnrDb(a, b);
      sqnrSum += Number.isFinite(s) ? s : 100;
      n++;
    }
  return n === 0
    ? { cosine: 1, minCosine: 1, sqnrDb: 100 }
    : { cosine: cosSum / n, minCosine: minCos, sqnrDb: sqnrSum / n };
}

/**
 * Agreement of a (quantized) model with the FP32 reference. With `atLeast`, evaluation stops as soon as the mean
 * cosine can no longer reach it even if every remaining sample agreed perfectly; the result then carries that
 * upper bound (below `atLeast`) and `partial: true`. `perSample`, when given, receives each evaluated sample's
 * cosine (mean over outputs), in sample order.
 */
export async function agreement(
  model: onnx.IModelProto | Uint8Array,
  ctx: EvalContext,
  opts: { optimized?: boolean; atLeast?: number; perSample?: number[] } = {},
): Promise<Agreement & { partial?: boolean }> {
  const total = ctx.samples.length * ctx.outputNames.length;
  let sum = 0;
  let partial = false;
  const onSample =
    opts.atLeast === undefined && opts.perSample === undefined
      ? undefined
      : (i: number, rec: Record<string, Float32Array>): boolean => {
          let own = 0;
          for (const name of ctx.outputNames) {
            const a = ctx.reference[i]?.[name];
            const b = rec[name];
            own += a && b ? cosine(a, b) : 1;
          }
          sum += own;
          opts.perSample?.push(own / Math.max(1, ctx.outputNames.length));
          if (opts.atLeast === undefined) return true;
          const done = (i + 1) * ctx.outputNames.length;
          const best = (sum + (total - done)) / total;
          if (best < opts.atLeast && done < total) partial = true;
          return !partial;
        };
  const out = await runAll(model, ctx.samples, ctx.outputNames, {
    ...ctx,
    ...(opts.optimized !== undefined ? { optimized: opts.optimized } : {}),
    ...(onSample ? { onSample } : {}),
  });
  const a = compareOutputs(ctx.reference, out, ctx.outputNames);
  return partial
    ? { ...a, cosine: (sum + (total - out.length * ctx.outputNames.length)) / total, partial }
    : a;
}

/**
 * The context with its samples reordered hardest first (lowest cosine in `perSample`, from an earlier evaluation
 * of these samples in order; samples it did not reach keep their order after them). Mean agreement is the same in
 * any order, but a placement that cannot meet a budget usually fails on the hard samples, so `atLeast` drops it
 * after fewer runs.
 */
export function hardestFirst(ctx: EvalContext, perSample: readonly number[]): EvalContext {
  const order = ctx.samples.map((_, i) => i);
  order.sort((a, b) => (perSample[a] ?? Infinity) - (perSample[b] ?? Infinity) || a - b);
  return {
    ...ctx,
    samples: order.map((i) => ctx.samples[i]!),
    reference: order.map((i) => ctx.reference[i]!),
  };
}

export interface LayerSensitivity {
  node: string;
  opType: string;
  /** Output cosine similarity to FP32 with only this layer quantized. */
  cosine: number;
  /** Output SQNR in dB with only this layer quantized. */
  sqnrDb: number;
}

/** Quantizes each candidate alone and measures the model's output error. */
export async function measureSensitivity(
  model: onnx.IModelProto,
  candidates: readonly string[],
  ranges: ReadonlyMap<string, TensorRange>,
  qdq: QdqOptions,
  ctx: EvalContext,
  onProgress?: (done: number, total: number) => void,
): Promise<LayerSensitivity[]> {
  const ops = new Map<string, string>();
  (model.graph?.node ?? []).forEach((n, i) => ops.set(nodeKey(n, i), n.opType ?? ''));
  const out: LayerSensitivity[] = [];
  let done = 0;
  for (const c of candidates) {
    check(ctx.signal);
    const q = quantizeQdq(model, new Set([c]), ranges, qdq);
    const a = await agreement(q.model, ctx);
    out.push({ node: c, opType: ops.get(c) ?? '', cosine: a.cosine, sqnrDb: a.sqnrDb });
    onProgress?.(++done, candidates.length);
  }
  return out;
}

export interface LayerError {
  node: string;
  opType: string;
  tensor: string;
  sqnrDb: number;
  /** SQNR averaged over channels (see channelSqnrDb). */
  channelSqnrDb: number;
}

/**
 * Per-layer SQNR of a quantized model: each quantized node's output in the quantized model against the same
 * tensor in the FP32 model (accumulated error up to that layer).
 */
export async function perLayerSqnr(
  fp32: onnx.IModelProto,
  quantized: onnx.IModelProto,
  nodes: readonly string[],
  ctx: EvalContext,
  /** Tensor → its dequantized name in the quantized model: the value consumers read is what is compared. */
  dequantized: ReadonlyMap<string, string> = new Map(),
): Promise<LayerError[]> {
  const byKey = new Map<string, onnx.INodeProto>();
  (fp32.graph?.node ?? []).forEach((n, i) => byKey.set(nodeKey(n, i), n));
  const pairs: { node: string; opType: string; tensor: string }[] = [];
  for (const k of nodes) {
    const n = byKey.get(k);
    const t = n?.output?.[0];
    if (n && t) pairs.push({ node: k, opType: n.opType ?? '', tensor: t });
  }
  const names = pairs.map((p) => p.tensor);
  if (names.length === 0) return [];
  const qNames = names.map((t) => dequantized.get(t) ?? t);
  const a = await runAll(exposeTensors(fp32, names), ctx.samples, names, { ...ctx, optimized: true });
  // Intermediate tensors exist only in the graph as written: fused kernels would hide them.
  const b = await runAll(exposeTensors(quantized, qNames), ctx.samples, qNames, { ...ctx, optimized: false });
  return pairs.map((p) => {
    let s = 0;
    let cs = 0;
    let n = 0;
    for (let i = 0; i < a.length; i++) {
      const x = a[i]?.[p.tensor];
      const y = b[i]?.[dequantized.get(p.tensor) ?? p.tensor];
      if (!x || !y) continue;
      const v = sqnrDb(x, y);
      s += Number.isFinite(v) ? Math.min(100, v) : 100;
      cs += channelSqnrDb(x, y);
      n++;
    }
    return { ...p, sqnrDb: n ? s / n : 100, channelSqnrDb: n ? cs / n : 100 };
  });
}
