/**
 * The TensorFlow Lite interpreter, to run exported .tflite files on this computer: TFLite's own kernels compiled
 * to WebAssembly, as @tensorflow/tfjs-tflite ships them. XNNPACK runs the int8 ops it supports (as TFLite does on
 * a Coral board's CPU); the rest, and the whole model when XNNPACK refuses a tensor, run in TFLite's builtin
 * kernels, ~100× slower here. Both implement TFLite's int8 semantics, which the Edge TPU computes too, up to
 * rounding of the requantization step: a model that agrees here is the model the device computes. It also
 * catches a file TFLite would refuse to load.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';

interface WasmTensor {
  name: string;
  dataType: string;
  /** Comma-separated dims. */
  shape: string;
  data(): Float32Array | Int8Array | Uint8Array | Int32Array;
}
interface WasmVector {
  size(): number;
  get(i: number): WasmTensor;
  delete(): void;
}
interface WasmRunner {
  GetInputs(): WasmVector;
  GetOutputs(): WasmVector;
  Infer(): boolean;
  delete(): void;
}
interface WasmModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  TFLiteWebModelRunner: {
    CreateFromBufferAndOptions(
      ptr: number,
      len: number,
      opts: { numThreads: number; enableProfiling: boolean; maxProfilingBufferEntries: number },
    ): { ok(): boolean; errorMessage(): string; value(): WasmRunner };
  };
}

let loading: Promise<WasmModule> | undefined;
/** What the interpreter last wrote to stderr (its reasons for refusing a model). */
const stderrLines: string[] = [];

function loadModule(): Promise<WasmModule> {
  loading ??= (async () => {
    const require = createRequire(import.meta.url);
    const dir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-tflite/package.json')), 'wasm');
    const factory = require(path.join(dir, 'tflite_web_api_cc_simd.js')) as (
      opts: object,
    ) => Promise<WasmModule>;
    return factory({
      wasmBinary: readFileSync(path.join(dir, 'tflite_web_api_cc_simd.wasm')),
      locateFile: (f: string) => path.join(dir, f),
      print: (line: string) => {
        stderrLines.push(line);
        if (stderrLines.length > 20) stderrLines.shift();
      },
      printErr: (line: string) => {
        stderrLines.push(line);
        if (stderrLines.length > 20) stderrLines.shift();
      },
    });
  })();
  return loading;
}

export interface TfliteTensorInfo {
  name: string;
  type: string;
  shape: number[];
}

export interface TfliteModelRunner {
  inputs: TfliteTensorInfo[];
  outputs: TfliteTensorInfo[];
  /**
   * What the interpreter said while loading the model, e.g. that XNNPACK refused a tensor and TFLite fell back to
   * its reference kernels for the whole graph.
   */
  messages: string[];
  /** Runs once on float inputs (in the file's layout and order); returns each output as float32. */
  run(inputs: readonly Float32Array[]): Float32Array[];
  close(): void;
}

const infoOf = (t: WasmTensor): TfliteTensorInfo => ({
  name: t.name,
  type: t.dataType,
  shape: t.shape === '' ? [] : t.shape.split(',').map(Number),
});

export async function openTflite(bytes: Uint8Array): Promise<TfliteModelRunner> {
  const m = await loadModule();
  const ptr = m._malloc(bytes.length);
  m.HEAPU8.set(bytes, ptr);
  stderrLines.length = 0;
  const created = m.TFLiteWebModelRunner.CreateFromBufferAndOptions(ptr, bytes.length, {
    numThreads: 1,
    enableProfiling: false,
    maxProfilingBufferEntries: 1024,
  });
  if (!created.ok()) {
    m._free(ptr);
    throw new AppError(
      'MODEL_MALFORMED',
      `TensorFlow Lite could not load the model: ${created.errorMessage()}`,
      {
        hint: 'The exported .tflite is invalid; report it with the source model.',
      },
    );
  }
  const runner = created.value();
  const ins = runner.GetInputs();
  const outs = runner.GetOutputs();
  const list = (v: WasmVector): WasmTensor[] => Array.from({ length: v.size() }, (_, i) => v.get(i));
  const inT = list(ins);
  const outT = list(outs);
  let open = true;
  return {
    inputs: inT.map(infoOf),
    outputs: outT.map(infoOf),
    messages: [...stderrLines],
    run(inputs) {
      if (!open) throw new AppError('INTERNAL', 'TFLite runner used after close');
      inT.forEach((t, i) => {
        const dst = t.data();
        const src = inputs[i];
        if (!src || src.length !== dst.length)
          throw new AppError(
            'BAD_INPUT',
            `TFLite input ${t.name} takes ${dst.length} values, got ${src?.length ?? 0}`,
          );
        if (!(dst instanceof Float32Array))
          throw new AppError('BAD_INPUT', `TFLite input ${t.name} is not float32`);
        dst.set(src);
      });
      if (!runner.Infer()) throw new AppError('INTERNAL', 'TensorFlow Lite inference failed');
      return outT.map((t) => Float32Array.from(t.data()));
    },
    close() {
      if (!open) return;
      open = false;
      ins.delete();
      outs.delete();
      runner.delete();
      m._free(ptr);
    },
  };
}
