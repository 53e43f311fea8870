/**
 * Calibration: runs the FP32 model in onnxruntime over the user's samples and records, for each tensor the
 * quantizer will quantize, the range its values take. It streams: what is kept per tensor is a fixed-size summary,
 * so memory does not grow with the number of samples.
 *
 * Methods: MinMax (the observed range), Percentile (clip the tails at a percentile of the values) and Entropy (the
 * clipping threshold whose 128-level quantized distribution is closest, in KL divergence, to the observed one:
 * TensorRT's calibrator).
 *
 * MinMax needs only per-channel minimum, maximum and sum, and onnxruntime computes those itself: after the first
 * sample (fetched whole, which gives each tensor's rank), the model is run with ReduceMin/ReduceMax/ReduceSum
 * nodes on every calibrated tensor and only those small results leave onnxruntime, as onnxruntime's own MinMax
 * calibrator does. Fetching every activation instead (16 M values per sample for PP-OCRv4 recognition) and
 * summarizing them in JavaScript took longer than the inference. Percentile and Entropy also need values for
 * their histograms: onnxruntime hands over every k-th value of each tensor (at most HIST_SAMPLE of them, what
 * the histogram bins anyway) while the range and channel statistics still cover every value.
 */
import type * as ortTypes from 'onnxruntime-node';
import * as ort from 'onnxruntime-node';
import { AppError } from '../../shared/errors.js';
import { onnx } from '../onnx/schema.js';
import { encodeModel } from '../onnx/io.js';
import { cloneModel, uniqueName, usedNames } from '../passes/graph.js';
import { createSession } from '../onnx/ort.js';
import { DataType } from '../onnx/tensors.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

/** One input value as sample sources produce it. */
export interface FeedValue {
  type: string;
  dims: readonly number[];
  data: ArrayBufferView;
}
export interface CalibrationSample {
  id?: string;
  feeds: Record<string, FeedValue>;
  /** Ground truth, where the source has it (OCR text for generated lines). */
  label?: { text?: string };
}
export interface CalibrationSource {
  description?: string;
  count: number;
  samples(signal?: AbortSignal): AsyncIterable<CalibrationSample>;
}

export interface TensorRange {
  min: number;
  max: number;
  /**
   * How many uint8 steps of the tensor-wide scale the median channel's own range spans (255 when every channel
   * fills the range). Low values mean a few channels set the scale and the rest are crushed into a few levels.
   */
  channelLevels?: number;
  /** Mean of each channel over the calibration data (axis 1 of NCHW tensors): input to bias correction. */
  channelMean?: Float64Array;
}

export interface CalibrationOptions {
  method: CalibrationMethod;
  /** Percentile method: the share of values kept, in percent (default 99.999). */
  percentile?: number;
  /** Stop after this many samples (default: all). */
  limit?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
  /** Threads onnxruntime uses for calibration (default: all cores). */
  threads?: number;
}

export interface CalibrationResult {
  method: CalibrationMethod;
  samples: number;
  tensors: number;
  ranges: Map<string, TensorRange>;
  /** Time spent inside onnxruntime's run(). */
  inferenceMs: number;
  /** Wall time of the whole calibration. */
  totalMs: number;
}

const BINS = 2048;

function nonFinite(): AppError {
  return new AppError('BAD_INPUT', 'calibration produced a non-finite activation (NaN or infinity)', {
    hint: 'Check the calibration samples: they must be preprocessed the way the model expects.',
  });
}
/** Values per tensor per sample that feed the histogram (min and max always see every value). */
const HIST_SAMPLE = 1 << 18;

/**
 * A histogram of fixed bin count over a range that grows by doubling (merging bin pairs) when new values fall
 * outside it, so every sample can be added in one pass without knowing the final range in advance.
 */
export class StreamingHistogram {
  readonly counts = new Float64Array(BINS);
  lo = 0;
  width = 0;
  min = Infinity;
  max = -Infinity;
  total = 0;

  /** Per-channel min and max (axis 1 of NCHW tensors, the last axis of rank-3 ones). */
  channelMin: Float64Array | undefined;
  channelMax: Float64Array | undefined;
  /** Values per channel per sample (spread statistics need more than a handful). */
  channelInner = 0;
  /** Per-channel sums and value count, for the channel means bias correction uses. */
  channelSum: Float64Array | undefined;
  channelCount = 0;

  /** binned: false keeps only min and max (the MinMax method needs nothing else). */
  constructor(private readonly binned = true) {}

  add(data: Float32Array, dims: readonly number[] = [data.length]): void {
    let mn = Infinity;
    let mx = -Infinity;
    const rank = dims.length;
    const channels = rank === 4 ? (dims[1] ?? 1) : rank === 3 ? (dims[2] ?? 1) : 1;
    if (channels > 1) {
      this.channelInner = data.length / channels;
      this.channelMin ??= new Float64Array(channels).fill(Infinity);
      this.channelMax ??= new Float64Array(channels).fill(-Infinity);
      const cmin = this.channelMin;
      const cmax = this.channelMax;
      this.channelSum ??= new Float64Array(channels);
      const csum = this.channelSum;
      this.channelCount += data.length / channels;
      if (rank === 4) {
        const inner = (dims[2] ?? 1) * (dims[3] ?? 1);
        const batch = data.length / (channels * inner);
        for (let b = 0; b < batch; b++)
          for (let c = 0; c < channels; c++) {
            let lo = cmin[c] as number;
            let hi = cmax[c] as number;
            let sum = 0;
            const base = (b * channels + c) * inner;
            for (let i = base; i < base + inner; i++) {
              const v = data[i] as number;
              sum += v;
              if (v < lo) lo = v;
              if (v > hi) hi = v;
            }
            cmin[c] = lo;
            cmax[c] = hi;
            csum[c] = (csum[c] as number) + sum;
          }
      } else {
        for (let i = 0; i < data.length; i++) {
          const c = i % channels;
          const v = data[i] as number;
          csum[c] = (csum[c] as number) + v;
          if (v < (cmin[c] as number)) cmin[c] = v;
          if (v > (cmax[c] as number)) cmax[c] = v;
        }
      }
      for (let c = 0; c < channels; c++) {
        if ((cmin[c] as number) < mn) mn = cmin[c] as number;
        if ((cmax[c] as number) > mx) mx = cmax[c] as number;
      }
    } else {
      for (let i = 0; i < data.length; i++) {
        const v = data[i] as number;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
      }
    }
    if (!Number.isFinite(mn) || !Number.isFinite(mx)) {
      if (data.length === 0) return;
      throw nonFinite();
    }
    if (mn < this.min) this.min = mn;
    if (mx > this.max) this.max = mx;
    if (this.binned) {
      const stride = Math.max(1, Math.floor(data.length / HIST_SAMPLE));
      this.bin(data, stride, stride, mn, mx);
    }
    this.total += data.length;
  }

  /**
   * Counts every `step`-th value of `values`, each standing for `weight` values of the tensor, into the
   * histogram, whose range first grows to cover [mn, mx] (the whole tensor's, which the values lie within).
   */
  private bin(values: Float32Array, step: number, weight: number, mn: number, mx: number): void {
    if (this.width === 0) {
      const span = mx - mn;
      this.lo = mn;
      this.width = span > 0 ? (span / BINS) * 1.0001 : Math.max(Math.abs(mn), 1e-6) / BINS;
    }
    while (mn < this.lo) this.grow(true);
    while (mx >= this.lo + this.width * BINS) this.grow(false);
    const inv = 1 / this.width;
    const lo = this.lo;
    const counts = this.counts;
    for (let i = 0; i < values.length; i += step) {
      let b = Math.floor(((values[i] as number) - lo) * inv);
      if (b >= BINS) b = BINS - 1;
      else if (b < 0) b = 0;
      counts[b] = (counts[b] as number) + weight;
    }
  }

  /**
   * Adds one sample's summary computed elsewhere (onnxruntime's reductions, see calibrate): per-channel minimum,
   * maximum and sum over `perChannel` values each (one channel: the whole tensor), and for Percentile and Entropy
   * an evenly strided `sample` of the tensor's values for the histogram.
   */
  addReduced(
    min: Float32Array,
    max: Float32Array,
    sum: Float32Array,
    perChannel: number,
    sample?: Float32Array,
  ): void {
    if (this.binned && !sample) throw new Error('a histogram needs a sample of the values');
    let mn = Infinity;
    let mx = -Infinity;
    let total = 0;
    for (let c = 0; c < min.length; c++) {
      mn = Math.min(mn, min[c] as number);
      mx = Math.max(mx, max[c] as number);
      total += sum[c] as number;
    }
    // A NaN anywhere makes the sum NaN (reductions disagree on whether min/max skip it).
    if (!Number.isFinite(mn) || !Number.isFinite(mx) || !Number.isFinite(total)) {
      if (perChannel === 0) return;
      throw nonFinite();
    }
    if (min.length > 1) {
      const channels = min.length;
      this.channelInner = perChannel;
      this.channelMin ??= new Float64Array(channels).fill(Infinity);
      this.channelMax ??= new Float64Array(channels).fill(-Infinity);
      this.channelSum ??= new Float64Array(channels);
      for (let c = 0; c < channels; c++) {
        this.channelMin[c] = Math.min(this.channelMin[c] as number, min[c] as number);
        this.channelMax[c] = Math.max(this.channelMax[c] as number, max[c] as number);
        this.channelSum[c] = (this.channelSum[c] as number) + (sum[c] as number);
      }
      this.channelCount += perChannel;
    }
    if (mn < this.min) this.min = mn;
    if (mx > this.max) this.max = mx;
    const count = perChannel * min.length;
    if (this.binned && sample && sample.length > 0) this.bin(sample, 1, count / sample.length, mn, mx);
    this.total += count;
  }

  /** Doubles the bin width; the old range becomes the upper (downward) or lower (upward) half. */
  private grow(downward: boolean): void {
    const merged = new Float64Array(BINS);
    const offset = downward ? BINS / 2 : 0;
    for (let i = 0; i < BINS; i++) {
      const j = offset + (i >> 1);
      merged[j] = (merged[j] as number) + (this.counts[i] as number);
    }
    if (downward) this.lo -= this.width * BINS;
    this.width *= 2;
    this.counts.set(merged);
  }

  edge(i: number): number {
    return this.lo + i * this.width;
  }

  percentileRange(percent: number): TensorRange {
    const sum = this.counts.reduce((a, b) => a + b, 0);
    if (sum === 0 || this.width === 0) return { min: this.min, max: this.max };
    const tail = (sum * (100 - percent)) / 100;
    let acc = 0;
    let lowBin = 0;
    for (; lowBin < BINS; lowBin++) {
      acc += this.counts[lowBin] as number;
      if (acc > tail / 2) break;
    }
    acc = 0;
    let highBin = BINS - 1;
    for (; highBin >= 0; highBin--) {
      acc += this.counts[highBin] as number;
      if (acc > tail / 2) break;
    }
    const min = Math.max(this.min, this.edge(lowBin));
    const max = Math.min(this.max, this.edge(highBin + 1));
    // A one-signed tensor keeps its natural bound at 0.
    return { min: this.min >= 0 ? this.min : min, max: this.max <= 0 ? this.max : max };
  }

  /** TensorRT's entropy calibration on |x|: the threshold minimizing KL(P || Q) with Q on 128 levels. */
  entropyRange(): TensorRange {
    const maxAbs = Math.max(Math.abs(this.min), Math.abs(this.max));
    if (maxAbs === 0 || this.width === 0) return { min: this.min, max: this.max };
    const absBins = BINS;
    const absWidth = maxAbs / absBins;
    const hist = new Float64Array(absBins);
    for (let i = 0; i < BINS; i++) {
      const c = this.counts[i] as number;
      if (c === 0) continue;
      const center = Math.abs(this.edge(i) + this.width / 2);
      const b = Math.min(absBins - 1, Math.floor(center / absWidth));
      hist[b] = (hist[b] as number) + c;
    }
    const levels = 128;
    let bestKl = Infinity;
    let bestI = absBins;
    const step = 16;
    for (let i = levels; i <= absBins; i += step) {
      const p = hist.slice(0, i);
      let outliers = 0;
      for (let k = i; k < absBins; k++) outliers += hist[k] as number;
      p[i - 1] = (p[i - 1] as number) + outliers;
      const q = new Float64Array(i);
      const per = i / levels;
      for (let l = 0; l < levels; l++) {
        const a = Math.floor(l * per);
        const b = l === levels - 1 ? i : Math.floor((l + 1) * per);
        let sum = 0;
        let nz = 0;
        for (let k = a; k < b; k++) {
          const v = p[k] as number;
          sum += v;
          if (v > 0) nz++;
        }
        if (nz === 0) continue;
        const avg = sum / nz;
        for (let k = a; k < b; k++) if ((p[k] as number) > 0) q[k] = avg;
      }
      const kl = klDivergence(p, q);
      if (kl < bestKl) {
        bestKl = kl;
        bestI = i;
      }
    }
    const t = (bestI + 0.5) * absWidth;
    return { min: Math.max(this.min, -t), max: Math.min(this.max, t) };
  }
}

function klDivergence(p: Float64Array, q: Float64Array): number {
  let ps = 0;
  let qs = 0;
  for (let i = 0; i < p.length; i++) {
    ps += p[i] as number;
    qs += q[i] as number;
  }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = (p[i] as number) / ps;
    if (pi === 0) continue;
    const qi = Math.max((q[i] as number) / qs, 1e-12);
    kl += pi * Math.log(pi / qi);
  }
  return kl;
}

export function toOrtTensor(v: FeedValue): ortTypes.Tensor {
  return new ort.Tensor(v.type as ortTypes.Tensor.Type, v.data as ortTypes.Tensor.DataType, [...v.dims]);
}

export function toOrtFeeds(feeds: Record<string, FeedValue>): Record<string, ortTypes.Tensor> {
  const out: Record<string, ortTypes.Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) out[k] = toOrtTensor(v);
  return out;
}

/** A copy of the model whose graph outputs also expose `tensors` (float32 intermediates). */
export function exposeTensors(model: onnx.IModelProto, tensors: Iterable<string>): onnx.ModelProto {
  const copy = cloneModel(model);
  const graph = copy.graph ?? (copy.graph = onnx.GraphProto.create());
  const present = new Set((graph.output ?? []).map((o) => o.name));
  for (const name of tensors) {
    if (present.has(name)) continue;
    present.add(name);
    (graph.output ??= []).push(
      onnx.ValueInfoProto.create({
        name,
        type: onnx.TypeProto.create({ tensorType: { elemType: DataType.FLOAT } }),
      }),
    );
  }
  return copy;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AppError('CANCELLED', 'Calibration cancelled.');
}

/** The channel axis calibration summarizes per channel: 1 of rank-4 (NCHW) tensors, the last of rank-3 ones. */
function channelAxis(rank: number): number | undefined {
  return rank === 4 ? 1 : rank === 3 ? 2 : undefined;
}

/** Names of the reductions of one tensor in the reduced model. */
interface Reduced {
  min: string;
  max: string;
  sum: string;
  shape: string;
  /** Every step-th value of the flattened tensor, for histograms (Percentile, Entropy). */
  sample?: string;
}

/**
 * A copy of the model whose outputs are, for each tensor of known rank, its per-channel ReduceMin, ReduceMax and
 * ReduceSum (over every axis but the channel axis; over all axes for tensors without one) and its Shape, and with
 * `sampleSteps`, every step-th value of the flattened tensor (Reshape + Slice; the tensor itself for step 1).
 * Undefined when the model's opset is too old for Slice with steps (below 10) and samples were asked for.
 */
function reductionModel(
  model: onnx.IModelProto,
  ranks: ReadonlyMap<string, number>,
  sampleSteps?: ReadonlyMap<string, number>,
): { model: onnx.ModelProto; outputs: Map<string, Reduced> } | undefined {
  const copy = cloneModel(model);
  const graph = copy.graph ?? (copy.graph = onnx.GraphProto.create());
  const opset = Number(
    (copy.opsetImport ?? []).find((o) => o.domain === '' || o.domain == null || o.domain === 'ai.onnx')
      ?.version ?? 13,
  );
  if (sampleSteps && opset < 10) return undefined;
  const taken = usedNames(copy);
  const outputs = new Map<string, Reduced>();
  const nodes: onnx.INodeProto[] = [];
  const INT = onnx.AttributeProto.AttributeType.INT;
  const INTS = onnx.AttributeProto.AttributeType.INTS;
  const int64s = new Map<string, string>();
  /** A shared int64 initializer holding `values`. */
  const int64Init = (label: string, values: readonly bigint[]): string => {
    const key = `${label}:${values.join(',')}`;
    let name = int64s.get(key);
    if (!name) {
      name = uniqueName(`calibration_${label}`, taken);
      int64s.set(key, name);
      (graph.initializer ??= []).push(
        onnx.TensorProto.create({
          name,
          dataType: DataType.INT64,
          dims: [values.length],
          rawData: new Uint8Array(BigInt64Array.from(values).buffer),
        }),
      );
    }
    return name;
  };
  /** Axes as an input (ReduceSum from opset 13, ReduceMin/Max from 18) or an attribute (before). */
  const reduce = (op: string, input: string, output: string, axes: number[] | undefined): onnx.INodeProto => {
    const asInput = op === 'ReduceSum' ? opset >= 13 : opset >= 18;
    const attribute: onnx.IAttributeProto[] = [{ name: 'keepdims', type: INT, i: 0 }];
    const inputs = [input];
    if (axes && asInput) inputs.push(int64Init(`axes_${axes.join('_')}`, axes.map(BigInt)));
    else if (axes) attribute.push({ name: 'axes', type: INTS, ints: axes });
    return {
      name: uniqueName(`${output}_node`, taken),
      opType: op,
      input: inputs,
      output: [output],
      attribute,
    };
  };
  const out = (name: string, elemType: number): onnx.ValueInfoProto =>
    onnx.ValueInfoProto.create({ name, type: onnx.TypeProto.create({ tensorType: { elemType } }) });
  for (const [t, rank] of ranks) {
    const axis = channelAxis(rank);
    const axes = axis === undefined ? undefined : [...Array(rank).keys()].filter((a) => a !== axis);
    const r: Reduced = {
      min: uniqueName(`${t}_calibration_min`, taken),
      max: uniqueName(`${t}_calibration_max`, taken),
      sum: uniqueName(`${t}_calibration_sum`, taken),
      shape: uniqueName(`${t}_calibration_shape`, taken),
    };
    nodes.push(
      reduce('ReduceMin', t, r.min, axes),
      reduce('ReduceMax', t, r.max, axes),
      reduce('ReduceSum', t, r.sum, axes),
      { name: uniqueName(`${r.shape}_node`, taken), opType: 'Shape', input: [t], output: [r.shape] },
    );
    const step = sampleSteps?.get(t);
    if (step === 1) r.sample = t;
    else if (step !== undefined) {
      const flat = uniqueName(`${t}_calibration_flat`, taken);
      r.sample = uniqueName(`${t}_calibration_sample`, taken);
      nodes.push(
        {
          name: uniqueName(`${flat}_node`, taken),
          opType: 'Reshape',
          input: [t, int64Init('flat', [-1n])],
          output: [flat],
        },
        {
          name: uniqueName(`${r.sample}_node`, taken),
          opType: 'Slice',
          input: [
            flat,
            int64Init('zero', [0n]),
            int64Init('end', [2n ** 63n - 1n]),
            int64Init('zero', [0n]),
            int64Init('step', [BigInt(step)]),
          ],
          output: [r.sample],
        },
      );
    }
    outputs.set(t, r);
  }
  graph.node = [...(graph.node ?? []), ...nodes];
  graph.output = [
    ...[...outputs.values()].flatMap((r) => [
      out(r.min, DataType.FLOAT),
      out(r.max, DataType.FLOAT),
      out(r.sum, DataType.FLOAT),
      out(r.shape, DataType.INT64),
      ...(r.sample !== undefined ? [out(r.sample, DataType.FLOAT)] : []),
    ]),
  ];
  return { model: copy, outputs };
}

/** Runs the model over the samples and returns a range per tensor. */
export async function calibrate(
  model: onnx.IModelProto,
  tensors: readonly string[],
  source: CalibrationSource,
  opts: CalibrationOptions,
): Promise<CalibrationResult> {
  const started = performance.now();
  const total = Math.min(source.count, opts.limit ?? Infinity);
  if (total <= 0) {
    throw new AppError('BAD_INPUT', 'calibration needs at least one sample; the data source has none', {
      hint: 'Point --calibration at a folder of images or .npy files the model can take as input.',
    });
  }
  // Full optimization: fusions never remove a graph output, so every calibrated tensor is still computed.
  const sessionOptions = {
    graphOptimizationLevel: 'all' as const,
    ...(opts.threads !== undefined ? { intraOpNumThreads: opts.threads } : {}),
  };
  let session = await createSession(encodeModel(exposeTensors(model, tensors)), sessionOptions);
  let fetches = [...tensors];
  /** Set once MinMax switches to onnxruntime's reductions (after the first sample). */
  let reduced: Map<string, Reduced> | undefined;
  const hists = new Map<string, StreamingHistogram>();
  for (const t of tensors) hists.set(t, new StreamingHistogram(opts.method !== 'minmax'));
  let inferenceMs = 0;
  let done = 0;
  // onnxruntime-node runs inference synchronously on this thread (run() resolves from a setImmediate), so there
  // is nothing to overlap: each run is timed alone, and summarizing its outputs is not counted as inference.
  const run = async (s: CalibrationSample): Promise<ortTypes.InferenceSession.ReturnType> => {
    const t0 = performance.now();
    try {
      return await session.run(toOrtFeeds(s.feeds), fetches);
    } catch (err) {
      throw new AppError(
        'BAD_INPUT',
        `calibration sample ${s.id ?? done + 1}: onnxruntime rejected it: ${err instanceof Error ? err.message : String(err)}`,
        { hint: 'The sample must match the model inputs (names, element types, shapes).', cause: err },
      );
    } finally {
      inferenceMs += performance.now() - t0;
    }
  };
  try {
    for await (const sample of source.samples(opts.signal)) {
      throwIfAborted(opts.signal);
      const result = await run(sample);
      done++;
      if (reduced) {
        for (const [name, r] of reduced) {
          const shape = result[r.shape]?.data as BigInt64Array | undefined;
          const min = result[r.min]?.data as Float32Array | undefined;
          if (!shape || !min) continue;
          const count = shape.reduce((a, b) => a * Number(b), 1);
          hists
            .get(name)
            ?.addReduced(
              min,
              result[r.max]!.data as Float32Array,
              result[r.sum]!.data as Float32Array,
              count / min.length,
              r.sample !== undefined ? (result[r.sample]?.data as Float32Array | undefined) : undefined,
            );
        }
      } else {
        const ranks = new Map<string, number>();
        const steps = new Map<string, number>();
        for (const [name, h] of hists) {
          const t = result[name];
          if (!t || t.type !== 'float32') continue;
          h.add(t.data as Float32Array, t.dims);
          ranks.set(name, t.dims.length);
          steps.set(name, Math.max(1, Math.floor(t.data.length / HIST_SAMPLE)));
        }
        const r =
          done < total && ranks.size > 0
            ? reductionModel(model, ranks, opts.method === 'minmax' ? undefined : steps)
            : undefined;
        if (r) {
          // The rest runs on onnxruntime's reductions (see the file comment).
          const next = await createSession(encodeModel(r.model), sessionOptions);
          await session.release();
          session = next;
          reduced = r.outputs;
          fetches = [...r.outputs.values()].flatMap((x) => [
            x.min,
            x.max,
            x.sum,
            x.shape,
            ...(x.sample !== undefined ? [x.sample] : []),
          ]);
        }
      }
      opts.onProgress?.(done, total);
      if (done >= total) break;
    }
  } finally {
    await session.release();
  }
  const ranges = new Map<string, TensorRange>();
  for (const [name, h] of hists) {
    if (h.total === 0) continue;
    let r: TensorRange =
      opts.method === 'minmax'
        ? { min: h.min, max: h.max }
        : opts.method === 'percentile'
          ? h.percentileRange(opts.percentile ?? 99.999)
          : h.entropyRange();
    if (h.channelMin && h.channelMax && h.channelInner >= 4) {
      const scale = (Math.max(r.max, 0) - Math.min(r.min, 0)) / 255;
      const levels: number[] = [];
      for (let c = 0; c < h.channelMin.length; c++)
        levels.push(scale > 0 ? ((h.channelMax[c] as number) - (h.channelMin[c] as number)) / scale : 255);
      levels.sort((a, b) => a - b);
      r = { ...r, channelLevels: levels[levels.length >> 1] ?? 255 };
    }
    if (h.channelSum && h.channelCount > 0) {
      const n = h.channelCount;
      r = { ...r, channelMean: h.channelSum.map((v) => v / n) };
    }
    ranges.set(name, r);
  }
  return {
    method: opts.method,
    samples: done,
    tensors: ranges.size,
    ranges,
    inferenceMs,
    totalMs: performance.now() - started,
  };
}
