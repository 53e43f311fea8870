/**
 * TensorRT engines: reading what `trtexec` prints (versions 8.x and 10.x: build options, parser errors, engine
 * size and build time, the performance summary), and running it where it is installed.
 *
 * A TensorRT engine is specific to the GPU and TensorRT version it was built with, so on a Jetson target the engine
 * is built on the device itself; this console hands over the ONNX (for int8: the Q/DQ model) and, where trtexec is
 * installed locally (a Jetson used as a workstation, or a machine with the same GPU and version), builds it here.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import type { Precision } from '../../shared/targets.js';
import { requireTool, runTool, type Stream } from './tools.js';

export interface LatencyStats {
  min: number;
  max: number;
  mean: number;
  median: number;
  /** Percentiles trtexec printed, by percent: { 90: …, 95: …, 99: … }. */
  percentiles: Record<number, number>;
  /** The 99th percentile, when printed (all versions since 8.0 print it). */
  p99?: number;
}

export interface TrtexecResult {
  /** '8.5.2', '10.3.0'; null when the text does not say. */
  trtVersion: string | null;
  /** `&&&& PASSED` and no errors. */
  ok: boolean;
  /** Build precision as trtexec reports it ('FP32+FP16', 'FP32+INT8', ...). */
  precision?: string;
  engineBytes?: number;
  buildTimeS?: number;
  /** Host latency (H2D + compute + D2H), milliseconds. */
  latency?: LatencyStats;
  /** GPU compute time per inference, milliseconds. */
  gpuCompute?: LatencyStats;
  throughputQps?: number;
  /**
   * Engine layers by output precision ('FP32', 'FP16', 'INT8', ...), from the layer information trtexec exports
   * (--exportLayerInfo with --profilingVerbosity=detailed; see layerPrecisions). trtexec's console output does not
   * carry it, so the parser leaves it out and buildTensorRtEngine fills it when asked to export layer info.
   */
  precisionLayers?: Record<string, number>;
  /** The ONNX node the parser stopped at. */
  failedNode?: { index: number; opType: string; output?: string };
  /** Operators the parser had no importer (and no plugin) for. */
  unsupportedOps: string[];
  /** The command line trtexec echoed. */
  command?: string;
  warnings: string[];
  errors: string[];
}

const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** '8502' → 8.5.2, '100300' → 10.3.0 (trtexec's [TensorRT vNNNN] tag), '8.6.1' as is. */
export function decodeTrtVersion(tag: string): string | null {
  if (/^\d+\.\d+(\.\d+)*$/.test(tag)) return tag;
  if (!/^\d+$/.test(tag)) return null;
  const n = Number(tag);
  if (n >= 10000) return `${Math.floor(n / 10000)}.${Math.floor((n % 10000) / 100)}.${n % 100}`;
  if (n >= 1000) return `${Math.floor(n / 1000)}.${Math.floor((n % 1000) / 100)}.${n % 100}`;
  return null;
}

function parseStats(body: string): LatencyStats | undefined {
  const get = (key: string): number | undefined => {
    const m = new RegExp(`${key} = ([\\d.eE+-]+) ms`).exec(body);
    return m ? Number(m[1]) : undefined;
  };
  const min = get('min');
  const max = get('max');
  const mean = get('mean');
  const median = get('median');
  if (min === undefined || max === undefined || mean === undefined || median === undefined) return undefined;
  const percentiles: Record<number, number> = {};
  for (const m of body.matchAll(/percentile\(([\d.]+)%\) = ([\d.eE+-]+) ms/g)) {
    percentiles[Number(m[1])] = Number(m[2]);
  }
  const stats: LatencyStats = { min, max, mean, median, percentiles };
  if (percentiles[99] !== undefined) stats.p99 = percentiles[99];
  return stats;
}

/** `[08/23/2023-08:34:48] [I] [TRT] text` → { level: 'I', text: '[TRT] text' }. */
const LOG_LINE = /^\s*(?:\[\d{2}\/\d{2}\/\d{4}-\d{2}:\d{2}:\d{2}\]\s*)?\[([IWEVF])\]\s?(.*)$/;

/**
 * Reads trtexec output (stdout and stderr together, or a saved log). Never throws: text that is not trtexec output
 * gives ok:false and an error saying so.
 */
export function parseTrtexecOutput(text: string): TrtexecResult {
  const result: TrtexecResult = { trtVersion: null, ok: false, unsupportedOps: [], warnings: [], errors: [] };
  const lines = String(text ?? '').split(/\r?\n/);
  let passed = false;
  let failed = false;
  let recognized = false;
  let inNodeDump = false;
  let last: { list: string[]; index: number } | undefined;
  const seenW = new Set<string>();
  const seenE = new Set<string>();

  const pushTo = (list: string[], seen: Set<string>, msg: string): void => {
    if (seen.has(msg)) {
      last = undefined;
      return;
    }
    seen.add(msg);
    list.push(msg);
    last = { list, index: list.length - 1 };
  };

  for (const raw of lines) {
    const line = raw.replace(/\s+$/, '');
    const status =
      /^&&&& (RUNNING|PASSED|FAILED) TensorRT\.trtexec(?: \[TensorRT v([\d.]+)\])?(?: \[b\d+\])?(?: # (.*))?$/.exec(
        line,
      );
    if (status) {
      recognized = true;
      if (status[1] === 'PASSED') passed = true;
      if (status[1] === 'FAILED') failed = true;
      if (status[2] && !result.trtVersion) result.trtVersion = decodeTrtVersion(status[2]);
      if (status[3] && !result.command) result.command = status[3];
      last = undefined;
      continue;
    }
    const m = LOG_LINE.exec(line);
    if (!m) {
      // Continuation of a multi-line message (assertion text after "In function X:"), or a node dump.
      if (inNodeDump || !last || !line.trim()) continue;
      if (
        /^\s*(input|output|name|op_type|domain|doc_string|attribute|type|ints|floats|i|f|s|t|g)\s*[:{]/.test(
          line,
        )
      )
        continue;
      if (/^\s*}\s*$/.test(line)) continue;
      last.list[last.index] = `${last.list[last.index]} ${line.trim()}`;
      continue;
    }
    recognized = true;
    const [, level, body = ''] = m;
    const msg = body.replace(/^\[TRT\]\s*/, '').trim();
    if (msg.includes('--- Begin node ---')) {
      inNodeDump = true;
      last = undefined;
      continue;
    }
    if (msg.includes('--- End node ---')) {
      // The node dump between "Begin node" and "End node" is protobuf text, some of it on [E] lines.
      if (inNodeDump && !/ERROR|Assertion|Failed/.test(msg)) continue;
      inNodeDump = false;
      last = undefined;
      continue;
    }
    // The node dump between "Begin node" and "End node" is protobuf text, some of it on [E] lines.
    if (inNodeDump && !/ERROR|Assertion|Failed/.test(msg)) continue;
    inNodeDump = false;

    let v: RegExpExecArray | null;
    if ((v = /^TensorRT version: ([\d.]+)/.exec(msg))) result.trtVersion = v[1]!;
    else if ((v = /^Precision: (.+)$/.exec(msg)) && !result.precision) result.precision = v[1]!.trim();
    else if ((v = /^Engine built in ([\d.]+) sec/.exec(msg))) result.buildTimeS = Number(v[1]);
    else if ((v = /^Created engine with size: ([\d.]+) (B|KiB|MiB|GiB)/.exec(msg))) {
      result.engineBytes = Math.round(Number(v[1]) * SIZE_UNITS[v[2]!]!);
    } else if (
      (v = /^Loaded engine size: ([\d.]+) (B|KiB|MiB|GiB)/.exec(msg)) &&
      result.engineBytes === undefined
    ) {
      result.engineBytes = Math.round(Number(v[1]) * SIZE_UNITS[v[2]!]!);
    } else if ((v = /^Throughput: ([\d.eE+-]+) qps/.exec(msg))) result.throughputQps = Number(v[1]);
    else if ((v = /^Latency: (.*)$/.exec(msg))) {
      const s = parseStats(v[1]!);
      if (s) result.latency = s;
    } else if ((v = /^GPU Compute Time: (.*)$/.exec(msg))) {
      const s = parseStats(v[1]!);
      if (s) result.gpuCompute = s;
    } else if ((v = /While parsing node number (\d+) \[([\w.]+)(?: -> "([^"]*)")?\]/.exec(msg))) {
      result.failedNode = { index: Number(v[1]), opType: v[2]!, ...(v[3] ? { output: v[3] } : {}) };
    } else if ((v = /No importer registered for op: (\w+(?:\.\w+)*)/.exec(msg))) {
      // Only a problem if no plugin is found afterwards; recorded here, confirmed below.
      if (!result.unsupportedOps.includes(v[1]!)) result.unsupportedOps.push(v[1]!);
    } else if ((v = /Successfully created plugin: (\w+(?:\.\w+)*)/.exec(msg))) {
      result.unsupportedOps = result.unsupportedOps.filter((op) => op !== v![1]);
    }

    if (level === 'E' || level === 'F') pushTo(result.errors, seenE, msg);
    else if (level === 'W') pushTo(result.warnings, seenW, msg);
    else last = undefined;
  }

  if (!recognized) {
    result.errors.push(
      'No trtexec output recognized (no "&&&& RUNNING/PASSED/FAILED TensorRT.trtexec" or [I]/[W]/[E] lines).',
    );
  } else if (!passed && !failed && result.errors.length === 0) {
    result.errors.push('The output ends before trtexec reported PASSED or FAILED.');
  }
  result.ok = passed && !failed && result.errors.length === 0;
  return result;
}

/** 'Row major linear FP16 format', 'Half', 'Thirty-two wide channel vectorized row major Int8 format.' → 'FP16'/'INT8'. */
function precisionOf(formatDatatype: string): string | undefined {
  const f = formatDatatype.toLowerCase();
  if (/\bint8\b/.test(f)) return 'INT8';
  if (/\bfp8\b/.test(f)) return 'FP8';
  if (/\bint4\b/.test(f)) return 'INT4';
  if (/\bbf16\b/.test(f)) return 'BF16';
  if (/\bfp16\b|\bhalf\b/.test(f)) return 'FP16';
  if (/\bfp32\b|\bfloat\b/.test(f)) return 'FP32';
  if (/\bint32\b/.test(f)) return 'INT32';
  if (/\bbool\b/.test(f)) return 'BOOL';
  return undefined;
}

/**
 * Engine layers by the precision of their first output, from the JSON `trtexec --exportLayerInfo=FILE
 * --profilingVerbosity=detailed` writes ({"Layers": [{"Name", "LayerType", "Outputs": [{"Format/Datatype"}]}]}).
 * Undefined when the JSON has no per-layer formats (e.g. exported without detailed verbosity) or does not parse.
 */
export function layerPrecisions(layerInfoJson: string): Record<string, number> | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(layerInfoJson);
  } catch {
    return undefined;
  }
  const layers = (doc as { Layers?: unknown } | null)?.Layers;
  if (!Array.isArray(layers)) return undefined;
  const counts: Record<string, number> = {};
  for (const layer of layers) {
    if (typeof layer !== 'object' || layer === null) continue;
    const outputs = (layer as { Outputs?: unknown }).Outputs;
    const first = Array.isArray(outputs)
      ? (outputs[0] as { 'Format/Datatype'?: unknown } | undefined)
      : undefined;
    const fmt = first?.['Format/Datatype'];
    const p = typeof fmt === 'string' ? precisionOf(fmt) : undefined;
    if (p) counts[p] = (counts[p] ?? 0) + 1;
  }
  return Object.keys(counts).length ? counts : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Building an engine
// ---------------------------------------------------------------------------------------------------------------

export interface ShapeProfile {
  min: string;
  opt: string;
  max: string;
}

export interface TrtBuildOptions {
  precision: Precision;
  signal?: AbortSignal;
  onLine?: (line: string, stream: Stream) => void;
  /** Optimization profile for dynamic inputs, as trtexec takes it: 'x:1x3x48x160' (several joined by commas). */
  shapes?: ShapeProfile;
  /** Where else to look for trtexec (before PATH and /usr/src/tensorrt/bin). */
  extraDirs?: readonly string[];
  /** More trtexec arguments, passed as they are. */
  extraArgs?: readonly string[];
  /**
   * Also export the engine's layer information next to the engine (`<engine>.layers.json`, with
   * --profilingVerbosity=detailed) and count layers by precision. Off by default: older trtexec builds lack the flags.
   */
  layerInfo?: boolean;
}

export interface TrtBuildResult extends TrtexecResult {
  enginePath: string;
  exitCode: number | null;
  toolPath: string;
  args: string[];
}

/** trtexec arguments for building `enginePath` from `onnxPath` (what this console runs, and what it tells users to). */
export function trtexecArgs(
  onnxPath: string,
  enginePath: string,
  opts: Pick<TrtBuildOptions, 'precision' | 'shapes' | 'extraArgs'>,
): string[] {
  const args = [`--onnx=${onnxPath}`, `--saveEngine=${enginePath}`];
  // INT8 layers come from the model's Q/DQ nodes; --fp16 lets the layers outside Q/DQ regions run in FP16.
  if (opts.precision === 'int8') args.push('--int8', '--fp16');
  else if (opts.precision === 'fp16') args.push('--fp16');
  if (opts.shapes) {
    args.push(
      `--minShapes=${opts.shapes.min}`,
      `--optShapes=${opts.shapes.opt}`,
      `--maxShapes=${opts.shapes.max}`,
    );
  }
  args.push(...(opts.extraArgs ?? []));
  return args;
}

function missingTrtexecHint(onnxPath: string, enginePath: string, opts: TrtBuildOptions): string {
  const cmd = [
    '/usr/src/tensorrt/bin/trtexec',
    ...trtexecArgs(path.basename(onnxPath), path.basename(enginePath), opts),
  ];
  return `A TensorRT engine only runs on the GPU and TensorRT version it was built with, so it is normally built on the Jetson: copy ${path.basename(onnxPath)} (for int8, the Q/DQ model) to the device and run ${cmd.join(' ')} there (JetPack installs trtexec in /usr/src/tensorrt/bin).`;
}

/**
 * Builds a TensorRT engine with trtexec. Throws ENVIRONMENT (with the command to run on the device) when trtexec is
 * not installed, CANCELLED when aborted; otherwise returns what trtexec reported, ok:false included.
 */
export async function buildTensorRtEngine(
  onnxPath: string,
  enginePath: string,
  opts: TrtBuildOptions,
): Promise<TrtBuildResult> {
  try {
    await stat(onnxPath);
  } catch {
    throw new AppError('NOT_FOUND', `${onnxPath}: no such model file.`, {
      hint: 'Check the path of the ONNX model.',
    });
  }
  const tool = await requireTool('trtexec', {
    extraDirs: opts.extraDirs ?? [],
    purpose: 'it builds TensorRT engines',
    hint: missingTrtexecHint(onnxPath, enginePath, opts),
  });
  const layerInfoPath = `${enginePath}.layers.json`;
  const args = trtexecArgs(onnxPath, enginePath, {
    ...opts,
    extraArgs: [
      ...(opts.layerInfo ? [`--exportLayerInfo=${layerInfoPath}`, '--profilingVerbosity=detailed'] : []),
      ...(opts.extraArgs ?? []),
    ],
  });
  const run = await runTool(tool, args, {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onLine ? { onLine: opts.onLine } : {}),
  });
  const parsed = parseTrtexecOutput(`${run.stdout}\n${run.stderr}`);
  if (run.exitCode !== 0) {
    parsed.ok = false;
    if (!parsed.errors.length)
      parsed.errors.push(`trtexec exited with code ${run.exitCode ?? run.signal ?? '?'}.`);
  }
  if (parsed.ok) {
    try {
      const s = await stat(enginePath);
      parsed.engineBytes ??= s.size;
    } catch {
      parsed.ok = false;
      parsed.errors.push(`trtexec reported success but wrote no engine at ${enginePath}.`);
    }
  }
  if (parsed.ok && opts.layerInfo) {
    try {
      const counts = layerPrecisions(await readFile(layerInfoPath, 'utf8'));
      if (counts) parsed.precisionLayers = counts;
    } catch {
      parsed.warnings.push(`trtexec wrote no layer information at ${layerInfoPath}.`);
    }
  }
  return { ...parsed, enginePath, exitCode: run.exitCode, toolPath: tool, args };
}
