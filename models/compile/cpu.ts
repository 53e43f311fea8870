/**
 * CPU targets: onnxruntime's offline graph optimization. onnxruntime optimizes the graph when it loads it and, given
 * `optimizedModelFilePath`, writes the result, so the device skips that work at start-up.
 *
 * Levels (measured with onnxruntime 1.30 on the PP-OCR models): 'basic' folds constants and removes redundant
 * nodes (ONNX ops only); 'extended' also fuses (Conv + activation → com.microsoft::FusedConv, ...), contrib ops
 * every onnxruntime CPU build has, so the file runs on x86-64 and ARM64 alike; 'layout' / 'all' add the NCHWc
 * layout transformer (com.microsoft.nchwc::Conv, ReorderInput/ReorderOutput) sized for the SIMD width of the CPU
 * doing the optimizing, and onnxruntime warns that such a file "should only be used in the same environment the
 * model was optimized in". So: 'extended' by default, 'all' only when the target is this machine's architecture.
 */
import { randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { AppError } from '../../shared/errors.js';
import { inspectModel } from '../onnx/inspect.js';
import { readModel, writeModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import { recompactWeights } from '../passes/compact-storage.js';

export type CpuArch = 'x86_64' | 'arm64';
export type CpuOptLevel = 'basic' | 'extended' | 'all';

export interface CpuCompileOptions {
  /** The target CPU architecture. */
  arch: CpuArch;
  signal?: AbortSignal;
  /** Default 'extended'; 'all' only when `arch` is this machine's. */
  level?: CpuOptLevel;
  /**
   * Give weights the source stores compactly (int8 + Cast + Mul, float16 + Cast) that compact storage back in the
   * optimized file, which onnxruntime would otherwise save as folded float32 (see passes/compact-storage.ts).
   * Default true. The file then needs graph optimizations at 'basic' or above when it is loaded (`loadLevel`).
   */
  compactWeights?: boolean;
}

export interface CpuCompileResult {
  outputPath: string;
  nodesBefore: number;
  nodesAfter: number;
  /** Operators of the optimized model, `domain::Op` outside the default domain. */
  opCounts: Record<string, number>;
  ortVersion: string;
  level: CpuOptLevel;
  arch: CpuArch;
  /** What the user should know about the file (portability). */
  notes: string[];
  /** The weights stored compactly again, and the initializer bytes before and after. */
  compacted: { int8: number; float16: number; bytesBefore: number; bytesAfter: number };
  /**
   * The lowest graphOptimizationLevel to load the file with: 'disabled' skips the work the file already holds;
   * 'basic' when it has compact weights, so onnxruntime folds their Casts once instead of running them each time.
   */
  loadLevel: 'disabled' | 'basic';
}

/** This machine's architecture in target terms; undefined for others (ia32, arm, ...). */
export function hostCpuArch(): CpuArch | undefined {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'arm64' : undefined;
}

function cancelled(): AppError {
  return new AppError('CANCELLED', 'CPU optimization was cancelled.', { hint: 'Start it again when ready.' });
}

/**
 * Writes an onnxruntime-optimized copy of `inputPath` to `outputPath` for a CPU target, checks that the written
 * model loads, and reports what changed. onnxruntime cannot be interrupted while it optimizes; `signal` is checked
 * before and after, and an aborted run leaves no output file.
 */
export async function compileForCpu(
  inputPath: string,
  outputPath: string,
  opts: CpuCompileOptions,
): Promise<CpuCompileResult> {
  const level = opts.level ?? 'extended';
  const host = hostCpuArch();
  if (opts.arch !== 'x86_64' && opts.arch !== 'arm64') {
    throw new AppError('BAD_INPUT', `Unknown CPU architecture "${String(opts.arch)}".`, {
      hint: 'Use x86_64 or arm64.',
    });
  }
  if (level === 'all' && opts.arch !== host) {
    throw new AppError(
      'BAD_INPUT',
      `Optimization level "all" lays tensors out for the CPU that runs the optimizer (${host ?? process.arch}), not for ${opts.arch}.`,
      { hint: 'Use level "extended" (portable), or run the optimization on the target device.' },
    );
  }
  if (opts.signal?.aborted) throw cancelled();
  try {
    await stat(inputPath);
  } catch {
    throw new AppError('NOT_FOUND', `${inputPath}: no such model file.`, {
      hint: 'Check the path of the ONNX model.',
    });
  }
  if (path.resolve(inputPath) === path.resolve(outputPath)) {
    throw new AppError('BAD_INPUT', 'The optimized model must not overwrite its source.', {
      hint: 'Choose another output path.',
    });
  }

  const source = await readModel(inputPath);
  const before = inspectModel(source);
  const tmp = path.join(
    path.dirname(outputPath),
    `.${path.basename(outputPath)}.${randomBytes(4).toString('hex')}.tmp.onnx`,
  );
  try {
    const session = await createSession(inputPath, {
      graphOptimizationLevel: level,
      optimizedModelFilePath: tmp,
    });
    await session.release();
    if (opts.signal?.aborted) throw cancelled();

    const optimized = await readModel(tmp);
    const after = inspectModel(optimized);
    const compacted = { int8: 0, float16: 0, bytesBefore: 0, bytesAfter: 0 };
    if (opts.compactWeights !== false) {
      const r = recompactWeights(optimized.proto, source.proto);
      Object.assign(compacted, { bytesBefore: r.bytesBefore, bytesAfter: r.bytesAfter });
      for (const t of r.tensors) compacted[t.storage]++;
      if (r.tensors.length > 0) await writeModel(optimized, tmp);
    }
    const loadLevel = compacted.int8 + compacted.float16 > 0 ? 'basic' : 'disabled';
    // The written file must load as it will be loaded on the device for the app to ship it.
    const check = await createSession(tmp, { graphOptimizationLevel: loadLevel });
    await check.release();
    if (opts.signal?.aborted) throw cancelled();
    await rename(tmp, outputPath);

    const notes: string[] = [];
    const opCounts = Object.fromEntries(after.operators.map((o) => [o.op, o.count]));
    if (after.operators.some((o) => o.op.startsWith('com.microsoft::'))) {
      notes.push(
        `Uses onnxruntime contrib operators (com.microsoft): it needs onnxruntime (${ort.env.versions.common} or newer) and will not load in other ONNX runtimes.`,
      );
    }
    if (after.operators.some((o) => o.op.startsWith('com.microsoft.nchwc::'))) {
      notes.push(
        `Uses NCHWc layout operators sized for this ${host ?? process.arch} CPU: deploy it only to machines with the same instruction set.`,
      );
    }
    if (loadLevel === 'basic') {
      notes.push(
        `Weights of ${compacted.int8 + compacted.float16} float layers are stored as in the source (${compacted.int8} int8, ${compacted.float16} float16): load it with graphOptimizationLevel "basic" or higher, which restores them once at load.`,
      );
    }
    return {
      outputPath,
      compacted,
      loadLevel,
      nodesBefore: before.nodeCount,
      nodesAfter: after.nodeCount,
      opCounts,
      ortVersion: ort.env.versions.common,
      level,
      arch: opts.arch,
      notes,
    };
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
