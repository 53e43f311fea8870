/**
 * Static INT8 quantization, end to end: choose the nodes to quantize (op types the target runs in integer,
 * minus the user's exclusions), calibrate them on the user's samples, place Q/DQ, then, in accuracy-aware mode,
 * keep the most sensitive layers in float until the output agreement with FP32 meets the budget. Reports which
 * nodes run quantized, which stayed float and why, and each quantized layer's SQNR.
 *
 * The input model must already be prepared (graph cleanups, opset ≥ 13): see models/build/prepare.ts.
 */
import type { KeptFloatKind } from '../../shared/contract.js';
import { AppError } from '../../shared/errors.js';
import { onnx } from '../onnx/schema.js';
import { int64, tensorDims } from '../onnx/tensors.js';
import { attribute } from '../passes/graph.js';
import {
  calibrate,
  type CalibrationMethod,
  type CalibrationSample,
  type CalibrationSource,
  type TensorRange,
} from './calibrate.js';
import {
  nodeKey,
  OP_RULES,
  quantizeQdq,
  tensorsToCalibrate,
  type FloatWeightStorage,
  type QdqResult,
} from './qdq.js';
import type { ActivationType } from './qparams.js';
import { inferElemTypes, isFloatType } from './types.js';
import { nodeSavings, speedPass, type NodeProfile } from './speed.js';
import {
  agreement,
  hardestFirst,
  measureSensitivity,
  perLayerSqnr,
  referenceOutputs,
  type Agreement,
  type LayerError,
  type LayerSensitivity,
} from './sensitivity.js';

/**
 * Op types quantized by default on CPU targets: the compute-heavy ones, plus the elementwise and layout ops that
 * sit between them, so integer data flows from one integer kernel to the next instead of through Q/DQ pairs.
 */
export const DEFAULT_STATIC_OPS: readonly string[] = [
  'Conv',
  'MatMul',
  'Gemm',
  'HardSwish',
  'Add',
  'Mul',
  'Concat',
  'Resize',
  'MaxPool',
  'GlobalAveragePool',
];

export type QuantStage = 'calibrate' | 'quantize' | 'sensitivity' | 'search' | 'speed' | 'report';

export interface StaticOptions {
  method: CalibrationMethod;
  percentile?: number;
  activationType: ActivationType;
  symmetricActivations?: boolean;
  reduceRange?: boolean;
  /** Op types to quantize (default DEFAULT_STATIC_OPS). */
  ops?: readonly string[];
  /** Node names or op types kept in float. */
  exclude?: readonly string[];
  /**
   * How the accuracy search ranks what to keep float: 'channel' (default: activations with the least channel
   * resolution first, from calibration statistics, no extra runs) or 'layer' (measured: each weighted layer
   * quantized alone, its output error against FP32; one evaluation per layer, so slower).
   */
  sensitivity?: 'channel' | 'layer';
  /** Correct Conv biases for the mean shift weight rounding causes (see QdqOptions.biasCorrection). */
  biasCorrection?: boolean;
  /**
   * How the weights of layers kept float are stored (see QdqOptions.floatWeights; default float32). 'auto': int8,
   * placed and searched that way, when there is an accuracy budget, falling back to float16 if the budget is not
   * met; float16 when there is no budget.
   */
  floatWeights?: FloatWeightStorage | 'auto';
  /**
   * Keep depthwise convolutions float (default true). Measured on onnxruntime 1.30, x86-64 AVX2, 1 thread, with
   * the PP-OCRv4 detector: its int8 depthwise QLinearConv ran at 0.6–1.0× the float kernel's speed, while
   * pointwise and full convolutions ran ~2× faster, so quantizing depthwise layers costs accuracy for nothing.
   */
  floatDepthwise?: boolean;
  /** Accuracy-aware mode: the lowest acceptable mean output cosine similarity to FP32 (e.g. 0.99). */
  accuracyBudget?: number;
  /**
   * Activations whose median channel spans fewer uint8 steps than this (of 255) stay float (default 24; 0 turns
   * the rule off). See TensorRange.channelLevels.
   */
  minChannelLevels?: number;
  /**
   * Samples used to measure agreement (default: a fifth of the data, 4 to 16): the last ones of the data, held
   * out of calibration when the data has more than twice as many; otherwise the first calibration samples. A
   * handful is too few for models whose error varies a lot from input to input (text recognition: 4 lines
   * agreed at cosine 0.999 while 200 others averaged 0.980).
   */
  evalSamples?: number;
  /**
   * How agreement is measured during the accuracy search: 'emulated' (default: Q/DQ as written, float arithmetic
   * on quantized values, what any runtime should match) or 'runtime' (onnxruntime's own integer kernels on this
   * computer, what a CPU build ships; faster to evaluate too). See EvalContext.optimized.
   */
  evaluation?: 'emulated' | 'runtime';
  /**
   * After the accuracy search, find the islands of connected int8 nodes that run slower than float on this
   * computer and keep them float (see speed.ts). Needs evaluation 'runtime' (the target is this CPU type). Costs
   * one profiled run of the placed and of the float model, plus paired timings of the islands the profiles single
   * out, when any.
   */
  speedPass?: boolean;
  /**
   * Order the accuracy search by quantization noise per millisecond of int8 saving on this computer (profiled),
   * instead of by channel resolution alone: the layers kept float for accuracy are then, where the budget allows,
   * those that gain least from int8. Needs evaluation 'runtime'; costs one profile of the placed and of the float
   * model.
   */
  speedAwareSearch?: boolean;
  /**
   * Time budget for timing islands one by one, when those the profiles single out do not pay off together
   * (default: calibration's inference time, at least 5 s).
   */
  speedPassBudgetMs?: number;
  /**
   * What the build does to the model after quantizing (e.g. prepare.ts cpuLayout): the speed pass applies it to
   * the models it times, so that it times what ships. It must keep node names.
   */
  finish?: (model: onnx.IModelProto) => onnx.IModelProto;
  /** Quantize the model's outputs too (full-integer targets; see QdqOptions.quantizeOutputs). */
  quantizeOutputs?: boolean;
  /** Stop calibration after this many samples. */
  limit?: number;
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (stage: QuantStage, done: number, total: number) => void;
}

export interface KeptFloat {
  node: string;
  opType: string;
  reason: string;
  kind: KeptFloatKind;
}

export interface StaticResult {
  model: onnx.ModelProto;
  quantized: string[];
  keptFloat: KeptFloat[];
  calibration: {
    method: CalibrationMethod;
    samples: number;
    tensors: number;
    inferenceMs: number;
    totalMs: number;
  };
  ranges: Map<string, TensorRange>;
  /** How the weights of the layers kept float are stored. */
  floatWeights: FloatWeightStorage;
  /** The samples `agreement` was measured on: held out of calibration, or calibration samples when too few. */
  agreementSamples: { count: number; heldOut: boolean };
  /** Agreement with FP32 on the evaluation samples (Q/DQ evaluated as written). */
  agreement: Agreement;
  /** The speed pass, when asked for: what it measured, or why it did not run. */
  speed?: SpeedPassSummary | { skipped: string };
  sensitivity: LayerSensitivity[];
  layers: LayerError[];
  qdq: Pick<QdqResult, 'activations' | 'weights'>;
}

export interface SpeedPassSummary {
  islands: number;
  /** Islands estimated from one profile of the placed model and one of the float model. */
  screened?: number;
  /**
   * onnxruntime's profiler failed (its message): the accuracy search then ordered by channel resolution alone,
   * and the speed pass timed the islands one by one.
   */
  profileError?: string;
  /** Islands timed: those the profiles singled out, or (without them) those timed within the budget. */
  tested: number;
  /** Islands returned to float, and their nodes. */
  droppedIslands: number;
  droppedNodes: number;
  /** Median 1-thread latency on one evaluation sample before and after. */
  beforeMs: number;
  afterMs: number;
  ms: number;
}

const WEIGHTED = new Set(['Conv', 'ConvTranspose', 'MatMul', 'Gemm']);

function isDepthwise(graph: onnx.IGraphProto, n: onnx.INodeProto): boolean {
  const group = int64(attribute(n, 'group')?.i ?? 1);
  if (group <= 1) return false;
  const w = (graph.initializer ?? []).find((t) => t.name === n.input?.[1]);
  const out = w ? tensorDims(w)[0] : undefined;
  return out !== undefined && group === out;
}

/**
 * The smallest k in [lo, hi] whose attempt passes, assuming passing is monotone in k (up to noise). Galloping
 * search from `first`: if it passes, binary search below it; if not, double the distance from lo until an attempt
 * passes, then binary search the bracket. The output error of a quantized model usually comes from a few tensors,
 * so the answer is usually small; when it is not, galloping finds it in about 2·log2(k) attempts instead of
 * searching the low range first. Undefined when none passes. `onStep` gets the attempts made so far and an
 * estimate of the total. (Evaluating two candidates at once measured slower here: onnxruntime-node's session
 * setup and runs occupy the calling thread.) `worthRefining(failed, passed)`, when given, ends the binary search
 * early: once it says the best possible k between the last failing and the passing one is not worth more attempts.
 */
export async function smallestPassing<T>(
  lo: number,
  hi: number,
  attempt: (k: number) => Promise<{ pass: boolean; value: T }>,
  onStep?: (done: number, total: number) => void,
  first = lo,
  worthRefining?: (failed: number, passed: number) => boolean,
): Promise<{ k: number; value: T } | undefined> {
  let done = 0;
  let estimate = Math.ceil(Math.log2(hi - lo + 2));
  const tryK = async (k: number): Promise<{ pass: boolean; value: T }> => {
    const r = await attempt(k);
    onStep?.(++done, (estimate = Math.max(estimate, done + 1)));
    return r;
  };
  let best: { k: number; value: T } | undefined;
  // Gallop: find a passing k, and the last failing one below it.
  let failed = lo - 1;
  let probe = Math.max(lo, Math.min(hi, first));
  for (;;) {
    const r = await tryK(probe);
    if (r.pass) {
      best = { k: probe, value: r.value };
      break;
    }
    failed = probe;
    if (probe >= hi) return undefined;
    probe = Math.min(hi, lo + 2 * (probe - lo + 1) - 1);
  }
  // Binary search (failed, best.k).
  let a = failed + 1;
  let b = best.k - 1;
  estimate = done + Math.ceil(Math.log2(b - a + 2));
  while (a <= b && (worthRefining?.(a - 1, b + 1) ?? true)) {
    const mid = (a + b) >> 1;
    const r = await tryK(mid);
    if (r.pass) {
      best = { k: mid, value: r.value };
      b = mid - 1;
    } else a = mid + 1;
  }
  onStep?.(done, done);
  return best;
}

/**
 * The smallest k of each distinct placement among k = 1..n, leaving out those equal to `start` (k = 0). Keeping
 * one more tensor or layer float often changes nothing (its nodes already left the plan with an earlier one), and
 * the search need not evaluate the same model twice. Placements only shrink as k grows, so equal ones are
 * adjacent.
 */
function distinctSteps(
  n: number,
  placementFor: (k: number) => ReadonlySet<string>,
  start: ReadonlySet<string>,
): number[] {
  const key = (p: ReadonlySet<string>): string => [...p].sort().join('\n');
  const ks: number[] = [];
  let last = key(start);
  for (let k = 1; k <= n; k++) {
    const now = key(placementFor(k));
    if (now !== last) ks.push(k);
    last = now;
  }
  return ks;
}

/**
 * The order in which the speed-aware accuracy search keeps activations float: first those whose nodes save no
 * time in int8 (`msSaved` ≤ 0: keeping them float costs nothing), by channel resolution; then by quantization
 * noise (~1/levels² of the median channel's signal) per millisecond lost. `free` counts the first group.
 */
export function speedAwareOrder(
  tensors: readonly string[],
  levelsOf: (t: string) => number,
  msSaved: (t: string) => number,
): { order: string[]; free: number } {
  const priority = (t: string): number => {
    const ms = msSaved(t);
    return ms <= 0 ? Infinity : 1 / (levelsOf(t) ** 2 * ms);
  };
  const order = [...tensors].sort((a, b) => priority(b) - priority(a) || levelsOf(a) - levelsOf(b));
  return { order, free: order.filter((t) => msSaved(t) <= 0).length };
}

/** How many samples agreement is measured on by default: a fifth of the data, 4 to 16 (see evalSamples). */
export function defaultEvalSamples(available: number): number {
  return Math.min(16, Math.max(4, Math.floor(available / 5)));
}

/**
 * Which of `available` samples measure agreement: the last `count` (default defaultEvalSamples), held out of
 * calibration when the data has more than twice as many; otherwise the first `count`, shared with calibration.
 * The accuracy search and the build's final check use the same ones.
 */
export function evalSplit(
  available: number,
  count?: number,
): { start: number; count: number; heldOut: boolean; calibration: number } {
  const n = Math.max(1, count ?? defaultEvalSamples(available));
  const heldOut = available >= 2 * n + 1;
  return {
    start: heldOut ? available - n : 0,
    count: n,
    heldOut,
    calibration: heldOut ? available - n : available,
  };
}

/** Samples [start, start + n) of the source, streamed (earlier ones are skipped, not kept). */
export async function sampleRange(
  source: CalibrationSource,
  start: number,
  n: number,
  signal?: AbortSignal,
): Promise<CalibrationSample[]> {
  const out: CalibrationSample[] = [];
  let i = 0;
  for await (const s of source.samples(signal)) {
    if (i++ < start) continue;
    out.push(s);
    if (out.length >= n) break;
  }
  return out;
}

export async function quantizeStatic(
  model: onnx.IModelProto,
  source: CalibrationSource,
  opts: StaticOptions,
): Promise<StaticResult> {
  const graph = model.graph;
  if (!graph) throw new AppError('MODEL_MALFORMED', 'model has no graph', { hint: 'Re-export the model.' });
  const ops = new Set(opts.ops ?? DEFAULT_STATIC_OPS);
  for (const op of ops)
    if (!OP_RULES[op])
      throw new AppError('BAD_INPUT', `op type ${op} cannot be quantized statically here`, {
        hint: `Quantizable op types: ${Object.keys(OP_RULES).join(', ')}.`,
      });
  const exclude = new Set(opts.exclude ?? []);
  const keptFloat: KeptFloat[] = [];
  const plan = new Set<string>();
  const opOf = new Map<string, string>();
  const allKeys = new Set<string>();
  // Integer shape arithmetic (Shape → Concat → Reshape, as exporters write it) is not float work to quantize.
  const elemTypes = inferElemTypes(graph);
  (graph.node ?? []).forEach((n, i) => {
    const key = nodeKey(n, i);
    allKeys.add(key);
    opOf.set(key, n.opType ?? '');
    if (!ops.has(n.opType ?? '')) return;
    const outType = elemTypes.get(n.output?.[0] ?? '');
    if (outType !== undefined && !isFloatType(outType)) return;
    if (exclude.has(key) || exclude.has(n.opType ?? '')) {
      keptFloat.push({ node: key, opType: n.opType ?? '', reason: 'excluded by the user', kind: 'excluded' });
      return;
    }
    if (n.opType === 'Conv' && (opts.floatDepthwise ?? true) && isDepthwise(graph, n)) {
      keptFloat.push({
        node: key,
        opType: 'Conv',
        kind: 'depthwise',
        reason:
          'depthwise convolution: onnxruntime’s int8 depthwise kernel measured no faster than float on CPU',
      });
      return;
    }
    plan.add(key);
  });
  const unknown = [...exclude].filter(
    (e) => !allKeys.has(e) && ![...opOf.values()].includes(e) && !OP_RULES[e],
  );
  if (unknown.length > 0) {
    throw new AppError(
      'BAD_INPUT',
      `--exclude names no node or op type in this model: ${unknown.slice(0, 5).join(', ')}`,
      {
        hint: 'Use node names as `edgectl model inspect --nodes` lists them, or op types such as Conv.',
      },
    );
  }
  // Elementwise and layout ops pay off in integer only when their input already is: one whose inputs all come
  // from float nodes would add a Quantize/Dequantize pair around float work. Nodes are in topological order.
  // A Relu or Clip right after a quantized Conv/MatMul/Gemm is absorbed into its output's range (qdq.ts): what
  // reads the Relu's output reads the quantized node's, so the Relu's output counts as that node's.
  const producerKey = new Map<string, string>();
  (graph.node ?? []).forEach((n, i) => {
    const through =
      (n.opType === 'Relu' || n.opType === 'Clip') &&
      WEIGHTED.has(opOf.get(producerKey.get(n.input?.[0] ?? '') ?? '') ?? '')
        ? producerKey.get(n.input?.[0] ?? '')
        : undefined;
    for (const o of n.output ?? []) if (o) producerKey.set(o, through ?? nodeKey(n, i));
  });
  (graph.node ?? []).forEach((n, i) => {
    const key = nodeKey(n, i);
    if (!plan.has(key) || WEIGHTED.has(n.opType ?? '')) return;
    const fed = (n.input ?? []).some((t) => plan.has(producerKey.get(t) ?? ''));
    if (!fed) {
      plan.delete(key);
      keptFloat.push({
        node: key,
        opType: n.opType ?? '',
        kind: 'unfed',
        reason: 'its inputs come from float nodes: in integer it would only add a Quantize/Dequantize pair',
      });
    }
  });
  if (plan.size === 0) {
    throw new AppError('BAD_INPUT', 'nothing to quantize: the model has no node of the selected op types', {
      hint: `The model's op types: ${[...new Set(opOf.values())].slice(0, 12).join(', ')}.`,
    });
  }
  const progress = opts.onProgress;
  const tensors = tensorsToCalibrate(model, plan);
  // Agreement is measured on samples calibration did not see when there are enough (the last evalSamples of the
  // source): calibrated ranges fit their own samples exactly, so measuring on them would hide the clipping that
  // new inputs meet, and the accuracy search would stop short of what the budget means on real data.
  const split = evalSplit(Math.min(source.count, opts.limit ?? Infinity), opts.evalSamples);
  const cal = await calibrate(model, tensors, source, {
    method: opts.method,
    ...(opts.percentile !== undefined ? { percentile: opts.percentile } : {}),
    limit: split.calibration,
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onProgress: (d, t) => progress?.('calibrate', d, t),
  });
  const qdqOpts = {
    activationType: opts.activationType,
    ...(opts.floatWeights !== undefined
      ? {
          floatWeights:
            opts.floatWeights !== 'auto'
              ? opts.floatWeights
              : opts.accuracyBudget !== undefined
                ? ('int8' as const)
                : ('float16' as const),
        }
      : {}),
    ...(opts.biasCorrection !== undefined ? { biasCorrection: opts.biasCorrection } : {}),
    ...(opts.symmetricActivations !== undefined ? { symmetricActivations: opts.symmetricActivations } : {}),
    ...(opts.reduceRange !== undefined ? { reduceRange: opts.reduceRange } : {}),
    ...(opts.quantizeOutputs ? { quantizeOutputs: true } : {}),
  };
  progress?.('quantize', 0, 1);
  // Placement from calibration statistics: a tensor where a few channels set the per-tensor scale and the median
  // channel gets only a handful of uint8 steps is left float, with every planned node that reads or writes it.
  const touching = (tensors: ReadonlySet<string>): Map<string, string> => {
    const hit = new Map<string, string>();
    (graph.node ?? []).forEach((n, i) => {
      const key = nodeKey(n, i);
      if (!plan.has(key)) return;
      for (const t of [...(n.input ?? []), ...(n.output ?? [])]) if (tensors.has(t)) hit.set(key, t);
    });
    return hit;
  };
  const levelsOf = (t: string): number => cal.ranges.get(t)?.channelLevels ?? 255;
  const minLevels = opts.minChannelLevels ?? 24;
  const crushed = new Set([...cal.ranges.keys()].filter((t) => levelsOf(t) < minLevels));
  const crushReason = (t: string): string =>
    `activation ${t}: its median channel spans only ${levelsOf(t).toFixed(1)} of 255 uint8 steps (a few channels set the per-tensor scale; quantizing it would crush the rest)`;
  /**
   * Drops the elementwise and layout nodes no quantized node feeds any more (the rule applied to the plan above),
   * recording why in `removed`.
   */
  const pruneUnfed = (sub: Set<string>, removed?: Map<string, string>): Set<string> => {
    (graph.node ?? []).forEach((n, i) => {
      const key = nodeKey(n, i);
      if (!sub.has(key) || WEIGHTED.has(n.opType ?? '')) return;
      if (!(n.input ?? []).some((t) => sub.has(producerKey.get(t) ?? ''))) {
        sub.delete(key);
        removed?.set(key, '');
      }
    });
    return sub;
  };
  const placeWithout = (tensors: ReadonlySet<string>): { sub: Set<string>; removed: Map<string, string> } => {
    const removed = touching(tensors);
    const sub = pruneUnfed(new Set([...plan].filter((p) => !removed.has(p))), removed);
    return { sub, removed };
  };
  let placed = placeWithout(crushed);
  let q = quantizeQdq(model, placed.sub, cal.ranges, qdqOpts);
  progress?.('quantize', 1, 1);
  const evalSet = await sampleRange(source, split.start, split.count, opts.signal);
  let ctx = await referenceOutputs(model, evalSet, {
    ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (opts.evaluation === 'runtime') ctx.optimized = true;
  // With a budget, a placement that cannot meet it is dropped as soon as that is certain (the search replaces it),
  // and the search evaluates the samples this one agreed least on first, so it drops failing placements sooner.
  const firstCosines: number[] = [];
  const reportCtx = ctx;
  let agr = await agreement(
    q.model,
    ctx,
    opts.accuracyBudget !== undefined ? { atLeast: opts.accuracyBudget, perSample: firstCosines } : {},
  );
  if (opts.accuracyBudget !== undefined) ctx = hardestFirst(ctx, firstCosines);
  const onStep = (done: number, total: number): void => progress?.('search', done, total);
  /** Why onnxruntime's profiler could not serve the speed-aware search, when it could not. */
  let profileError: string | undefined;
  /** Activations whose int8 nodes the speed-aware search profiled no faster than float. */
  const noSaving = new Set<string>();
  /** The models as the build ships them (opts.finish), for what is profiled and timed. */
  const finish = opts.finish ?? ((m: onnx.IModelProto): onnx.IModelProto => m);
  let finishedModel: onnx.IModelProto | undefined;
  const finishedFloat = (): onnx.IModelProto => (finishedModel ??= finish(model));
  /** The float model's profile, once taken (the speed-aware search and the speed pass both need it). */
  let floatProfile: NodeProfile | undefined;
  let sensitivity: LayerSensitivity[] = [];
  const layerKept: KeptFloat[] = [];
  if (opts.accuracyBudget !== undefined && agr.cosine < opts.accuracyBudget && opts.sensitivity === 'layer') {
    // Measured sensitivity: quantize each weighted layer alone and measure the output error; then keep the most
    // sensitive layers float, as few as meet the budget (binary search on the count).
    const budget = opts.accuracyBudget;
    const candidates = q.quantized.filter((k) => WEIGHTED.has(opOf.get(k) ?? ''));
    sensitivity = await measureSensitivity(model, candidates, cal.ranges, qdqOpts, ctx, (d, t) =>
      progress?.('sensitivity', d, t),
    );
    const order = [...sensitivity].sort((a, b) => a.cosine - b.cosine).map((x) => x.node);
    const placementFor = (k: number): Set<string> => {
      const keep = new Set(order.slice(0, k));
      return pruneUnfed(new Set([...placed.sub].filter((p) => !keep.has(p))));
    };
    const ks = distinctSteps(order.length, placementFor, placed.sub);
    const found = await smallestPassing(
      1,
      ks.length,
      (j) => {
        const k = ks[j - 1]!;
        const qq = quantizeQdq(model, placementFor(k), cal.ranges, qdqOpts);
        // A placement that cannot reach the budget is dropped as soon as that is certain.
        return agreement(qq.model, ctx, { atLeast: budget }).then((a) => ({
          pass: a.cosine >= budget,
          value: { q: qq, a, k },
        }));
      },
      onStep,
      Math.ceil(ks.length / 4),
    );
    let best: { q: QdqResult; a: Agreement; k: number } | undefined = found?.value;
    if (!best) {
      // Not even keeping every measured layer float... keep them all float: the budget comes first.
      const qq = quantizeQdq(
        model,
        pruneUnfed(new Set([...placed.sub].filter((p) => !order.includes(p)))),
        cal.ranges,
        qdqOpts,
      );
      best = { q: qq, a: await agreement(qq.model, ctx), k: order.length };
    }
    if (best) {
      q = best.q;
      agr = best.a;
      const now = new Set(q.quantized);
      const keptLayers = new Set(order.slice(0, best.k));
      for (const p of placed.sub)
        if (!now.has(p) && !keptLayers.has(p) && !q.skipped.some((x) => x.node === p))
          layerKept.push({
            node: p,
            opType: opOf.get(p) ?? '',
            kind: 'unfed',
            reason:
              'its inputs come from float nodes once the layers around it stay float: in integer it would only add a Quantize/Dequantize pair',
          });
      const sens = new Map(sensitivity.map((x) => [x.node, x]));
      for (const node of order.slice(0, best.k))
        layerKept.push({
          node,
          opType: opOf.get(node) ?? '',
          kind: 'accuracy',
          reason: `accuracy budget ${budget}: quantized alone, this layer brings the output to cosine ${(sens.get(node)?.cosine ?? 0).toFixed(5)} of FP32 (among the ${best.k} most sensitive)`,
        });
    }
  } else if (opts.accuracyBudget !== undefined && agr.cosine < opts.accuracyBudget) {
    // Accuracy-aware: keep more activations float, lowest channel spread first, until the output agrees with FP32
    // within the budget. Binary search on how many: agreement improves, up to noise, as more stay float.
    const byLevels = [...cal.ranges.keys()]
      .filter((t) => !crushed.has(t))
      .sort((a, b) => levelsOf(a) - levelsOf(b));
    let order = byLevels;
    // Tensors at the head of `order` that cost no speed kept float (speed-aware order): they all stay float.
    let free = 0;
    /** What int8 saves per quantized node here (ms), and the placed model's kernel time, when profiled. */
    let speedOf: { saving: Map<string, number>; totalMs: number } | undefined;
    if (opts.speedAwareSearch && ctx.samples[0]) {
      // Speed-aware: what a tensor kept float costs is the int8 saving of the nodes that leave the plan with it,
      // measured on this CPU; what it buys is less quantization noise, ~1/levels² of its median channel's signal.
      // Tensors whose nodes save nothing stay float first (they cost nothing); the rest by noise per ms lost.
      progress?.('search', 0, 1);
      let savings: Awaited<ReturnType<typeof nodeSavings>> | undefined;
      try {
        savings = await nodeSavings(placed.sub, finish(q.model), finishedFloat(), ctx.samples[0]);
      } catch (err) {
        if (opts.signal?.aborted) throw new AppError('CANCELLED', 'Cancelled.');
        // Without the profiles the search orders by channel resolution alone, and says so.
        profileError = err instanceof Error ? err.message : String(err);
      }
      if (opts.signal?.aborted) throw new AppError('CANCELLED', 'Cancelled.');
      if (savings) {
        const touchingNodes = new Map<string, string[]>();
        (graph.node ?? []).forEach((n, i) => {
          const key = nodeKey(n, i);
          if (!placed.sub.has(key)) return;
          for (const t of [...(n.input ?? []), ...(n.output ?? [])])
            touchingNodes.set(t, [...(touchingNodes.get(t) ?? []), key]);
        });
        const { saving } = savings;
        floatProfile = savings.floatProfile;
        // When most of the kernel time could not be traced to nodes, channel resolution decides alone.
        if (savings.coverage >= 0.5) {
          const cost = (t: string): number =>
            (touchingNodes.get(t) ?? []).reduce((sum, k) => sum + Math.max(0, saving.get(k) ?? 0), 0);
          ({ order, free } = speedAwareOrder(byLevels, levelsOf, cost));
          for (const t of order.slice(0, free)) noSaving.add(t);
          speedOf = { saving, totalMs: savings.totalMs };
        }
      }
    }
    const attempt = async (
      k: number,
      atLeast?: number,
    ): Promise<{ q: QdqResult; a: Agreement; placed: typeof placed }> => {
      const p = placeWithout(new Set([...crushed, ...order.slice(0, k)]));
      const qq = quantizeQdq(model, p.sub, cal.ranges, qdqOpts);
      return {
        q: qq,
        a: await agreement(qq.model, ctx, atLeast === undefined ? {} : { atLeast }),
        placed: p,
      };
    };
    const budget = opts.accuracyBudget;
    const ks = distinctSteps(
      order.length,
      (k) => placeWithout(new Set([...crushed, ...order.slice(0, k)])).sub,
      placed.sub,
    );
    // The search starts with every free tensor float (no placement with fewer is faster).
    const lo = Math.max(1, ks.filter((k) => k <= free).length);
    // Speed-aware: stop refining once every placement left between the last failing and the passing one
    // would gain less than 0.5 % of the model's time over the passing one (a few tenths of a ms on the detector,
    // below what a run-to-run difference is here), instead of spending an evaluation on each.
    const placementAt = (j: number): Set<string> =>
      j < 1 ? placed.sub : placeWithout(new Set([...crushed, ...order.slice(0, ks[j - 1])])).sub;
    const worthRefining = speedOf
      ? (failed: number, passed: number): boolean => {
          const { saving, totalMs } = speedOf;
          const now = placementAt(passed);
          let gain = 0;
          for (const k of placementAt(failed + 1)) if (!now.has(k)) gain += Math.max(0, saving.get(k) ?? 0);
          return gain > 0.005 * totalMs;
        }
      : undefined;
    const found = await smallestPassing(
      Math.min(lo, ks.length),
      ks.length,
      (j) => attempt(ks[j - 1]!, budget).then((r) => ({ pass: r.a.cosine >= budget, value: r })),
      onStep,
      lo + Math.ceil((ks.length - lo) / 4),
      worthRefining,
    );
    let best = found?.value;
    // Not met even with every ranked activation float: keep them all float, the budget comes first.
    best ??= order.length > 0 ? await attempt(order.length) : undefined;
    if (best) {
      q = best.q;
      agr = best.a;
      placed = best.placed;
    }
  }
  let floatWeights: FloatWeightStorage = qdqOpts.floatWeights ?? 'float32';
  if (opts.floatWeights === 'auto' && opts.accuracyBudget !== undefined && agr.cosine < opts.accuracyBudget) {
    // 'auto' placed and searched with the float layers' weights in int8 (the smallest file); the budget was not
    // met that way, so they are stored as float16 instead.
    q = quantizeQdq(model, q.plan, cal.ranges, { ...qdqOpts, floatWeights: 'float16' });
    agr = await agreement(q.model, ctx);
    floatWeights = 'float16';
  }
  let speed: StaticResult['speed'];
  if (opts.speedPass && opts.evaluation !== 'runtime') {
    speed = {
      skipped:
        'the speed pass times onnxruntime on this computer, which runs a different instruction set or runtime than the target',
    };
  } else if (opts.speedPass && ctx.samples[0]) {
    const storage = { ...qdqOpts, floatWeights };
    progress?.('speed', 0, 1);
    const sp = await speedPass(
      new Set(q.quantized),
      model,
      (plan) => finish(quantizeQdq(model, plan, cal.ranges, storage).model),
      ctx.samples[0],
      {
        // About as long as calibration's inference took, and at least 5 s: small models get every island timed
        // (the PP-OCR classifier's 24 take 4.4 s), large ones their largest islands.
        budgetMs: opts.speedPassBudgetMs ?? Math.max(5000, cal.inferenceMs),
        floatModel: finishedFloat(),
        ...(floatProfile ? { floatProfile } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (d, t) => progress?.('speed', d, t),
      },
    );
    speed = {
      islands: sp.islands,
      screened: sp.screened,
      ...((sp.screenError ?? profileError) !== undefined
        ? { profileError: (sp.screenError ?? profileError)! }
        : {}),
      tested: sp.tested,
      droppedIslands: sp.dropped.length,
      droppedNodes: sp.dropped.reduce((n, d) => n + d.nodes.length, 0),
      beforeMs: sp.beforeMs,
      afterMs: sp.afterMs,
      ms: sp.ms,
    };
    if (sp.dropped.length > 0) {
      q = quantizeQdq(model, sp.plan, cal.ranges, storage);
      agr = await agreement(q.model, ctx);
      for (const d of sp.dropped) {
        const group = `its group of ${d.nodes.length} connected int8 node${d.nodes.length === 1 ? '' : 's'}`;
        const profiled =
          d.int8KernelMs !== undefined && d.floatKernelMs !== undefined
            ? `profiled, ${group} took ${d.int8KernelMs.toFixed(2)} ms in int8 (with its Quantize/Dequantize and layout changes) against ${d.floatKernelMs.toFixed(2)} ms in float`
            : undefined;
        const reason =
          d.placedMs !== undefined && d.floatMs !== undefined
            ? `with ${group} in float the model ran ${d.floatMs.toFixed(1)} ms instead of ${d.placedMs.toFixed(1)} ms`
            : `${profiled ?? group}; with ${sp.dropped.length === 1 ? 'it' : `the ${sp.dropped.length} groups so singled out`} in float the model ran ${sp.afterMs.toFixed(1)} ms instead of ${sp.beforeMs.toFixed(1)} ms`;
        for (const node of d.nodes)
          keptFloat.push({
            node,
            opType: opOf.get(node) ?? '',
            kind: 'slower',
            reason: `measured slower in int8 on this CPU: ${reason} (1 thread)`,
          });
      }
    }
  }
  for (const [node, t] of placed.removed) {
    const kind: KeptFloatKind =
      t === '' ? 'unfed' : crushed.has(t) ? 'crushed' : noSaving.has(t) ? 'no-gain' : 'accuracy';
    const channel = `median channel ${levelsOf(t).toFixed(1)} of 255 uint8 steps`;
    const reasons: Partial<Record<KeptFloatKind, () => string>> = {
      unfed: () =>
        'its inputs come from float nodes once the layers around it stay float: in integer it would only add a Quantize/Dequantize pair',
      crushed: () => crushReason(t),
      'no-gain': () =>
        `activation ${t}: its int8 nodes profiled no faster than float on this CPU, so the accuracy search keeps it float first (${channel})`,
      accuracy: () =>
        `accuracy budget ${opts.accuracyBudget ?? ''}: activation ${t} kept float (${channel}) so the output agrees with FP32`,
    };
    keptFloat.push({ node, opType: opOf.get(node) ?? '', kind, reason: reasons[kind]!() });
  }
  keptFloat.push(...layerKept);
  for (const s2 of q.skipped)
    keptFloat.push({ node: s2.node, opType: s2.opType, reason: s2.reason, kind: 'unsupported' });
  // The per-layer report needs every quantized tensor from both models: one sample (its every activation value)
  // is plenty for it.
  progress?.('report', 0, 1);
  const layers = await perLayerSqnr(
    model,
    q.model,
    q.quantized,
    { ...reportCtx, samples: reportCtx.samples.slice(0, 1), reference: reportCtx.reference.slice(0, 1) },
    q.dequantized,
  );
  progress?.('report', 1, 1);
  return {
    model: q.model,
    quantized: q.quantized,
    keptFloat,
    calibration: {
      method: cal.method,
      samples: cal.samples,
      tensors: cal.tensors,
      inferenceMs: cal.inferenceMs,
      totalMs: cal.totalMs,
    },
    ranges: cal.ranges,
    floatWeights,
    agreementSamples: { count: ctx.samples.length, heldOut: split.heldOut },
    agreement: agr,
    ...(speed ? { speed } : {}),
    sensitivity,
    layers,
    qdq: { activations: q.activations, weights: q.weights },
  };
}
