/**
 * The build's compile step, per target kind:
 * - CPU: onnxruntime's graph optimizer writes a pre-optimized model (portable 'extended' level) into the artifact,
 *   its float-layer weights kept as compact as the source stores them (passes/compact-storage.ts);
 * - Jetson: trtexec builds a TensorRT engine when it is installed here; otherwise the step says so and what to
 *   run on the device (the QDQ/FP16 ONNX is what TensorRT builds its engine from there);
 * - Coral: edgetpu_compiler compiles the full-integer TFLite model the build exported (models/tflite/export.ts)
 *   when it is installed here; otherwise the step says so, and model.tflite in the artifact is what to compile.
 * A missing tool is not a build failure: the artifact carries the ONNX model and the report says what is left.
 */
import path from 'node:path';
import { AppError } from '../../shared/errors.js';
import type { ModelLoad } from '../../shared/artifact.js';
import type { TargetProfile } from '../../shared/targets.js';
import { type CpuCompileResult, compileForCpu } from '../compile/cpu.js';
import { compileForEdgeTpu } from '../compile/edgetpu.js';
import { buildTensorRtEngine } from '../compile/tensorrt.js';

export interface CompileOutcome {
  tool: string;
  toolVersion: string | null;
  status: 'compiled' | 'skipped' | 'failed';
  message: string;
  /** Files to add to the artifact. */
  files: { from: string; path: string; role: 'model' | 'engine' | 'report' | 'other'; load?: ModelLoad }[];
  details: Record<string, unknown>;
}

function compactNote(c: CpuCompileResult['compacted']): string {
  const n = c.int8 + c.float16;
  if (n === 0) return '';
  const as = [c.int8 ? `${c.int8} int8` : '', c.float16 ? `${c.float16} float16` : '']
    .filter(Boolean)
    .join(', ');
  return `; float-layer weights kept compact (${as}), so the file holds ${(c.bytesAfter / 1e6).toFixed(2)} MB of weights instead of ${(c.bytesBefore / 1e6).toFixed(2)} MB: load it with graph optimizations "basic" or higher`;
}

export async function runCompileStep(
  target: TargetProfile,
  modelFile: string,
  scratch: string,
  precision: 'fp32' | 'fp16' | 'int8',
  signal?: AbortSignal,
  onLine?: (line: string) => void,
  /** Coral: the exported full-integer TFLite model, or why there is none. */
  tflite?: { path: string } | { error: string },
  /** Where else to look for the vendor tools (tests). */
  toolDirs?: readonly string[],
): Promise<CompileOutcome> {
  if (target.kind === 'cpu') {
    const arch = target.arch === 'aarch64' ? 'arm64' : 'x86_64';
    const out = path.join(scratch, 'model.ort-optimized.onnx');
    try {
      const r = await compileForCpu(modelFile, out, { arch, ...(signal ? { signal } : {}) });
      return {
        tool: 'onnxruntime',
        toolVersion: r.ortVersion,
        status: 'compiled',
        message: `onnxruntime ${r.ortVersion} graph optimizer (${r.level}): ${r.nodesBefore} → ${r.nodesAfter} nodes${compactNote(r.compacted)}`,
        files: [
          {
            from: out,
            path: 'model.ort-optimized.onnx',
            role: 'other',
            load: { graphOptimizationLevel: r.loadLevel },
          },
        ],
        details: { ...r, outputPath: undefined },
      };
    } catch (err) {
      if (err instanceof AppError && err.code === 'CANCELLED') throw err;
      return {
        tool: 'onnxruntime',
        toolVersion: null,
        status: 'failed',
        message: `onnxruntime could not optimize the model: ${err instanceof Error ? err.message : String(err)}`,
        files: [],
        details: {},
      };
    }
  }
  if (target.kind === 'jetson') {
    const engine = path.join(scratch, 'model.engine');
    try {
      const r = await buildTensorRtEngine(modelFile, engine, {
        precision,
        ...(signal ? { signal } : {}),
        ...(onLine ? { onLine: (l: string) => onLine(l) } : {}),
      });
      return {
        tool: 'trtexec',
        toolVersion: r.trtVersion ?? null,
        status: r.ok ? 'compiled' : 'failed',
        message: r.ok
          ? `TensorRT ${r.trtVersion ?? ''} engine built${r.latency?.median !== undefined ? `, median latency ${r.latency.median} ms` : ''}`
          : `trtexec failed: ${r.errors.slice(0, 2).join('; ')}`,
        files: r.ok ? [{ from: engine, path: 'model.engine', role: 'engine' }] : [],
        details: { ...r },
      };
    } catch (err) {
      if (err instanceof AppError && err.code === 'ENVIRONMENT') {
        return {
          tool: 'trtexec',
          toolVersion: null,
          status: 'skipped',
          message: `${err.message} ${err.hint ?? ''}`.trim(),
          files: [],
          details: {},
        };
      }
      throw err;
    }
  }
  // Coral
  if (!tflite || 'error' in tflite) {
    return {
      tool: 'edgetpu_compiler',
      toolVersion: null,
      status: 'skipped',
      message: `edgetpu_compiler takes a full-integer TFLite model, and this one could not be exported: ${tflite && 'error' in tflite ? tflite.error : 'static int8 builds export one'}`,
      files: [],
      details: {},
    };
  }
  try {
    const r = await compileForEdgeTpu(tflite.path, scratch, {
      ...(signal ? { signal } : {}),
      ...(onLine ? { onLine: (l: string) => onLine(l) } : {}),
      ...(toolDirs ? { extraDirs: toolDirs } : {}),
    });
    const split =
      r.opsOnTpu !== undefined && r.totalOps !== undefined
        ? `${r.opsOnTpu} of ${r.totalOps} operations on the Edge TPU${r.opsOnCpu ? `, ${r.opsOnCpu} on the CPU` : ''}`
        : 'compiled';
    return {
      tool: 'edgetpu_compiler',
      toolVersion: r.compilerVersion,
      status: r.ok ? 'compiled' : 'failed',
      message: r.ok
        ? `Edge TPU compiler ${r.compilerVersion ?? ''}: ${split}${r.offChipMemoryBytes ? `; ${(r.offChipMemoryBytes / 2 ** 20).toFixed(2)} MiB of parameters stream from host memory` : ''}`
        : `edgetpu_compiler failed: ${r.errors.slice(0, 2).join('; ')}`,
      files: r.ok ? [{ from: r.outputPath, path: 'model_edgetpu.tflite', role: 'model' }] : [],
      details: { ...r },
    };
  } catch (err) {
    if (err instanceof AppError && err.code === 'ENVIRONMENT') {
      return {
        tool: 'edgetpu_compiler',
        toolVersion: null,
        status: 'skipped',
        message:
          'edgetpu_compiler was not found here (it runs on x86-64 Debian/Ubuntu). model.tflite in the artifact is the full-integer model it takes: run edgetpu_compiler -s model.tflite on such a machine; the compatibility report above shows where the Edge TPU graph would split.',
        files: [],
        details: {},
      };
    }
    throw err;
  }
}
