/**
 * Speed pass: does each part of an INT8 placement pay off on this CPU?
 *
 * Quantized nodes that feed one another form islands: integer data flows inside one, and at its edges a
 * QuantizeLinear/DequantizeLinear pair (and, on x86, a layout reorder) converts to and from float. An island whose
 * integer kernels save less than its edges cost makes the model slower. Which ones do depends on the CPU and on
 * onnxruntime's kernels, so it is measured, in two steps:
 *
 * 1. Screen: the placed model and the float model are each profiled once in onnxruntime (one thread, one sample).
 *    Every kernel of the optimized graphs is attributed to the island it was made from (or, for the reorders and
 *    transposes onnxruntime inserts, whose edge it sits on), which estimates each island's time in int8 and in
 *    float. Islands estimated slower in int8 are the candidates.
 * 2. Confirm: the model with the candidates in float is timed against the model as placed, in alternating runs,
 *    and kept only if faster. If it is not, the candidates are timed one at a time the same way, and those that
 *    ran faster in float are combined and confirmed once more.
 *
 * Measured on the PP-OCRv4 detector (onnxruntime 1.30, AVX2 without VNNI, 1 thread), 20 islands: the screen
 * singled out two (a 3-node and a 4-node squeeze-excitation block) and the pass took 2.6 s; timing every island
 * alone took 20.7 s and kept the same two float (78.3 → 75.9 ms either way). The recognizer's 27 islands took
 * 0.5–1.1 s.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as ortTypes from 'onnxruntime-node';
import { AppError } from '../../shared/errors.js';
import { encodeModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import { onnx } from '../onnx/schema.js';
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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
};

/** Per-node kernel times of one model in onnxruntime, and the optimized graph those nodes belong to. */
export interface NodeProfile {
  /** The graph onnxruntime ran (after its fusions, layout changes and inserted nodes). */
  optimized: onnx.IGraphProto;
  /** Median kernel ms of each node of `optimized`, by node name. */
  ms: Map<string, number>;
  /** Median wall ms of `wallRuns` runs after profiling stopped (NaN when none). */
  runMs: number;
}

export type Profiler = (
  model: onnx.IModelProto,
  feeds: Record<string, ortTypes.Tensor>,
  wallRuns: number,
) => Promise<NodeProfile>;

/**
 * Profiles a model in onnxruntime at one thread: `runs` runs after a warm-up, each node's median kernel time, and
 * the optimized graph (written by onnxruntime to a temporary directory, removed afterwards); then times
 * `wallRuns` runs without the profiler.
 */
export async function profileNodes(
  model: onnx.IModelProto,
  feeds: Record<string, ortTypes.Tensor>,
  wallRuns = 0,
  runs = 3,
): Promise<NodeProfile> {
  const dir = await mkdtemp(join(tmpdir(), 'edge-console-profile-'));
  try {
    const session = await createSession(encodeModel(model), {
      graphOptimizationLevel: 'all',
      intraOpNumThreads: 1,
      enableProfiling: true,
      profileFilePrefix: join(dir, 'run'),
      optimizedModelFilePath: join(dir, 'optimized.onnx'),
      // onnxruntime warns that an NCHWc-optimized graph is specific to this CPU: it is only read here.
      logSeverityLevel: 3,
    });
    const wall: number[] = [];
    try {
      for (let i = 0; i <= runs; i++) await session.run(feeds);
      session.endProfiling();
      // Profiling slows each run by about a tenth: the run time is measured with it stopped.
      for (let i = 0; i < wallRuns; i++) {
        const t = performance.now();
        await session.run(feeds);
        wall.push(performance.now() - t);
      }
    } finally {
      await session.release();
    }
    const optimized = onnx.ModelProto.decode(await readFile(join(dir, 'optimized.onnx'))).graph ?? {};
    const file = (await readdir(dir)).find((f) => f.startsWith('run') && f.endsWith('.json'));
    if (!file) throw new AppError('INTERNAL', 'onnxruntime wrote no profile');
    const events = JSON.parse(await readFile(join(dir, file), 'utf8')) as {
      cat?: string;
      name?: string;
      dur?: number;
    }[];
    const runsOf = new Map<string, number[]>();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time')) continue;
      const name = e.name.slice(0, -'_kernel_time'.length);
      runsOf.set(name, [...(runsOf.get(name) ?? []), (e.dur ?? 0) / 1000]);
    }
    // The first run of each node is the warm-up (allocations, first-touch of weights).
    return {
      optimized,
      ms: new Map([...runsOf].map(([n, d]) => [n, median(d.slice(1))])),
      runMs: median(wall),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** How many upstream source nodes one optimized node may absorb (fusions take a handful). */
const ABSORBED_MAX = 16;

/** The name an optimized node was made from: onnxruntime appends _token_N and _nchwc to what it rewrites. */
const originOf = (name: string): string => name.replace(/(?:_token_\d+|_nchwc)+$/, '');

/**
 * The source node (index) an optimized node was made from, by its name: onnxruntime names a rewritten node after
 * the source node, or after the tensor that node wrote, possibly with _token_N and _nchwc suffixes. Undefined for
 * the nodes it inserts (reorders, transposes).
 */
function originIn(source: onnx.IGraphProto): {
  producer: Map<string, number>;
  origin: (optimizedName: string) => number | undefined;
} {
  const index = new Map((source.node ?? []).map((n, i) => [nodeKey(n, i), i]));
  const producer = new Map<string, number>();
  (source.node ?? []).forEach((n, i) => {
    for (const o of n.output ?? []) if (o) producer.set(o, i);
  });
  const made = (name: string): number | undefined => index.get(name) ?? producer.get(name);
  return { producer, origin: (name) => made(name) ?? made(originOf(name)) };
}

/**
 * Which island (index, or -1 for float) each node of onnxruntime's optimized `graph` belongs to, given the
 * island of each node of the `source` graph it was optimized from.
 *
 * A node made from a source node (see originIn) stands for it and for the source nodes it absorbed: those
 * upstream of it that no optimized node stands for (a Conv fused into the Add or activation after it takes that
 * node's name). It belongs to an island if any of them does.
 * A node made from none (a transpose or reorder onnxruntime inserted) belongs with its neighbours, reached
 * through other such nodes: to an island if any is an island's (the conversions at an island's edge are its
 * cost), else to float.
 */
export function attributeNodes(
  graph: onnx.IGraphProto,
  source: onnx.IGraphProto,
  seed: (sourceNode: string) => number,
): Map<string, number> {
  const sourceNodes = source.node ?? [];
  const { producer: sourceProducer, origin: originOfNode } = originIn(source);
  const nodes = graph.node ?? [];
  const origin = nodes.map((n) => originOfNode(n.name ?? ''));
  const represented = new Set(origin.filter((o): o is number => o !== undefined));
  const owner = new Map<number, number>();
  origin.forEach((o, i) => {
    if (o === undefined) return;
    let found = seed(nodeKey(sourceNodes[o]!, o));
    // Upstream source nodes no optimized node stands for: absorbed into this one (a few at most).
    const seen = new Set([o]);
    const stack = [o];
    while (found < 0 && stack.length > 0 && seen.size <= ABSORBED_MAX) {
      for (const t of sourceNodes[stack.pop()!]!.input ?? []) {
        const p = sourceProducer.get(t);
        if (p === undefined || seen.has(p) || represented.has(p)) continue;
        seen.add(p);
        stack.push(p);
        found = Math.max(found, seed(nodeKey(sourceNodes[p]!, p)));
      }
    }
    owner.set(i, found);
  });
  // Nodes made from no source node, joined where they feed one another: each group belongs with its known
  // neighbours (an island if any is one, else float).
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) if (o) producer.set(o, i);
  });
  const parent = nodes.map((_, i) => i);
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]!]!;
    return i;
  };
  const edges: [number, number][] = [];
  nodes.forEach((n, i) => {
    for (const t of n.input ?? []) {
      const p = producer.get(t);
      if (p !== undefined) edges.push([p, i]);
    }
  });
  for (const [a, b] of edges) if (!owner.has(a) && !owner.has(b)) parent[root(a)] = root(b);
  const groupOwner = new Map<number, number>();
  for (const [a, b] of edges) {
    for (const [unknown, known] of [
      [a, b],
      [b, a],
    ] as const) {
      const o = owner.get(known);
      if (owner.has(unknown) || o === undefined) continue;
      const g = root(unknown);
      groupOwner.set(g, Math.max(groupOwner.get(g) ?? -1, o));
    }
  }
  const result = new Map<string, number>();
  nodes.forEach((n, i) => result.set(n.name ?? `#${i}`, owner.get(i) ?? groupOwner.get(root(i)) ?? -1));
  return result;
}

/**
 * Estimated ms of each island in int8 (its nodes in the placed model as profiled, with the conversions at its
 * edges) and in float (its nodes in the float model as profiled).
 */
export function islandCosts(
  islands: readonly (readonly string[])[],
  floatModel: onnx.IModelProto,
  placedModel: onnx.IModelProto,
  placedProfile: NodeProfile,
  floatProfile: NodeProfile,
): { int8Ms: number; floatMs: number }[] {
  const islandOf = new Map<string, number>();
  islands.forEach((g, i) => g.forEach((k) => islandOf.set(k, i)));
  const sourceSeed = (name: string): number => islandOf.get(name) ?? -1;
  // The placed model's nodes: the source's keep their names; the quantizer's Q/DQ go with their neighbours.
  const placedGraph = placedModel.graph ?? {};
  const sourceGraph = floatModel.graph ?? {};
  const placedOwner = attributeNodes(placedGraph, sourceGraph, sourceSeed);
  const sum = (p: NodeProfile, source: onnx.IGraphProto, seed: (name: string) => number): number[] => {
    const ms = islands.map(() => 0);
    for (const [name, island] of attributeNodes(p.optimized, source, seed))
      if (island >= 0) ms[island]! += p.ms.get(name) ?? 0;
    return ms;
  };
  const int8 = sum(placedProfile, placedGraph, (name) => placedOwner.get(name) ?? -1);
  const float = sum(floatProfile, sourceGraph, sourceSeed);
  return islands.map((_, i) => ({ int8Ms: int8[i]!, floatMs: float[i]! }));
}

/**
 * Each quantized node's estimated saving in int8 on this CPU (float kernel ms minus int8 kernel ms, the
 * conversions at its edges counted with it), from one profile of the placed model and one of the float model;
 * `totalMs`, the placed model's kernel time; and `coverage`, the share of it spent in nodes whose onnxruntime
 * names lead back to the model (low when they could not be traced, e.g. unnamed nodes).
 */
export async function nodeSavings(
  placed: ReadonlySet<string>,
  placedModel: onnx.IModelProto,
  floatModel: onnx.IModelProto,
  sample: CalibrationSample,
  profiler: Profiler = profileNodes,
): Promise<{
  saving: Map<string, number>;
  coverage: number;
  totalMs: number;
  floatProfile: NodeProfile;
}> {
  const feeds = toOrtFeeds(sample.feeds);
  const nodes = [...placed].map((k) => [k]);
  const placedProfile = await profiler(placedModel, feeds, 0);
  const floatProfile = await profiler(floatModel, feeds, 0);
  const costs = islandCosts(nodes, floatModel, placedModel, placedProfile, floatProfile);
  // Kernel time of the placed model's optimized nodes whose names lead back to a node of the model.
  const { origin } = originIn(placedModel.graph ?? {});
  let matched = 0;
  let total = 0;
  for (const n of placedProfile.optimized.node ?? []) {
    const ms = placedProfile.ms.get(n.name ?? '') ?? 0;
    total += ms;
    if (origin(n.name ?? '') !== undefined) matched += ms;
  }
  return {
    saving: new Map(nodes.map(([k], i) => [k!, costs[i]!.floatMs - costs[i]!.int8Ms])),
    coverage: total > 0 ? matched / total : 0,
    totalMs: total,
    floatProfile,
  };
}

export interface IslandTiming {
  nodes: string[];
  /**
   * Median ms of the placement as given, and with this island in float, over the same alternating runs: when the
   * island was timed alone.
   */
  placedMs?: number;
  floatMs?: number;
  /** The island's kernel ms in the placed model's profile (int8, with its edges) and in the float model's. */
  int8KernelMs?: number;
  floatKernelMs?: number;
}

export interface SpeedPassResult {
  /** Nodes returned to float, by island. */
  dropped: IslandTiming[];
  islands: number;
  /** Islands whose cost the profiles estimated (all of them, or 0 without the screen). */
  screened: number;
  /** Why the screen could not profile (onnxruntime's message): the islands were then timed one by one. */
  screenError?: string;
  /**
   * Islands timed: those the screen singled out, or (without it) those timed before the time budget ran out,
   * largest first; the rest stay as placed.
   */
  tested: number;
  /**
   * Median ms of the placement as given, and after: that times 1 + the median paired change, the figure the
   * decision rests on (equal when nothing was dropped).
   */
  beforeMs: number;
  afterMs: number;
  ms: number;
}

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
 * Finds the islands of a placement that run slower in integer than in float on this CPU (see the file comment) and
 * returns the placement without them. `place` builds the model for a set of quantized nodes.
 */
export async function speedPass(
  placed: ReadonlySet<string>,
  model: onnx.IModelProto,
  place: (plan: ReadonlySet<string>) => onnx.IModelProto,
  sample: CalibrationSample,
  opts: {
    /**
     * Alternating pairs per island (default 4), and as many again plus 4 for an island that looks faster in float,
     * to confirm it; the check of islands dropped together takes twice as many.
     */
    pairs?: number;
    /** How much faster, as the median paired difference, float must run to drop an island (default 0.01). */
    margin?: number;
    /**
     * Screen the islands first (default true): profile the placed and the float model once each, estimate every
     * island's kernel time both ways, and time only those estimated slower in int8 (by more than `screenMargin`
     * of the model's run time, default 0.005), all of them together first. Without it every island is timed, the
     * largest first.
     */
    screen?: boolean;
    screenMargin?: number;
    signal?: AbortSignal;
    onProgress?: (done: number, total: number) => void;
    /** How runs are timed (default: wall time of session.run). */
    timer?: RunTimer;
    /**
     * The float model the screen profiles, when what ships differs from `model` (default `model`): `place`'s
     * models and this one must name the nodes they share alike.
     */
    floatModel?: onnx.IModelProto;
    /** The float model's profile, when already taken (it does not depend on the placement). */
    floatProfile?: NodeProfile;
    /** How the screen profiles a model (default profileNodes). */
    profiler?: Profiler;
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
  const without = (drop: readonly IslandTiming[]): Set<string> =>
    new Set([...placed].filter((k) => !drop.some((d) => d.nodes.includes(k))));
  const pairs = opts.pairs ?? 4;
  const margin = opts.margin ?? 0.01;
  const screen = opts.screen ?? true;
  let order = islands.map((_, i) => i);
  let estimates: { int8Ms: number; floatMs: number }[] = [];
  let steps = islands.length + 1;
  let done = 0;
  const step = (): void => opts.onProgress?.(++done, steps);
  const result = (
    plan: Set<string>,
    dropped: IslandTiming[],
    tested: number,
    beforeMs: number,
    afterMs: number,
  ): SpeedPassResult & { plan: Set<string> } => {
    opts.onProgress?.(steps, steps);
    return {
      plan,
      dropped,
      islands: islands.length,
      screened: profiles ? islands.length : 0,
      ...(screenError !== undefined ? { screenError } : {}),
      tested,
      beforeMs,
      afterMs,
      ms: performance.now() - started,
    };
  };
  let screenError: string | undefined;
  let profiles: { placedModel: onnx.IModelProto; placed: NodeProfile; float: NodeProfile } | undefined;
  if (screen) {
    check();
    const profiler = opts.profiler ?? profileNodes;
    const placedModel = place(placed);
    try {
      const placedProfile = await profiler(placedModel, feeds, 3);
      check();
      const floatProfile = opts.floatProfile ?? (await profiler(opts.floatModel ?? model, feeds, 0));
      profiles = { placedModel, placed: placedProfile, float: floatProfile };
    } catch (err) {
      if (err instanceof AppError && err.code === 'CANCELLED') throw err;
      // Without the profiles, every island is timed alone (within the budget), as without the screen.
      screenError = err instanceof Error ? err.message : String(err);
    }
  }
  if (profiles) {
    const floatModel = opts.floatModel ?? model;
    estimates = islandCosts(islands, floatModel, profiles.placedModel, profiles.placed, profiles.float);
    const threshold = (opts.screenMargin ?? 0.005) * profiles.placed.runMs;
    order = order
      .filter((i) => estimates[i]!.int8Ms - estimates[i]!.floatMs > threshold)
      .sort(
        (a, b) =>
          estimates[b]!.int8Ms - estimates[b]!.floatMs - (estimates[a]!.int8Ms - estimates[a]!.floatMs),
      );
    steps = 1 + (order.length > 0 ? 1 : 0) + (order.length > 1 ? order.length + 1 : 0);
    step();
    if (order.length === 0)
      return result(new Set(placed), [], 0, profiles.placed.runMs, profiles.placed.runMs);
  }
  const base = await open(placed);
  /** Times the placement without `drop` against the placement as given; kept if faster by half the margin. */
  const together = async (
    drop: IslandTiming[],
  ): Promise<{ keep: boolean; beforeMs: number; afterMs: number }> => {
    const pruned = await open(without(drop));
    try {
      const t = await pairedTiming(base, pruned, feeds, 2 * pairs, undefined, time, ['placed', 'pruned']);
      step();
      const keep = t.change < -margin / 2;
      return { keep, beforeMs: t.aMs, afterMs: keep ? t.aMs * (1 + t.change) : t.aMs };
    } finally {
      await pruned.release();
    }
  };
  const screened = (i: number): IslandTiming => ({
    nodes: islands[i]!,
    ...(estimates[i] ? { int8KernelMs: estimates[i].int8Ms, floatKernelMs: estimates[i].floatMs } : {}),
  });
  try {
    if (profiles) {
      // The islands the profiles single out, all in float at once: one timing settles the usual case.
      check();
      const all = order.map(screened);
      const t = await together(all);
      if (t.keep) return result(without(all), all, order.length, t.beforeMs, t.afterMs);
      if (order.length === 1) return result(new Set(placed), [], 1, t.beforeMs, t.beforeMs);
    }
    const dropped: IslandTiming[] = [];
    let tested = 0;
    let slowest = 0;
    for (const i of order) {
      check();
      const islandStart = performance.now();
      if (opts.budgetMs !== undefined && tested > 0 && islandStart - started + slowest > opts.budgetMs) break;
      tested++;
      const variant = await open(without([{ nodes: islands[i]! }]));
      try {
        const labels: [string, string] = ['placed', `float:${i}`];
        let t = await pairedTiming(base, variant, feeds, pairs, undefined, time, labels);
        if (t.change < -margin) t = await pairedTiming(base, variant, feeds, pairs + 4, t.runs, time, labels);
        if (t.change < -margin) dropped.push({ ...screened(i), placedMs: t.aMs, floatMs: t.bMs });
      } finally {
        await variant.release();
        slowest = Math.max(slowest, performance.now() - islandStart);
      }
      step();
    }
    check();
    if (dropped.length === 0) {
      const runs: number[] = [];
      for (let k = 0; k < 3; k++) runs.push(await time(base, feeds, 'placed'));
      return result(new Set(placed), [], tested, median(runs), median(runs));
    }
    // Together they must pay off too (timings of islands are taken one at a time, and runs are noisy).
    const t = await together(dropped);
    return result(
      t.keep ? without(dropped) : new Set(placed),
      t.keep ? dropped : [],
      tested,
      t.beforeMs,
      t.afterMs,
    );
  } finally {
    await base.release();
  }
}
