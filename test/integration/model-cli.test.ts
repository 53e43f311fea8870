// edgectl model inspect / build / builds / artifact verify, run as a user runs them: the bundled CLI in a child
// process, a real PP-OCR model, a fresh data directory (signing key and fleet log created on first use).
import { spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REAL_MODELS } from '../../models/onnx/testing.js';
import type { BuildReport } from '../../shared/contract.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'edgectl.cjs');
const dir = mkdtempSync(join(tmpdir(), 'edge-model-cli-'));
const data = join(dir, 'data');
const env = { ...process.env, EDGE_CONSOLE_DATA_DIR: data };

function edgectl(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `edgectl build` for the cls model: target, precision and output as given, then any extra options. */
function build(target: string, precision: string, out: string, ...extra: string[]) {
  return edgectl(
    'build',
    '--model',
    REAL_MODELS.cls,
    '--target',
    target,
    '--precision',
    precision,
    '--out',
    out,
    ...extra,
  );
}

/** Static INT8 of the cls model for this CPU, calibrated on 8 generated lines. */
function buildInt8(out: string, version: string, ...extra: string[]) {
  return build('cpu-x86_64', 'int8', out, '--calibration', 'gen:ocr-lines:8', '--version', version, ...extra);
}

describe('edgectl model commands', () => {
  it('inspects a real model', () => {
    const r = edgectl('model', 'inspect', REAL_MODELS.cls);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/opset ai\.onnx 9/);
    expect(r.stdout).toMatch(/input\s+x: float32/);
    expect(r.stdout).toMatch(/Conv 53/);
  });

  it('builds a signed INT8 artifact, records it, and verification catches tampering', () => {
    const out = join(dir, 'cls-int8');
    const r = buildInt8(out, '1.0.0', '--no-speed-pass');
    expect(r.stderr).toMatch(/100% Built/);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/speed pass/);
    expect(r.stdout).toMatch(/quantized\s+\d+ nodes \(static\)/);
    // Why nodes stayed float, counted by reason.
    expect(r.stdout).toMatch(/kept float: \d+ \(.*\d+ depthwise/);
    expect(r.stdout).toMatch(/float layers weights stored as float16 \(\d+ tensors\)/);
    expect(r.stdout).toMatch(/target\s+OK/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      precision: string;
      files: { path: string; bytes: number; load?: unknown }[];
      tools: { edgeConsole: string };
      quantization: { floatWeights: string };
    };
    expect(manifest.precision).toBe('int8');
    // Layers kept float store float16 weights by default on CPU (same speed, half the bytes).
    expect(manifest.quantization.floatWeights).toBe('float16');
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(manifest.tools.edgeConsole).toBe(pkg.version);
    expect(manifest.files.map((f) => f.path)).toEqual(
      expect.arrayContaining(['model.onnx', 'build-report.json', 'model.ort-optimized.onnx']),
    );
    // onnxruntime's optimized copy keeps those weights float16 too, instead of shipping them unfolded as float32.
    expect(r.stdout).toMatch(/compile\s+compiled: .*float-layer weights kept compact \(\d+ float16\)/);
    const sizeOf = (f: string) => manifest.files.find((x) => x.path === f)!.bytes;
    expect(sizeOf('model.ort-optimized.onnx')).toBeLessThan(sizeOf('model.onnx') * 1.1);
    // The manifest tells the device how to load it: with the optimizations that fold those weights once.
    expect(manifest.files.find((x) => x.path === 'model.ort-optimized.onnx')!.load).toEqual({
      graphOptimizationLevel: 'basic',
    });
    expect(edgectl('artifact', 'verify', out).stdout).toMatch(/^OK:/);
    const builds = edgectl('builds', '--json');
    expect(JSON.parse(builds.stdout)).toEqual([
      expect.objectContaining({
        status: 'succeeded',
        version: '1.0.0',
        target: 'cpu-x86_64',
        artifactDir: out,
      }),
    ]);
    // Same version again: versions are immutable.
    const again = build(
      'cpu-x86_64',
      'int8',
      join(dir, 'again'),
      '--calibration',
      'gen:ocr-lines:8',
      '--version',
      '1.0.0',
    );
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already built/);
    expect(existsSync(join(dir, 'again'))).toBe(false);
    // One changed byte in the model fails verification (exit 1), naming the file.
    appendFileSync(join(out, 'model.onnx'), 'x');
    const bad = edgectl('artifact', 'verify', out);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/FAILED[\s\S]*model\.onnx/);
    // An edited manifest fails the signature check.
    const m = readFileSync(join(out, 'manifest.json'), 'utf8').replace('"1.0.0"', '"1.0.1"');
    writeFileSync(join(out, 'manifest.json'), m);
    expect(edgectl('artifact', 'verify', out).stdout).toMatch(/signature/);
  });

  it('the speed pass (default) profiles each int8 group on this CPU and says which it kept float', () => {
    const out = join(dir, 'cls-speed');
    // On by default for a CPU target of this computer's architecture.
    const r = buildInt8(out, '2.0.0', '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as {
      quantization: {
        quantized: string[];
        keptFloat: { node: string; reason: string }[];
        speed: {
          islands: number;
          screened: number;
          droppedIslands: number;
          droppedNodes: number;
          beforeMs: number;
          afterMs: number;
        };
      };
    };
    const { speed, keptFloat, quantized } = report.quantization;
    expect(speed.islands).toBeGreaterThan(0);
    expect(speed.screened).toBe(speed.islands);
    expect(speed.beforeMs).toBeGreaterThan(0);
    // Whatever the timings were: what it dropped is reported node by node, and it never kept a slower result.
    const measured = keptFloat.filter((k) => k.reason.startsWith('measured slower in int8'));
    expect(measured.length).toBe(speed.droppedNodes);
    for (const k of measured) expect(quantized).not.toContain(k.node);
    expect(speed.afterMs).toBeLessThanOrEqual(speed.beforeMs);
  });

  it('a Coral build exports a full-integer TFLite model, checks it in TensorFlow Lite, and compiles it where edgetpu_compiler is', () => {
    const coralData = join(dir, 'coral-data');
    const run = (extraEnv: Record<string, string>, out: string, version: string) =>
      spawnSync(
        process.execPath,
        [
          cli,
          'build',
          '--model',
          REAL_MODELS.cls,
          '--target',
          'coral-edgetpu',
          '--precision',
          'int8',
          '--calibration',
          'gen:ocr-lines:12',
          '--preset',
          'ppocr-cls',
          '--version',
          version,
          '--out',
          out,
        ],
        {
          encoding: 'utf8',
          timeout: 120_000,
          env: { ...env, EDGE_CONSOLE_DATA_DIR: coralData, ...extraEnv },
        },
      );
    // No compiler on this machine: the artifact carries model.tflite and says how to compile it.
    const out = join(dir, 'cls-coral');
    const r = run({ PATH: '/usr/bin:/bin' }, out, '1.0.0');
    expect(r.stderr).toMatch(/100% Built/);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /tflite\s+model\.tflite, [\d.]+ MB, full integer: .*CONV_2D \d+.*DEPTHWISE_CONV_2D \d+/,
    );
    expect(r.stdout).toMatch(/input x 1×48×192×3 \(NHWC\), output softmax_0\.tmp_0 1×2/);
    const cos = /in TensorFlow Lite: output cosine ([\d.]+)/.exec(r.stdout);
    expect(Number(cos?.[1])).toBeGreaterThan(0.99);
    expect(r.stdout).toMatch(/target\s+OK: Compatible with Google Coral/);
    expect(r.stdout).toMatch(
      /compile\s+skipped: edgetpu_compiler was not found here .*run edgetpu_compiler -s model\.tflite/,
    );
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as {
      files: { path: string; role: string }[];
    };
    expect(manifest.files).toEqual(
      expect.arrayContaining([expect.objectContaining({ path: 'model.tflite', role: 'model' })]),
    );
    const tfl = readFileSync(join(out, 'model.tflite'));
    expect(tfl.subarray(4, 8).toString('latin1')).toBe('TFL3');
    // Signed with this data directory's key (the console that built it).
    const verify = (d: string) =>
      spawnSync(process.execPath, [cli, 'artifact', 'verify', d], {
        encoding: 'utf8',
        env: { ...env, EDGE_CONSOLE_DATA_DIR: coralData },
      }).stdout;
    expect(verify(out)).toMatch(/^OK:.*3 files intact/);

    // A stand-in edgetpu_compiler on PATH (replaying a recorded real run): the build compiles model.tflite with it
    // and ships the compiled model.
    const bin = join(dir, 'coral-bin');
    mkdirSync(bin, { recursive: true });
    const fixtures = join(root, 'test', 'fixtures', 'toolchains', 'edgetpu');
    writeFileSync(
      join(bin, 'edgetpu_compiler'),
      [
        '#!/bin/sh',
        `printf '%s\\n' "$@" > "${join(bin, 'args.txt')}"`,
        'cp "$4" "$3/model_edgetpu.tflite"',
        `cat "${join(fixtures, 'v16-fully-mapped-offchip.stdout.txt')}"`,
        'exit 0',
      ].join('\n'),
    );
    chmodSync(join(bin, 'edgetpu_compiler'), 0o755);
    const out2 = join(dir, 'cls-coral-compiled');
    const c = run({ PATH: `${bin}:/usr/bin:/bin` }, out2, '1.0.1');
    expect(c.status).toBe(0);
    expect(c.stdout).toMatch(
      /compile\s+compiled: Edge TPU compiler 16\.0\.384591198: 50 of 50 operations on the Edge TPU/,
    );
    const args = readFileSync(join(bin, 'args.txt'), 'utf8').trim().split('\n');
    expect(args.slice(0, 2)).toEqual(['-s', '-o']);
    expect(args[3]).toMatch(/model\.tflite$/);
    expect(readdirSync(out2)).toEqual(
      expect.arrayContaining(['model.tflite', 'model_edgetpu.tflite', 'model.onnx']),
    );
    expect(verify(out2)).toMatch(/^OK:.*4 files intact/);

    // A model the export cannot take whole (the recognizer's SVTR neck starts with a Transpose): the TFLite model
    // ends there and the rest ships as an ONNX tail for the device's CPU; both are checked together against the
    // source, and the compiler gets the TFLite part.
    const out3 = join(dir, 'rec-coral');
    const rec = spawnSync(
      process.execPath,
      [cli, 'build', '--model', REAL_MODELS.rec, '--target', 'coral-edgetpu', '--precision', 'int8'].concat([
        '--calibration',
        'gen:ocr-lines:8',
        '--out',
        out3,
      ]),
      {
        encoding: 'utf8',
        timeout: 180_000,
        env: { ...env, EDGE_CONSOLE_DATA_DIR: coralData, PATH: '/usr/bin:/bin' },
      },
    );
    expect(rec.status).toBe(0);
    expect(rec.stdout).toMatch(
      /split at p2o\.Transpose\.0 \(Transpose\): the rest \(\d+ nodes\) is model_tail\.onnx, for onnxruntime on the device's CPU/,
    );
    const recCheck = /in TensorFlow Lite \+ model_tail\.onnx in onnxruntime: output cosine ([\d.]+)/.exec(
      rec.stdout,
    );
    expect(Number(recCheck?.[1])).toBeGreaterThan(0.9);
    expect(rec.stdout).toMatch(/compile\s+skipped: edgetpu_compiler was not found here .*model\.tflite/);
    expect(readdirSync(out3)).toEqual(
      expect.arrayContaining(['model.onnx', 'model.tflite', 'model_tail.onnx']),
    );
    expect(verify(out3)).toMatch(/^OK:.*4 files intact/);
    const recReport = JSON.parse(readFileSync(join(out3, 'build-report.json'), 'utf8')) as BuildReport;
    const t = recReport.tflite;
    expect(t && 'split' in t ? t.split : undefined).toMatchObject({
      at: { node: 'p2o.Transpose.0', opType: 'Transpose' },
      file: 'model_tail.onnx',
      outputs: ['softmax_11.tmp_0'],
    });
  });

  it('bad inputs get one clear line and no artifact', () => {
    const notOnnx = edgectl(
      'build',
      '--model',
      join(root, 'package.json'),
      '--target',
      'cpu-x86_64',
      '--precision',
      'fp32',
      '--out',
      join(dir, 'x1'),
    );
    expect(notOnnx.code).toBe(2);
    expect(notOnnx.stderr).toMatch(/not an ONNX model/);
    const nano = build('jetson-nano', 'int8', join(dir, 'x2'), '--calibration', 'gen:ocr-lines:4');
    expect(nano.code).toBe(2);
    expect(nano.stderr).toMatch(/does not run INT8/);
    const noCal = build('cpu-x86_64', 'int8', join(dir, 'x3'));
    expect(noCal.stderr).toMatch(/needs calibration data/);
    const badTarget = build('tpu', 'int8', join(dir, 'x4'));
    expect(badTarget.code).toBe(2);
    expect(badTarget.stderr).toMatch(/--target must be one of/);
    const badStorage = build('cpu-x86_64', 'int8', join(dir, 'x5'), '--float-weights', 'fp8');
    expect(badStorage.code).toBe(2);
    expect(badStorage.stderr).toMatch(/--float-weights must be one of auto, float32, float16, int8/);
    for (const d of ['x1', 'x2', 'x3', 'x4', 'x5']) expect(existsSync(join(dir, d))).toBe(false);
  });

  it('Ctrl-C cancels a build: no artifact, nothing half-written, recorded as cancelled', async () => {
    const out = join(dir, 'det-cancelled');
    const child = spawn(
      process.execPath,
      [
        cli,
        'build',
        '--model',
        REAL_MODELS.det,
        '--target',
        'cpu-x86_64',
        '--precision',
        'int8',
        '--calibration',
        'gen:ocr-pages:64',
        '--out',
        out,
      ],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // One Ctrl-C cancels cleanly (a second one would force an immediate exit).
      if (!sent && /Converting to INT8/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).toMatch(/Cancelling the build/);
    expect(code).not.toBe(0);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.partial'))).toEqual([]);
    const builds = JSON.parse(edgectl('builds', '--json').stdout) as { status: string; sourceName: string }[];
    expect(builds[0], JSON.stringify(builds.slice(0, 2))).toMatchObject({
      status: 'cancelled',
      sourceName: 'ch_PP-OCRv4_det_infer.onnx',
    });
  });
});
