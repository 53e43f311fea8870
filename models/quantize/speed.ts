/**
 * Speed pass: does each part of an INT8 placement pay off on this CPU?
 *
 * Quantized nodes that feed one another form islands: integer data flows inside one, and at its edges a
 * QuantizeLinear/DequantizeLinear pair (and, on x86, a layout reorder) converts to and from float. An island whose
 * integer kernels save less than its edges cost makes the model slower. Which ones do depends on the CPU and on
 * onnxruntime's kernels, so it is measured: the model with each island returned to float is timed against the
 * model as placed, in alternating runs on one sample at one thread, and islands that ran faster in float stay
 * float. The combined result is timed once more and kept only if it is faster than the placement it started from.
 *
 * Measured on the PP-OCRv4 detector (onnxruntime 1.30, AVX2 without VNNI, 1 thread): of 19 islands of its
 * accuracy-searched placement, an 8-node one (a squeeze-excitation block and its neighbours) and one lone
 * pointwise convolution ran 3.0 and 1.9 ms faster in float; without both the model ran 94.2 ms instead of 98.6.
 */
import type * as ortTypes from 'onnxruntime-node';
import { AppError } from '../../shared/errors.js';
import { encodeModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import type { onnx } from '../onnx/schema.js';
import { toOrtFeeds, type CalibrationSample } from './calibrate.js';
import { nodeKey } from './qdq.js';

/** Connected groups of `quantized` nodes (one feeds another), largest first. */
export function quantizedIslands(model: onnx.IModelProto, quantized: Iterable<string>): string[][] {
  const inPlan = new Set(quantized);
  const nodes = model.graph?.node ?? [];
  const producer = new Map<string, string>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) if (o) producer.set(o, nodeKey(n, i));
  });
  const parent = new Map<string, string>([...inPlan].map((k) => [k, k]));
  const root = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(k, r);
    return r;
  };
  nodes.forEach((n, i) => {
    const k = nodeKey(n, i);
    if (!inPlan.has(k)) return;
    for (const input of n.input ?? []) {
      const p = producer.get(input);
      if (p !== undefined && inPlan.has(p)) parent.set(root(k), root(p));
    }
  });
  const groups = new Map<string, string[]>();
  for (const k of inPlan) {
    const r = root(k);
    groups.set(r, [...(groups.get(r) ?? []), k]);
  }
  return [...groups.values()].sort((a, b) => b.length - a.length);
}

export interface IslandTiming {
  nodes: string[];
  /** Median ms of the placement as given, and with this island in float, over the same alternating runs. */
  placedMs: number;
  floatMs: number;
}

export interface SpeedPassResult {
  /** Nodes returned to float, by island. */
  dropped: IslandTiming[];
  islands: number;
  /** Islands timed before the time budget ran out (largest first): the rest stay as placed. */
  tested: number;
  /**
   * Median ms of the placement as given, and after: that times 1 + the median paired change, the figure the
   * decision rests on (equal when nothing was dropped).
   */
  beforeMs: number;
  afterMs: number;
  ms: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
};

/**
 * Times one run of a session on `feeds`, in ms. `which` says what the session holds: 'placed' (the placement as
 * given), 'float:<i>' (island i in float, islands numbered as quantizedIslands lists them) or 'pruned'.
 */
export type RunTimer = (
  session: ortTypes.InferenceSession,
  feeds: Record<string, ortTypes.Tensor>,
  which: string,
) => Promise<number>;

const timedRun: RunTimer = async (session, feeds) => {
  const t = performance.now();
  await session.run(feeds);
  return performance.now() - t;
};

/**
 * Alternating runs of two models (a, b, a, b, ...): median times of each, and the median of b's relative
 * difference to the a run just before it (paired, so that the machine's slow drifts cancel out).
 */
async function pairedTiming(
  a: ortTypes.InferenceSession,
  b: ortTypes.InferenceSession,
  feeds: Record<string, ortTypes.Tensor>,
  pairs: number,
  earlier: { a: number[]; b: number[] } = { a: [], b: [] },
  time: RunTimer = timedRun,
  labels: [string, string] = ['a', 'b'],
): Promise<{ aMs: number; bMs: number; change: number; runs: { a: number[]; b: number[] } }> {
  const ta = [...earlier.a];
  const tb = [...earlier.b];
  for (let i = 0; i < pairs; i++) {
    ta.push(await time(a, feeds, labels[0]));
    tb.push(await time(b, feeds, labels[1]));
  }
  return {
    aMs: median(ta),
    bMs: median(tb),
    change: median(ta.map((x, i) => (tb[i]! - x) / x)),
    runs: { a: ta, b: tb },
  };
}

/**
 * Times the islands of a placement (see the file comment) and returns the placement without those that ran
 * slower in integer. `place` builds the model for a set of quantized nodes.
 */
export async function speedPass(
  placed: ReadonlySet<string>,
  model: onnx.IModelProto,
  place: (plan: ReadonlySet<string>) => onnx.IModelProto,
  sample: CalibrationSample,
  opts: {
    /**
     * Alternating pairs per island (default 4), and as many again plus 4 for an island that looks faster in float,
     * to confirm it; the final check takes twice as many.
     */
    pairs?: number;
    /** How much faster, as the median paired difference, float must run to drop an island (default 0.01). */
    margin?: number;
    signal?: AbortSignal;
    onProgress?: (done: number, total: number) => void;
    /** How runs are timed (default: wall time of session.run). */
    timer?: RunTimer;
    /**
     * Start no island that would end past this many ms, judged by the slowest island so far (default: no limit;
     * the first island is always timed, and the final check still runs).
     */
    budgetMs?: number;
  } = {},
): Promise<SpeedPassResult & { plan: Set<string> }> {
  const time = opts.timer ?? timedRun;
  const started = performance.now();
  const islands = quantizedIslands(model, placed);
  const feeds = toOrtFeeds(sample.feeds);
  const open = async (plan: ReadonlySet<string>): Promise<ortTypes.InferenceSession> => {
    const s = await createSession(encodeModel(place(plan)), {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 1,
    });
    await s.run(feeds); // warm-up: first runs allocate
    return s;
  };
  const check = (): void => {
    if (opts.signal?.aborted) throw new AppError('CANCELLED', 'Cancelled.');
  };
  const pairs = opts.pairs ?? 4;
  const margin = opts.margin ?? 0.01;
  const base = await open(placed);
  const dropped: IslandTiming[] = [];
  let tested = 0;
  let slowest = 0;
  try {
    for (const [i, island] of islands.entries()) {
      check();
      const islandStart = performance.now();
      if (opts.budgetMs !== undefined && tested > 0 && islandStart - started + slowest > opts.budgetMs) break;
      tested++;
      const without = new Set([...placed].filter((k) => !island.includes(k)));
      const variant = await open(without);
      try {
        const labels: [string, string] = ['placed', `float:${i}`];
        let t = await pairedTiming(base, variant, feeds, pairs, undefined, time, labels);
        if (t.change < -margin) t = await pairedTiming(base, variant, feeds, pairs + 4, t.runs, time, labels);
        if (t.change < -margin) dropped.push({ nodes: island, placedMs: t.aMs, floatMs: t.bMs });
      } finally {
        await variant.release();
        slowest = Math.max(slowest, performance.now() - islandStart);
      }
      opts.onProgress?.(i + 1, islands.length + 1);
    }
    check();
    const plan = new Set([...placed].filter((k) => !dropped.some((d) => d.nodes.includes(k))));
    if (dropped.length === 0) {
      opts.onProgress?.(islands.length + 1, islands.length + 1);
      const runs: number[] = [];
      for (let k = 0; k < 3; k++) runs.push(await time(base, feeds, 'placed'));
      const t = median(runs);
      return {
        plan,
        dropped,
        islands: islands.length,
        tested,
        beforeMs: t,
        afterMs: t,
        ms: performance.now() - started,
      };
    }
    // Together they must pay off too (timings of islands are taken one at a time, and runs are noisy).
    const pruned = await open(plan);
    try {
      const t = await pairedTiming(base, pruned, feeds, 2 * pairs, undefined, time, ['placed', 'pruned']);
      opts.onProgress?.(islands.length + 1, islands.length + 1);
      const keep = t.change < -margin / 2;
      return {
        plan: keep ? plan : new Set(placed),
        dropped: keep ? dropped : [],
        islands: islands.length,
        tested,
        beforeMs: t.aMs,
        afterMs: keep ? t.aMs * (1 + t.change) : t.aMs,
        ms: performance.now() - started,
      };
    } finally {
      await pruned.release();
    }
  } finally {
    await base.release();
  }
}
