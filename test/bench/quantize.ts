// Quantization benchmark on real models: PP-OCRv4 text detection and recognition, static INT8 from 64 generated
// calibration samples, against two FP32 references in the same run and with the same onnxruntime settings:
// the source model as shipped and the FP32 build (the same exact graph cleanups as the INT8 build, no
// quantization). Latency p50 at 1 thread and at all threads, measured round-robin (source, FP32 build, INT8,
// source, ...) so machine noise hits all three alike.
//   npm run bench -- quantize [--runs N] [--budget 0.99] [--method minmax|percentile|entropy] [--only det|rec]
//     [--no-speed-pass]
// Agreement: det = cosine of the probability maps on 16 held-out pages; rec = exact text match on 200 held-out
// rendered lines, FP32 source vs INT8 (points). Calibration samples are rendered and preprocessed before the
// clock starts, so quantize_s measures quantization (calibration inference included), not image rendering.
// calibration_inference_s is the time inside onnxruntime's run() during calibration; breakdown_s splits quantize_s.
// every_layer_int8: the same model with every quantizable layer int8 whatever the accuracy, timed in the same
// round-robin: the most INT8 can gain on this CPU with onnxruntime's kernels.
import { readdirSync, readFileSync, rmSync, mkdtempSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readModel, encodeModel } from '../../models/onnx/io.js';
import { inspectModel } from '../../models/onnx/inspect.js';
import { REAL_MODELS } from '../../models/onnx/testing.js';
import { cpuLayout, prepareFp32 } from '../../models/build/prepare.js';
import { hostArch } from '../../models/build/settings.js';
import { modelInputs } from '../../models/build/build.js';
import { openSampleSource } from '../../models/data/dataset.js';
import { decodeRecOutput, loadRecDictionary, normalizeRecText } from '../../models/data/ctc.js';
import { quantizeStatic } from '../../models/quantize/static.js';
import { cosine } from '../../models/quantize/qparams.js';
import {
  toOrtFeeds,
  type CalibrationSample,
  type CalibrationSource,
} from '../../models/quantize/calibrate.js';
import type { CalibrationMethod } from '../../models/quantize/calibrate.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
};
const RUNS = Number(arg('runs', '15'));
const BUDGET = Number(arg('budget', '0.99'));
const METHOD = arg('method', 'minmax') as CalibrationMethod;
const ONLY = arg('only', '');
/** `--no-speed-pass` leaves out the speed pass that builds for this CPU type run by default. */
const SPEED_PASS = !args.includes('--no-speed-pass');
const CALIBRATION = 64;
/** Held out of calibration for the accuracy search (quantizeStatic measures agreement on the last ones). */
const EVAL = 16;
const log = (s: string): void => void process.stderr.write(`${s}\n`);
const dir = mkdtempSync(join(tmpdir(), 'bench-quantize-'));

async function materialize(
  spec: string,
  inputs: ReturnType<typeof modelInputs>,
  n: number,
): Promise<CalibrationSample[]> {
  const src = await openSampleSource(spec, inputs, { limit: n });
  const out: CalibrationSample[] = [];
  for await (const s of src.samples()) out.push(s);
  return out;
}

function memorySource(samples: CalibrationSample[]): CalibrationSource {
  return {
    description: `${samples.length} pre-rendered samples`,
    count: samples.length,
    async *samples() {
      yield* samples;
    },
  };
}

type Timed = { p50_1t: number; p50_all: number };

async function latency(
  files: Record<string, string>,
  feeds: ort.InferenceSession.FeedsType,
): Promise<Record<string, Timed>> {
  const result: Record<string, Timed> = {};
  for (const [key, threads] of [
    ['p50_1t', 1],
    ['p50_all', 0],
  ] as const) {
    const sessions: Record<string, ort.InferenceSession> = {};
    for (const [name, f] of Object.entries(files))
      sessions[name] = await ort.InferenceSession.create(f, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        // All threads (onnxruntime's default pool): without spinning. Each session has its own pool, whose threads
        // spin after a run; in round-robin they spun while the next session ran, and the recognizer measured 31.6 ms
        // at all threads against 18.9 ms at 1 (11.6 ms without spinning).
        ...(threads === 0 ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
      });
    const times: Record<string, number[]> = {};
    for (const name of Object.keys(files)) {
      times[name] = [];
      for (let i = 0; i < 3; i++) await sessions[name]!.run(feeds);
    }
    for (let r = 0; r < RUNS; r++)
      for (const name of Object.keys(files)) {
        const t = performance.now();
        await sessions[name]!.run(feeds);
        times[name]!.push(performance.now() - t);
      }
    for (const name of Object.keys(files)) {
      const s = times[name]!.sort((a, b) => a - b);
      (result[name] ??= { p50_1t: 0, p50_all: 0 })[key] = Number(s[s.length >> 1]!.toFixed(2));
      await sessions[name]!.release();
    }
  }
  return result;
}

async function outputsOf(file: string, samples: CalibrationSample[]): Promise<Float32Array[]> {
  const s = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'all' });
  const out: Float32Array[] = [];
  for (const x of samples) {
    const r = await s.run(toOrtFeeds(x.feeds));
    out.push(r[s.outputNames[0]!]!.data as Float32Array);
  }
  await s.release();
  return out;
}

async function profileTop(
  file: string,
  feeds: ort.InferenceSession.FeedsType,
): Promise<{ op: string; ms: number }[]> {
  const prefix = join(dir, 'profile');
  const s = await ort.InferenceSession.create(file, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    enableProfiling: true,
    profileFilePrefix: prefix,
  });
  const runs = 5;
  for (let i = 0; i < runs; i++) await s.run(feeds);
  s.endProfiling();
  await s.release();
  const f = readdirSync(dir).find((x) => x.startsWith('profile'));
  if (!f) return [];
  const events = JSON.parse(readFileSync(join(dir, f), 'utf8')) as {
    cat: string;
    name: string;
    dur: number;
    args?: { op_name?: string };
  }[];
  rmSync(join(dir, f));
  const byOp = new Map<string, number>();
  for (const e of events)
    if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name)
      byOp.set(e.args.op_name, (byOp.get(e.args.op_name) ?? 0) + e.dur / 1000 / (runs + 1));
  return [...byOp]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 8)
    .map(([op, ms]) => ({ op, ms: Number(ms.toFixed(2)) }));
}

async function benchModel(name: 'det' | 'rec'): Promise<Record<string, unknown>> {
  const srcPath = REAL_MODELS[name];
  const src = await readModel(srcPath);
  const summary = inspectModel(src);
  const inputs = modelInputs(summary);
  const kind = name === 'det' ? 'pages' : 'lines';
  log(`${name}: rendering ${CALIBRATION} calibration and held-out samples`);
  const calib = await materialize(`gen:ocr-${kind}:${CALIBRATION + EVAL}:1`, inputs, CALIBRATION + EVAL);
  const held: (CalibrationSample & { label?: { text?: string } })[] = await materialize(
    `gen:ocr-${kind}:${name === 'det' ? 16 : 200}:2`,
    inputs,
    name === 'det' ? 16 : 200,
  );

  const prep = prepareFp32(src.proto);
  const fp32Build = join(dir, `${name}.fp32.onnx`);
  // The last step of a CPU build for this computer's CPU type, as `edgectl build` runs it (FP32 and INT8 alike).
  const forCpu = (m: typeof prep.model): Uint8Array => encodeModel(cpuLayout(m, hostArch()).model);
  writeFileSync(fp32Build, forCpu(prep.model));
  log(`${name}: quantizing (static INT8, ${METHOD}, accuracy budget ${BUDGET})`);
  const t0 = performance.now();
  let calibratedAt = 0;
  let searchEndAt = 0;
  let speedStartAt = 0;
  let searchSteps = 0;
  const q = await quantizeStatic(prep.model, memorySource(calib), {
    method: METHOD,
    activationType: 'uint8',
    // As `edgectl build --target cpu-x86_64` does: 7-bit weights, since u8×s8 pairs saturate in int16 on x86
    // CPUs without VNNI (this machine), bias correction, float layers' weights stored int8 when the budget
    // allows (else float16), agreement measured on onnxruntime's own kernels.
    reduceRange: true,
    floatWeights: 'auto',
    evaluation: 'runtime',
    // ... and, as builds for this computer's CPU type do by default, the speed pass (speed.ts).
    speedPass: SPEED_PASS,
    speedAwareSearch: SPEED_PASS,
    finish: (m) => cpuLayout(m, hostArch()).model,
    accuracyBudget: BUDGET,
    // 64 samples calibrate; the search measures agreement on 16 more it did not calibrate on. The agreement
    // reported below is on a third set (16 pages / 200 lines) neither step saw.
    evalSamples: EVAL,
    onProgress: (stage, d, t) => {
      const at = (performance.now() - t0) / 1000;
      if (stage === 'calibrate' && d === t) calibratedAt = at;
      if (stage === 'search') searchSteps = d;
      if (stage === 'speed' && d === 0) speedStartAt = at;
      if (stage === 'report' && d === 0) searchEndAt = at;
      if (d === t) log(`  ${stage} ${d}/${t} ${at.toFixed(1)} s`);
    },
  });
  const quantizeS = (performance.now() - t0) / 1000;
  const int8Path = join(dir, `${name}.int8.onnx`);
  writeFileSync(int8Path, forCpu(q.model));
  // What this CPU allows at most: every quantizable layer int8 (depthwise and poorly resolved activations too),
  // accuracy ignored. Timed in the same round-robin; 8 calibration samples are enough to place it.
  log(`${name}: quantizing every layer (the speed ceiling, accuracy ignored)`);
  const all = await quantizeStatic(prep.model, memorySource(calib.slice(0, 8)), {
    method: METHOD,
    activationType: 'uint8',
    reduceRange: true,
    floatWeights: 'float16',
    floatDepthwise: false,
    minChannelLevels: 0,
    evalSamples: 1,
  });
  const allPath = join(dir, `${name}.int8-all.onnx`);
  writeFileSync(allPath, forCpu(all.model));
  const files = { fp32: srcPath, fp32_build: fp32Build, int8: int8Path, int8_all: allPath };
  const feeds = toOrtFeeds(held[0]!.feeds);
  log(`${name}: timing (${RUNS} round-robin runs per model, 1 thread and all threads)`);
  const lat = await latency(files, feeds);
  // Agreement on held-out samples.
  const [a, b] = [await outputsOf(srcPath, held), await outputsOf(int8Path, held)];
  const c = await outputsOf(allPath, held);
  const allAgreement = a.reduce((s2, x, i) => s2 + cosine(x, c[i]!), 0) / a.length;
  let agreement: number;
  const extra: Record<string, unknown> = {};
  if (name === 'det') {
    agreement = a.reduce((s, x, i) => s + cosine(x, b[i]!), 0) / a.length;
  } else {
    const dict = loadRecDictionary();
    let okF = 0;
    let okQ = 0;
    for (let i = 0; i < held.length; i++) {
      const want = normalizeRecText(held[i]!.label?.text ?? '');
      const steps = a[i]!.length / 6625;
      const d = [1, steps, 6625];
      if (normalizeRecText(decodeRecOutput(a[i]!, d, dict)[0]?.text ?? '') === want) okF++;
      if (normalizeRecText(decodeRecOutput(b[i]!, d, dict)[0]?.text ?? '') === want) okQ++;
    }
    const fp32Acc = (100 * okF) / held.length;
    const int8Acc = (100 * okQ) / held.length;
    agreement = Number((int8Acc - fp32Acc).toFixed(2));
    extra.text_match_fp32_pct = Number(fp32Acc.toFixed(2));
    extra.text_match_int8_pct = Number(int8Acc.toFixed(2));
    extra.output_cosine = Number((a.reduce((s2, x, i) => s2 + cosine(x, b[i]!), 0) / a.length).toFixed(5));
  }
  const top = await profileTop(int8Path, feeds);
  const topFp32 = await profileTop(fp32Build, feeds);
  const f = lat.fp32!;
  const fb = lat.fp32_build!;
  const i8 = lat.int8!;
  return {
    name: name === 'det' ? 'ppocrv4_det' : 'ppocrv4_rec',
    input: feeds[Object.keys(feeds)[0]!]!.dims.join('x'),
    fp32_ms_p50: f.p50_1t,
    fp32_build_ms_p50: fb.p50_1t,
    int8_ms_p50: i8.p50_1t,
    speedup: Number((f.p50_1t / i8.p50_1t).toFixed(3)),
    speedup_vs_fp32_build: Number((fb.p50_1t / i8.p50_1t).toFixed(3)),
    all_threads: {
      fp32_ms_p50: f.p50_all,
      fp32_build_ms_p50: fb.p50_all,
      int8_ms_p50: i8.p50_all,
      speedup: Number((f.p50_all / i8.p50_all).toFixed(3)),
      speedup_vs_fp32_build: Number((fb.p50_all / i8.p50_all).toFixed(3)),
    },
    size_ratio: Number((statSync(int8Path).size / statSync(srcPath).size).toFixed(3)),
    agreement: Number(agreement.toFixed(5)),
    agreement_metric: name === 'det' ? 'prob-map cosine vs fp32' : 'text match int8 - fp32 (points)',
    ...extra,
    quantize_s: Number(quantizeS.toFixed(2)),
    calibration_inference_s: Number((q.calibration.inferenceMs / 1000).toFixed(2)),
    // Where the rest of quantize_s goes: the whole calibration pass (inference, plus onnxruntime session setup and
    // summarizing the first sample), and the accuracy search with its reference outputs, ending at the per-layer
    // report.
    breakdown_s: {
      calibration: Number(calibratedAt.toFixed(2)),
      placement_and_search: Number(((speedStartAt || searchEndAt) - calibratedAt).toFixed(2)),
      search_evaluations: searchSteps,
      speed_pass: Number((speedStartAt ? searchEndAt - speedStartAt : 0).toFixed(2)),
      report_and_rest: Number((quantizeS - searchEndAt).toFixed(2)),
    },
    ...(q.speed && !('skipped' in q.speed)
      ? {
          speed_pass: {
            islands: q.speed.islands,
            profiled_islands: q.speed.screened ?? 0,
            timed_islands: q.speed.tested,
            kept_float_islands: q.speed.droppedIslands,
            kept_float_nodes: q.speed.droppedNodes,
          },
        }
      : {}),
    quantized_nodes: q.quantized.length,
    kept_float: q.keptFloat.length,
    eval_cosine: Number(q.agreement.cosine.toFixed(5)),
    every_layer_int8: {
      int8_ms_p50: lat.int8_all!.p50_1t,
      speedup_vs_fp32_build: Number((fb.p50_1t / lat.int8_all!.p50_1t).toFixed(3)),
      size_ratio: Number((statSync(allPath).size / statSync(srcPath).size).toFixed(3)),
      output_cosine: Number(allAgreement.toFixed(5)),
      quantized_nodes: all.quantized.length,
    },
    profile_int8_1t_top_ms: top,
    profile_fp32_build_1t_top_ms: topFp32,
  };
}

const models: Record<string, unknown>[] = [];
for (const m of ['det', 'rec'] as const) if (!ONLY || ONLY === m) models.push(await benchModel(m));
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    bench: 'quantize',
    method: METHOD,
    accuracy_budget: BUDGET,
    calibration_samples: CALIBRATION,
    cpu: `${(await import('node:os')).cpus()[0]?.model ?? '?'} x${(await import('node:os')).cpus().length}`,
    models,
  }),
);
