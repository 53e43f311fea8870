/**
 * A model build: source ONNX → prepared FP32 graph (exact cleanups, opset upgrade, elementwise fusion) → the
 * requested precision (FP16 conversion, or INT8 static QDQ / dynamic) → compatibility report for the target →
 * the target's compile step → a quick agreement check against the source in onnxruntime → a signed artifact.
 *
 * Progress is reported per stage; the AbortSignal cancels at the next check, and a cancelled or failed build
 * leaves no artifact behind (writeArtifact publishes atomically, and the scratch folder is always removed).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { AppError } from '../../shared/errors.js';
import { APP_VERSION } from '../../main/core/version.js';
import type { BuildRecord, Manifest } from '../../shared/artifact.js';
import type { CompatReport } from '../../shared/targets.js';
import { compatibilityReport } from '../compat/report.js';
import { encodeModel, readModel } from '../onnx/io.js';
import { inspectModel, type ModelSummary } from '../onnx/inspect.js';
import { onnx } from '../onnx/schema.js';
import type { CleanupReport } from '../passes/cleanup.js';
import { convertToFloat16, type Fp16Report } from '../passes/fp16.js';
import type { FuseElementwiseReport } from '../passes/fuse-elementwise.js';
import { cpuLayout, defaultOpset, prepareFp32 } from './prepare.js';
import { openSampleSource, type ModelInputInfo, type SampleSource } from '../data/dataset.js';
import type { PresetName } from '../data/preprocess.js';
import { type CalibrationMethod } from '../quantize/calibrate.js';
import { quantizeDynamic } from '../quantize/dynamic.js';
import {
  evalSplit,
  quantizeStatic,
  sampleRange,
  type KeptFloat,
  type SpeedPassSummary,
} from '../quantize/static.js';
import type { FloatWeightStorage } from '../quantize/qdq.js';
import { agreement, referenceOutputs, type Agreement } from '../quantize/sensitivity.js';
import type { LayerError } from '../quantize/sensitivity.js';
import { writeArtifact, type ArtifactInputFile } from '../artifact/write.js';
import { checkBuildSettings, hostArch } from './settings.js';
import { loadOrCreateSigningKey } from '../artifact/signing.js';
import { runCompileStep, type CompileOutcome } from './compile-step.js';
import {
  exportTflite,
  TFLITE_INT8_OPS,
  type TfliteExportResult,
  type TfliteSplit,
} from '../tflite/export.js';
import { tfliteAgreement, type TfliteAgreement } from '../tflite/check.js';

export type BuildPrecision = 'fp32' | 'fp16' | 'int8';

export interface BuildRequest {
  /** Build id (recorded in the manifest and the fleet log); default: a new UUID. */
  id?: string;
  modelPath: string;
  /** Artifact name; default: the model file's base name. */
  name?: string;
  version: string;
  target: string;
  precision: BuildPrecision;
  mode?: 'static' | 'dynamic';
  /** Calibration (and check) data: see openSampleSource. Required for static INT8. */
  calibration?: string;
  calibrate?: CalibrationMethod;
  preset?: PresetName;
  /** Calibration samples to use (default 64). */
  samples?: number;
  exclude?: string[];
  /** Accuracy-aware INT8: minimum output cosine similarity to FP32 (e.g. 0.99). */
  accuracyBudget?: number;
  /** Accuracy-aware INT8: what to keep float first ('channel' resolution, default, or measured 'layer' error). */
  sensitivity?: 'channel' | 'layer';
  /**
   * INT8 on CPU targets: how the weights of layers kept float are stored (default auto: int8 when the accuracy
   * budget holds with it, else float16). See StaticOptions.floatWeights.
   */
  floatWeights?: FloatWeightStorage | 'auto';
  /**
   * Static INT8 for this computer's CPU type: time each group of connected int8 nodes against float and keep float
   * those that run slower in int8 (StaticOptions.speedPass). Default: on where it applies (the target is a CPU of
   * this computer's architecture); true elsewhere is refused, false turns it off.
   */
  speedPass?: boolean;
  outDir: string;
  overwrite?: boolean;
  keysDir: string;
  threads?: number;
  /** Where else to look for vendor compilers (trtexec, edgetpu_compiler) besides PATH. */
  toolDirs?: readonly string[];
  signal?: AbortSignal;
  onProgress?: (p: BuildProgress) => void;
}

export interface BuildProgress {
  stage: string;
  /** 0..1 over the whole build. */
  fraction: number;
  message: string;
}

export interface ModelFacts {
  nodes: number;
  opCounts: Record<string, number>;
  parameters: number;
  parameterBytes: number;
  fileBytes: number;
  opset: number;
}

export interface BuildReport {
  id: string;
  name: string;
  version: string;
  target: string;
  precision: BuildPrecision;
  mode: string | null;
  source: ModelFacts & { fileName: string; sha256: string };
  output: ModelFacts & { quantizedNodes: number; floatNodes: number };
  cleanup: Pick<CleanupReport, 'foldedConstants' | 'fusedBatchNorms' | 'removedNodes'> & {
    fused: FuseElementwiseReport;
    opset: { from: number; to: number; rewritten: number };
    /** x86-64 CPU builds: scalar Mul/Add turned into BatchNormalization (prepare.ts cpuLayout). */
    affineToBatchNorm?: number;
  };
  fp16: Fp16Report | null;
  quantization: {
    mode: 'static' | 'dynamic';
    quantized: string[];
    keptFloat: KeptFloat[];
    layers: LayerError[];
    calibration: {
      method: string;
      samples: number;
      tensors: number;
      inferenceMs: number;
      totalMs: number;
    } | null;
    agreement: Agreement | null;
    floatWeights?: { storage: FloatWeightStorage; tensors: number };
    agreementSamples?: { count: number; heldOut: boolean };
    speed?: SpeedPassSummary;
  } | null;
  compat: CompatReport;
  /**
   * Full-integer targets (the Edge TPU): the TFLite model exported from the INT8 build, what it holds, and its
   * outputs in TensorFlow Lite's interpreter against the source's; or why it could not be exported.
   */
  tflite?:
    | (Pick<TfliteExportResult, 'inputs' | 'outputs' | 'operators' | 'tensors'> & {
        file: string;
        bytes: number;
        /** The part TFLite did not take, shipped as an ONNX model for the device's CPU (see TfliteSplit). */
        split?: Omit<TfliteSplit, 'model'> & { file: string };
        check: TfliteAgreement | { skipped: string };
      })
    | { error: string };
  compile: CompileOutcome;
  /** Agreement of the built model with the source in onnxruntime (all graph optimizations on). */
  check: (Agreement & { samples: number }) | { skipped: string };
  sizeRatio: number;
  durationMs: number;
  stages: { stage: string; ms: number }[];
}

export interface BuildResult {
  report: BuildReport;
  artifactDir: string;
  manifest: Manifest;
  record: BuildRecord;
}

/** The ONNX tail of a split TFLite export, in the artifact. */
const TAIL_FILE = 'model_tail.onnx';

const STAGES: { stage: string; weight: number }[] = [
  { stage: 'read', weight: 0.03 },
  { stage: 'prepare', weight: 0.05 },
  { stage: 'convert', weight: 0.62 },
  { stage: 'compat', weight: 0.02 },
  { stage: 'compile', weight: 0.1 },
  { stage: 'check', weight: 0.1 },
  { stage: 'artifact', weight: 0.08 },
];

function facts(summary: ModelSummary, fileBytes: number, model: onnx.IModelProto): ModelFacts {
  const opCounts: Record<string, number> = {};
  for (const n of model.graph?.node ?? []) opCounts[n.opType ?? '?'] = (opCounts[n.opType ?? '?'] ?? 0) + 1;
  return {
    nodes: model.graph?.node?.length ?? 0,
    opCounts,
    parameters: summary.parameters.count,
    parameterBytes: summary.parameters.bytes,
    fileBytes,
    opset: defaultOpset(model),
  };
}

async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Inputs as the sample sources need them. */
export function modelInputs(summary: ModelSummary): ModelInputInfo[] {
  return summary.inputs.map((i) => ({
    name: i.name,
    elemType: i.elemType,
    shape: i.shape ? [...i.shape] : [],
  }));
}

function check(signal?: AbortSignal): void {
  if (signal?.aborted) throw new AppError('CANCELLED', 'Build cancelled.');
}

export async function buildModel(req: BuildRequest): Promise<BuildResult> {
  const started = Date.now();
  const t0 = performance.now();
  const id = req.id ?? randomUUID();
  const precision = req.precision;
  const { target, mode, speedPass } = checkBuildSettings(req);
  const stages: { stage: string; ms: number }[] = [];
  let stageIdx = -1;
  let stageStart = performance.now();
  const base = (i: number): number => STAGES.slice(0, i).reduce((a, s) => a + s.weight, 0);
  const enter = (stage: string, message: string): void => {
    check(req.signal);
    if (stageIdx >= 0)
      stages.push({ stage: STAGES[stageIdx]?.stage ?? '', ms: Math.round(performance.now() - stageStart) });
    stageIdx = STAGES.findIndex((s) => s.stage === stage);
    stageStart = performance.now();
    req.onProgress?.({ stage, fraction: base(stageIdx), message });
  };
  const within = (stage: string, f: number, message: string): void => {
    const i = STAGES.findIndex((s) => s.stage === stage);
    req.onProgress?.({
      stage,
      fraction: base(i) + (STAGES[i]?.weight ?? 0) * Math.min(1, Math.max(0, f)),
      message,
    });
  };

  enter('read', `Reading ${path.basename(req.modelPath)}`);
  const src = await readModel(req.modelPath);
  const srcStat = await stat(req.modelPath);
  const srcSha = await sha256File(req.modelPath);
  const srcSummary = inspectModel(src);
  const name = req.name ?? path.basename(req.modelPath).replace(/\.onnx$/i, '');

  enter('prepare', 'Cleaning the graph (constants, BatchNorm, opset, elementwise fusion)');
  const prepared = prepareFp32(src.proto);
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'edge-console-build-'));
  try {
    let outModel: onnx.ModelProto = prepared.model;
    let fp16: Fp16Report | null = null;
    let quantization: BuildReport['quantization'] = null;
    let source: SampleSource | undefined;
    const inputs = modelInputs(srcSummary);
    if (req.calibration) {
      source = await openSampleSource(req.calibration, inputs, {
        ...(req.preset ? { preset: req.preset } : {}),
        limit: req.samples ?? 64,
        outputs: srcSummary.outputs.map((o) => ({ shape: o.shape ? [...o.shape] : [] })),
      });
    }
    enter(
      'convert',
      precision === 'fp32' ? 'FP32: no conversion' : `Converting to ${precision.toUpperCase()}`,
    );
    if (precision === 'fp16') {
      const r = convertToFloat16(prepared.model);
      outModel = r.model;
      fp16 = r.report;
    } else if (precision === 'int8' && mode === 'dynamic') {
      const ex = new Set(req.exclude ?? []);
      const r = quantizeDynamic(prepared.model, {
        reduceRange: target.arch === 'x86_64',
        exclude: (n, key) => ex.has(key) || ex.has(n.opType ?? ''),
      });
      if (r.quantized.length === 0) {
        throw new AppError(
          'BAD_INPUT',
          'dynamic INT8 found no MatMul or Gemm with a constant weight to quantize',
          {
            hint: 'Dynamic quantization suits MatMul/Gemm-heavy models (transformers, RNNs); use --mode static for CNNs.',
          },
        );
      }
      outModel = r.model;
      quantization = {
        mode: 'dynamic',
        quantized: r.quantized,
        keptFloat: r.skipped.map((k) => ({
          ...k,
          kind: k.reason === 'excluded' ? ('excluded' as const) : ('unsupported' as const),
        })),
        layers: [],
        calibration: null,
        agreement: null,
      };
    } else if (precision === 'int8' && source) {
      const actType = target.int8?.activations.includes('uint8-asymmetric') ? 'uint8' : 'int8';
      const floatWeights = target.kind === 'cpu' ? (req.floatWeights ?? 'auto') : 'float32';
      const r = await quantizeStatic(prepared.model, source, {
        method: req.calibrate ?? 'minmax',
        activationType: actType,
        // x86-64 without VNNI multiplies u8×s8 pairs with VPMADDUBSW, whose int16 sums saturate with full-range
        // weights; 7-bit weights avoid that on every x86 CPU (onnxruntime's own recommendation).
        reduceRange: target.arch === 'x86_64',
        // CPU: float layers' weights stored as int8 when the accuracy budget allows, else float16 (onnxruntime
        // folds the Cast/Mul that restore them at load: same speed; measured ×0.28 and ×0.48 the detector's
        // size). TensorRT and the Edge TPU get float32 Q/DQ graphs as they expect.
        floatWeights,
        // The accuracy search measures what ships when this computer is the target's CPU type: onnxruntime's own
        // integer kernels. Other targets are judged on Q/DQ as written.
        evaluation: target.kind === 'cpu' && target.arch === hostArch() ? 'runtime' : 'emulated',
        ...(req.exclude ? { exclude: req.exclude } : {}),
        ...(req.accuracyBudget !== undefined ? { accuracyBudget: req.accuracyBudget } : {}),
        ...(req.sensitivity ? { sensitivity: req.sensitivity } : {}),
        // On this computer's CPU type, the accuracy search also weighs what each layer saves in int8 here, and the
        // speed pass then drops what does not pay off.
        ...(speedPass
          ? { speedPass: true, speedAwareSearch: true, finish: (m) => cpuLayout(m, target.arch).model }
          : {}),
        // Depthwise convolutions stay float on CPUs only: onnxruntime's int8 depthwise kernel is no faster there.
        floatDepthwise: target.kind === 'cpu',
        // A full-integer target (the Edge TPU) runs every op in int8 or falls back to the CPU for the rest of the
        // graph: nothing is left float for resolution's sake, and the ops between layers are quantized too.
        ...(target.int8?.fullInteger
          ? { minChannelLevels: 0, ops: TFLITE_INT8_OPS, quantizeOutputs: true }
          : {}),
        ...(req.threads !== undefined ? { threads: req.threads } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
        onProgress: (stage, d, t) => {
          // Measured on the PP-OCR detector and recognizer: the (speed-aware) accuracy search takes about as
          // long as calibration, the speed pass a tenth of that when the profiles single out nothing.
          const share: Record<string, [number, number]> = speedPass
            ? {
                calibrate: [0, 0.42],
                quantize: [0.42, 0.44],
                sensitivity: [0.44, 0.5],
                search: [0.5, 0.88],
                speed: [0.88, 0.96],
                report: [0.96, 1],
              }
            : {
                calibrate: [0, 0.55],
                quantize: [0.55, 0.6],
                sensitivity: [0.6, 0.85],
                search: [0.85, 0.95],
                report: [0.95, 1],
              };
          const [a, b] = share[stage] ?? [0, 1];
          within('convert', a + (b - a) * (t > 0 ? d / t : 0), `${stage} ${d}/${t}`);
        },
      });
      outModel = r.model;
      quantization = {
        mode: 'static',
        quantized: r.quantized,
        keptFloat: r.keptFloat,
        layers: r.layers,
        calibration: r.calibration,
        agreement: r.agreement,
        agreementSamples: r.agreementSamples,
        ...(r.speed && !('skipped' in r.speed) ? { speed: r.speed } : {}),
        floatWeights: {
          storage: r.floatWeights,
          tensors: r.qdq.weights.filter((w) => w.weightOnly === true).length,
        },
      };
    }
    // x86-64 CPU builds (FP32 and INT8; FP16 runs no float32 scalars): scalar affines onnxruntime would run
    // outside its blocked layout become BatchNormalization (exact).
    let affineToBN = 0;
    if (target.kind === 'cpu' && precision !== 'fp16') {
      const l = cpuLayout(outModel, target.arch);
      outModel = l.model;
      affineToBN = l.affineToBatchNorm;
    }
    check(req.signal);
    const modelFile = path.join(scratch, 'model.onnx');
    const bytes = encodeModel(outModel);
    await writeFile(modelFile, bytes);

    // The Edge TPU takes a full-integer TFLite model: exported from the INT8 build at the samples' fixed size.
    let tflite: { path: string; result: TfliteExportResult } | { error: string } | undefined;
    if (target.int8?.format === 'tflite-full-integer' && precision === 'int8') {
      within('convert', 0.98, 'Exporting the full-integer TensorFlow Lite model');
      const first = source ? (await sampleRange(source, 0, 1, req.signal))[0] : undefined;
      if (mode !== 'static' || !first) {
        tflite = { error: 'it needs static int8 quantization with calibration samples (--calibration)' };
      } else {
        try {
          const inputShapes = Object.fromEntries(
            Object.entries(first.feeds).map(([k, v]) => [k, [...v.dims]]),
          );
          // What TFLite does not take here is left to an ONNX tail (model_tail.onnx) that onnxruntime runs on the
          // device's CPU, after the Edge TPU part: the split the compatibility report describes.
          const result = exportTflite(outModel, {
            inputShapes,
            description: `${name} ${req.version} (Edge Console ${APP_VERSION})`,
            split: true,
          });
          const file = path.join(scratch, 'model.tflite');
          await writeFile(file, result.bytes);
          if (result.split) await writeFile(path.join(scratch, TAIL_FILE), encodeModel(result.split.model));
          tflite = { path: file, result };
        } catch (err) {
          if (!(err instanceof AppError) || err.code !== 'BAD_INPUT') throw err;
          tflite = { error: `${err.message.replace(/\.?$/, '.')}${err.hint ? ` ${err.hint}` : ''}` };
        }
      }
    }
    enter('compat', `Checking compatibility with ${target.label}`);
    const compat = compatibilityReport(outModel, target, {
      precision,
      ...(tflite && 'path' in tflite ? { tfliteExport: true } : {}),
      ...(tflite && 'path' in tflite && tflite.result.split ? { tfliteTail: true } : {}),
    });

    enter('compile', `Compile step for ${target.label}`);
    const compile = await runCompileStep(
      target,
      modelFile,
      scratch,
      precision,
      req.signal,
      (line) => within('compile', 0.5, line),
      tflite && 'path' in tflite ? { path: tflite.path } : tflite,
      req.toolDirs,
    );

    enter('check', 'Checking outputs against the source model in onnxruntime');
    let checkResult: BuildReport['check'];
    let tfliteCheck: TfliteAgreement | { skipped: string } = { skipped: 'no check samples' };
    // The same samples the INT8 accuracy search held out of calibration (the last ones) when there are enough;
    // otherwise the first ones.
    const split = evalSplit(source?.count ?? 0, quantization?.agreementSamples?.count);
    const checkSamples = source ? await sampleRange(source, split.start, split.count, req.signal) : [];
    if (checkSamples.length > 0) {
      const ctx = await referenceOutputs(src.proto, checkSamples, {
        ...(req.threads !== undefined ? { threads: req.threads } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      const a = await agreement(bytes, ctx, { optimized: true });
      checkResult = { ...a, samples: checkSamples.length };
      if (tflite && 'path' in tflite) {
        within('check', 0.6, 'Running the TFLite model in TensorFlow Lite');
        try {
          tfliteCheck = await tfliteAgreement(
            tflite.result.bytes,
            tflite.result,
            checkSamples,
            ctx.reference,
            req.signal,
          );
        } catch (err) {
          if (!(err instanceof AppError) || err.code === 'CANCELLED') throw err;
          tfliteCheck = { skipped: err.message };
        }
      }
    } else {
      checkResult = { skipped: 'no calibration or check data was given (--calibration)' };
    }

    enter('artifact', 'Writing and signing the artifact');
    const key = await loadOrCreateSigningKey(req.keysDir);
    const outSummary = inspectModel(outModel);
    const floatNodes =
      (outModel.graph?.node ?? []).length -
      (quantization?.quantized.length ?? 0) -
      (outModel.graph?.node ?? []).filter((n) => /QuantizeLinear|DequantizeLinear/.test(n.opType ?? ''))
        .length;
    const durationSoFar = Date.now() - started;
    const files: ArtifactInputFile[] = [
      { from: modelFile, path: 'model.onnx', role: 'model' },
      ...(tflite && 'path' in tflite
        ? [{ from: tflite.path, path: 'model.tflite', role: 'model' as const }]
        : []),
      ...(tflite && 'path' in tflite && tflite.result.split
        ? [{ from: path.join(scratch, TAIL_FILE), path: TAIL_FILE, role: 'model' as const }]
        : []),
      ...compile.files,
    ];
    const reportFile = path.join(scratch, 'build-report.json');
    const report: BuildReport = {
      id,
      name,
      version: req.version,
      target: target.id,
      precision,
      mode,
      source: {
        ...facts(srcSummary, srcStat.size, src.proto),
        fileName: path.basename(req.modelPath),
        sha256: srcSha,
      },
      output: {
        ...facts(outSummary, bytes.length, outModel),
        quantizedNodes: quantization?.quantized.length ?? 0,
        floatNodes: Math.max(0, floatNodes),
      },
      cleanup: {
        foldedConstants: prepared.cleanup.foldedConstants,
        fusedBatchNorms: prepared.cleanup.fusedBatchNorms,
        removedNodes: prepared.cleanup.removedNodes,
        fused: prepared.fused,
        affineToBatchNorm: affineToBN,
        opset: prepared.opset,
      },
      fp16,
      quantization,
      compat,
      ...(tflite
        ? {
            tflite:
              'path' in tflite
                ? {
                    file: 'model.tflite',
                    bytes: tflite.result.bytes.length,
                    inputs: tflite.result.inputs,
                    outputs: tflite.result.outputs,
                    operators: tflite.result.operators,
                    tensors: tflite.result.tensors,
                    ...(tflite.result.split
                      ? {
                          split: {
                            at: tflite.result.split.at,
                            file: TAIL_FILE,
                            nodes: tflite.result.split.nodes,
                            inputs: tflite.result.split.inputs,
                            outputs: tflite.result.split.outputs,
                          },
                        }
                      : {}),
                    check: tfliteCheck,
                  }
                : { error: tflite.error },
          }
        : {}),
      compile,
      check: checkResult,
      sizeRatio: bytes.length / srcStat.size,
      durationMs: durationSoFar,
      stages,
    };
    await writeFile(reportFile, JSON.stringify(report, null, 2) + '\n');
    files.push({ from: reportFile, path: 'build-report.json', role: 'report' });
    const written = await writeArtifact({
      outDir: req.outDir,
      files,
      key,
      ...(req.overwrite ? { overwrite: true } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
      onProgress: (p) =>
        within('artifact', p.bytesTotal ? p.bytesDone / p.bytesTotal : 1, `Writing ${p.path}`),
      manifest: {
        name,
        version: req.version,
        target: target.id,
        precision,
        ...(mode ? { mode } : {}),
        source: { fileName: path.basename(req.modelPath), sha256: srcSha, bytes: srcStat.size },
        quantization:
          precision === 'int8'
            ? {
                mode: mode ?? 'static',
                method: req.calibrate ?? 'minmax',
                activations: target.int8?.activations.includes('uint8-asymmetric')
                  ? 'uint8 asymmetric'
                  : 'int8 symmetric',
                weights: 'int8 symmetric per channel',
                exclude: req.exclude ?? [],
                accuracyBudget: req.accuracyBudget ?? null,
                quantizedNodes: quantization?.quantized.length ?? 0,
                keptFloat: (quantization?.keptFloat ?? []).map((k) => k.node),
                floatWeights: quantization?.floatWeights?.storage ?? 'float32',
              }
            : precision === 'fp16'
              ? { fp16: { keptFloat32: fp16?.keptFloat32.length ?? 0 } }
              : null,
        calibration: quantization?.calibration
          ? {
              source: source?.description ?? '',
              method: quantization.calibration.method,
              samples: quantization.calibration.samples,
              tensors: quantization.calibration.tensors,
            }
          : null,
        tools: {
          edgeConsole: APP_VERSION,
          onnxruntime: ort.env.versions.node ?? ort.env.versions.common ?? 'unknown',
          ...(compile.toolVersion ? { [compile.tool]: compile.toolVersion } : {}),
        },
        build: { id, durationMs: Math.round(performance.now() - t0) },
      },
    });
    stages.push({ stage: 'artifact', ms: Math.round(performance.now() - stageStart) });
    req.onProgress?.({ stage: 'done', fraction: 1, message: `Built ${written.dir}` });
    const record: BuildRecord = {
      id,
      name,
      version: req.version,
      target: target.id,
      precision,
      mode,
      status: 'succeeded',
      createdAt: started,
      durationMs: Date.now() - started,
      sourceSha256: srcSha,
      sourceName: path.basename(req.modelPath),
      artifactDir: written.dir,
      manifestSha256: written.manifestSha256,
      keyId: written.keyId,
      summary: buildSummary(report),
      error: null,
    };
    report.durationMs = record.durationMs ?? report.durationMs;
    return { report, artifactDir: written.dir, manifest: written.manifest, record };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The part of a report the fleet log keeps with the build (what the Builds list shows). */
export function buildSummary(r: BuildReport): BuildRecord['summary'] {
  return {
    sourceBytes: r.source.fileBytes,
    outputBytes: r.output.fileBytes,
    sizeRatio: Number(r.sizeRatio.toFixed(4)),
    sourceNodes: r.source.nodes,
    outputNodes: r.output.nodes,
    quantizedNodes: r.output.quantizedNodes,
    keptFloat: r.quantization?.keptFloat.length ?? 0,
    compatOk: r.compat.ok,
    compatVerdict: r.compat.verdict,
    compile: r.compile.status,
    agreement: 'skipped' in r.check ? null : Number(r.check.cosine.toFixed(5)),
  };
}

/** A failed or cancelled build as the fleet log records it. */
export function failedRecord(req: BuildRequest, id: string, started: number, err: unknown): BuildRecord {
  const cancelled = err instanceof AppError && err.code === 'CANCELLED';
  const message = err instanceof Error ? err.message : String(err);
  return {
    id,
    name: req.name ?? path.basename(req.modelPath).replace(/\.onnx$/i, ''),
    version: req.version,
    target: req.target,
    precision: req.precision,
    mode: req.precision === 'int8' ? (req.mode ?? 'static') : null,
    status: cancelled ? 'cancelled' : 'failed',
    createdAt: started,
    durationMs: Date.now() - started,
    sourceSha256: null,
    sourceName: path.basename(req.modelPath),
    artifactDir: null,
    manifestSha256: null,
    keyId: null,
    summary: {},
    error: message.slice(0, 10_000) || 'failed',
  };
}
