/**
 * Coral Edge TPU: reading what `edgetpu_compiler` prints (its stdout, with or without -s, and the `<model>_edgetpu.log`
 * operation log it writes) and running it where it is installed. The compiler runs only on x86-64 Debian/Ubuntu
 * and takes a full-integer TensorFlow Lite model: what a static INT8 build for the Edge TPU exports
 * (models/tflite/export.ts), or what onnx2tf writes with integer quantization.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import { requireTool, runTool, type Stream } from './tools.js';

export interface EdgeTpuOp {
  /** TFLite operator, as the compiler names it: CONV_2D, QUANTIZE, ... */
  op: string;
  count: number;
  mapped: boolean;
  /** The compiler's status when not mapped ("Operation is working on an unsupported data type", ...). */
  reason?: string;
}

export interface EdgeTpuCompileResult {
  /** '16.0.384591198'; null when the text does not say. */
  compilerVersion: string | null;
  ok: boolean;
  inputModel?: string;
  outputModel?: string;
  /** The operation log file the compiler named. */
  operationLog?: string;
  compileTimeMs?: number;
  /** On-chip SRAM used for caching parameters. */
  onChipMemoryBytes?: number;
  onChipRemainingBytes?: number;
  /** Parameters streamed from host memory on every inference. */
  offChipMemoryBytes?: number;
  subgraphs?: number;
  totalOps?: number;
  opsOnTpu?: number;
  opsOnCpu?: number;
  /** The per-operator table (stdout with -s, or the .log file). */
  ops: EdgeTpuOp[];
  warnings: string[];
  errors: string[];
}

const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

function bytes(value: string, unit: string): number {
  return Math.round(Number(value) * (SIZE_UNITS[unit] ?? 1));
}

const MAPPED = 'Mapped to Edge TPU';

/**
 * Reads edgetpu_compiler output: its stdout (with or without the -s operation table) or the operation log it
 * writes next to the compiled model. Never throws: text that is not compiler output gives ok:false and an error.
 */
export function parseEdgeTpuCompilerOutput(text: string): EdgeTpuCompileResult {
  const r: EdgeTpuCompileResult = { compilerVersion: null, ok: false, ops: [], warnings: [], errors: [] };
  const lines = String(text ?? '').split(/\r?\n/);
  let succeeded = false;
  let failed = false;
  let notAllMapped = false;
  let inTable = false;
  let recognized = false;
  /** The table lists only the unmapped operators ("... All other operators were mapped successfully"). */
  let tableElided = false;

  for (const raw of lines) {
    const line = raw.trim();
    if (!line) continue;
    let m: RegExpExecArray | null;
    if ((m = /^Edge TPU Compiler version (\S+)/.exec(line))) {
      r.compilerVersion = m[1]!;
      recognized = true;
    } else if ((m = /^Models? compiled successfully in (\d+) ms\.?/.exec(line))) {
      r.compileTimeMs = Number(m[1]);
      succeeded = true;
      recognized = true;
    } else if (/^Compilation succeeded!?/.test(line)) {
      succeeded = true;
      recognized = true;
    } else if (/^Compilation failed/.test(line) || /^Internal compiler error/i.test(line)) {
      failed = true;
      recognized = true;
      if (!/^Compilation failed!?$/.test(line)) r.errors.push(line);
    } else if ((m = /^ERROR: (.*)$/.exec(line))) {
      recognized = true;
      r.errors.push(m[1]!);
    } else if ((m = /^WARNING: (.*)$/.exec(line))) {
      r.warnings.push(m[1]!);
    } else if ((m = /^Input(?: model)?: (.+)$/.exec(line))) {
      r.inputModel = m[1]!.trim();
    } else if ((m = /^Output(?: model)?: (.+)$/.exec(line))) {
      r.outputModel = m[1]!.trim();
    } else if ((m = /^Operation log: (.+)$/.exec(line))) {
      r.operationLog = m[1]!.trim();
    } else if (
      (m = /^On-chip memory used for caching model parameters: ([\d.]+)\s*(B|KiB|MiB|GiB)/.exec(line))
    ) {
      r.onChipMemoryBytes = bytes(m[1]!, m[2]!);
    } else if (
      (m = /^On-chip memory remaining for caching model parameters: ([\d.]+)\s*(B|KiB|MiB|GiB)/.exec(line))
    ) {
      r.onChipRemainingBytes = bytes(m[1]!, m[2]!);
    } else if (
      (m = /^Off-chip memory used for streaming uncached model parameters: ([\d.]+)\s*(B|KiB|MiB|GiB)/.exec(
        line,
      ))
    ) {
      r.offChipMemoryBytes = bytes(m[1]!, m[2]!);
    } else if ((m = /^Number of Edge TPU subgraphs: (\d+)/.exec(line))) {
      r.subgraphs = Number(m[1]);
    } else if ((m = /^Total number of operations: (\d+)/.exec(line))) {
      r.totalOps = Number(m[1]);
    } else if ((m = /^Number of operations that will run on Edge TPU: (\d+)/.exec(line))) {
      r.opsOnTpu = Number(m[1]);
      recognized = true;
    } else if ((m = /^Number of operations that will run on CPU: (\d+)/.exec(line))) {
      r.opsOnCpu = Number(m[1]);
      recognized = true;
    } else if (/^Model successfully compiled but not all operations are supported/.test(line)) {
      notAllMapped = true;
      succeeded = true;
      recognized = true;
      r.warnings.push('Not all operations are supported by the Edge TPU: part of the model runs on the CPU.');
    } else if (/^Operator\s+Count\s+Status$/.test(line)) {
      inTable = true;
      recognized = true;
    } else if (inTable && (m = /^([A-Z][A-Z0-9_]*)\s+(\d+)\s+(.+)$/.exec(line))) {
      const status = m[3]!.trim();
      const op: EdgeTpuOp = { op: m[1]!, count: Number(m[2]), mapped: status === MAPPED };
      if (!op.mapped) op.reason = status;
      r.ops.push(op);
    } else if (/^\.\.\. All other operators were mapped successfully/.test(line)) {
      tableElided = true;
    }
  }

  // Derive the counts the output leaves implicit.
  if (r.ops.length && !tableElided && (r.opsOnTpu === undefined || r.opsOnCpu === undefined)) {
    const sum = (mapped: boolean): number =>
      r.ops.filter((o) => o.mapped === mapped).reduce((a, o) => a + o.count, 0);
    r.opsOnTpu ??= sum(true);
    r.opsOnCpu ??= sum(false);
    r.totalOps ??= r.opsOnTpu + r.opsOnCpu;
  }
  if (r.totalOps !== undefined && succeeded && !notAllMapped && r.opsOnTpu === undefined) {
    // Fully mapped: the compiler prints no CPU summary.
    r.opsOnTpu = r.totalOps;
    r.opsOnCpu = 0;
  }
  if (r.ops.length && r.compilerVersion && !succeeded && !failed) succeeded = true; // an operation .log file
  if (!recognized)
    r.errors.push('No Edge TPU compiler output recognized (no "Edge TPU Compiler version" line).');
  else if (!succeeded && !failed && !r.errors.length) {
    r.errors.push('The output ends before the compiler reported success or failure.');
  }
  r.ok = succeeded && !failed && r.errors.length === 0;
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// Compiling
// ---------------------------------------------------------------------------------------------------------------

export interface EdgeTpuCompileOptions {
  signal?: AbortSignal;
  onLine?: (line: string, stream: Stream) => void;
  /** Lowest Edge TPU runtime version the model must work with (-m). */
  minRuntimeVersion?: number;
  /** Where else to look for edgetpu_compiler. */
  extraDirs?: readonly string[];
  /** Compiler timeout in seconds (-t; the compiler's default is 180). */
  timeoutS?: number;
}

export interface EdgeTpuCompileRun extends EdgeTpuCompileResult {
  /** The compiled model (`<input>_edgetpu.tflite` in outDir). */
  outputPath: string;
  exitCode: number | null;
  toolPath: string;
  args: string[];
}

const MISSING_COMPILER_HINT =
  'edgetpu_compiler runs only on x86-64 Debian/Ubuntu (apt-get install edgetpu-compiler from the coral-edgetpu-stable repository at packages.cloud.google.com), or in Coral’s Colab notebook. It takes a full-integer TensorFlow Lite model: a static INT8 build for coral-edgetpu exports one (model.tflite in the artifact; or convert with onnx2tf -i model.onnx -oiqt and calibration data); run edgetpu_compiler -s -o out/ model.tflite on such a machine.';

/** edgetpu_compiler arguments for compiling `tflitePath` into `outDir`. */
export function edgeTpuCompilerArgs(
  tflitePath: string,
  outDir: string,
  opts: EdgeTpuCompileOptions = {},
): string[] {
  const args = ['-s', '-o', outDir];
  if (opts.minRuntimeVersion !== undefined) args.push('-m', String(opts.minRuntimeVersion));
  if (opts.timeoutS !== undefined) args.push('-t', String(opts.timeoutS));
  args.push(tflitePath);
  return args;
}

/**
 * Compiles a full-integer TFLite model for the Edge TPU with edgetpu_compiler. Throws BAD_INPUT for a file that is
 * not a TFLite model, ENVIRONMENT when the compiler is not installed (with what to do instead), CANCELLED when
 * aborted; otherwise returns what the compiler reported, ok:false included.
 */
export async function compileForEdgeTpu(
  tflitePath: string,
  outDir: string,
  opts: EdgeTpuCompileOptions = {},
): Promise<EdgeTpuCompileRun> {
  let head: Buffer;
  try {
    head = (await readFile(tflitePath)).subarray(0, 8);
  } catch {
    throw new AppError('NOT_FOUND', `${tflitePath}: no such model file.`, {
      hint: 'Check the path of the .tflite model.',
    });
  }
  if (head.subarray(4, 8).toString('latin1') !== 'TFL3') {
    throw new AppError('BAD_INPUT', `${tflitePath} is not a TensorFlow Lite model.`, {
      hint: 'edgetpu_compiler takes a full-integer .tflite model: build the ONNX model for coral-edgetpu as static INT8, which exports one (model.tflite), or convert it with onnx2tf (integer quantization).',
    });
  }
  const tool = await requireTool('edgetpu_compiler', {
    extraDirs: opts.extraDirs ?? [],
    purpose: 'it compiles TFLite models for the Edge TPU',
    hint:
      process.platform === 'linux' && process.arch === 'x64'
        ? MISSING_COMPILER_HINT
        : `This machine is ${process.platform}/${process.arch}; ${MISSING_COMPILER_HINT}`,
  });
  try {
    if (!(await stat(outDir)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new AppError('BAD_INPUT', `${outDir}: not an existing directory.`, {
      hint: 'Create the output directory first.',
    });
  }
  const args = edgeTpuCompilerArgs(tflitePath, outDir, opts);
  const run = await runTool(tool, args, {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onLine ? { onLine: opts.onLine } : {}),
  });
  const result = parseEdgeTpuCompilerOutput(`${run.stdout}\n${run.stderr}`);
  const base = path.basename(tflitePath).replace(/\.tflite$/, '');
  const outputPath = path.join(outDir, `${base}_edgetpu.tflite`);
  // Without a table in stdout, the per-operator status is in the log file the compiler wrote.
  if (!result.ops.length) {
    try {
      const log = parseEdgeTpuCompilerOutput(
        await readFile(path.join(outDir, `${base}_edgetpu.log`), 'utf8'),
      );
      result.ops = log.ops;
    } catch {
      // No log: nothing more to read.
    }
  }
  if (run.exitCode !== 0) {
    result.ok = false;
    if (!result.errors.length)
      result.errors.push(`edgetpu_compiler exited with code ${run.exitCode ?? run.signal ?? '?'}.`);
  }
  if (result.ok) {
    try {
      await stat(outputPath);
    } catch {
      result.ok = false;
      result.errors.push(`edgetpu_compiler reported success but wrote no ${outputPath}.`);
    }
  }
  return { ...result, outputPath, exitCode: run.exitCode, toolPath: tool, args };
}
