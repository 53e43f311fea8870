import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildTensorRtEngine,
  decodeTrtVersion,
  layerPrecisions,
  parseTrtexecOutput,
  trtexecArgs,
} from './tensorrt.js';
import { findTool } from './tools.js';

const FIXTURES = path.join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'toolchains', 'trtexec');
const fixture = (name: string): Promise<string> => readFile(path.join(FIXTURES, name), 'utf8');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'trtexec-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseTrtexecOutput on recorded trtexec runs', () => {
  it('TensorRT 8.5.2 FP16 build + benchmark (full log): version, engine, build time, latency, throughput', async () => {
    const r = parseTrtexecOutput(await fixture('trt-8.5.2-rtx3090-fp16-pass.log'));
    expect(r.ok).toBe(true);
    expect(r.trtVersion).toBe('8.5.2');
    expect(r.precision).toBe('FP32+FP16');
    expect(r.buildTimeS).toBe(351.008);
    expect(r.engineBytes).toBe(8 * 1024 * 1024);
    expect(r.throughputQps).toBe(196.933);
    expect(r.latency).toEqual({
      min: 9.57434,
      max: 9.91241,
      mean: 9.77405,
      median: 9.76929,
      percentiles: { 90: 9.82129, 95: 9.8645, 99: 9.89069 },
      p99: 9.89069,
    });
    expect(r.gpuCompute?.mean).toBe(4.9113);
    expect(r.command).toMatch(/^trtexec --onnx=yolov8n-seg-nms\.onnx/);
    expect(r.errors).toEqual([]);
    // The custom NMS op had no importer but its plugin was found: not unsupported.
    expect(r.unsupportedOps).toEqual([]);
    expect(r.warnings).toContain('- 67 weights are affected by this issue: Detected subnormal FP16 values.');
    expect(r.warnings.some((w) => w.includes('INT64 weights'))).toBe(true);
  });

  it('TensorRT 8.4 on a Jetson AGX Xavier (performance summary excerpt)', async () => {
    const r = parseTrtexecOutput(await fixture('trt-8.4.0-jetson-agx-xavier-perf-summary.excerpt.log'));
    expect(r.ok).toBe(true);
    expect(r.trtVersion).toBe('8.4.0');
    expect(r.throughputQps).toBe(41087.7);
    expect(r.latency).toMatchObject({ min: 0.387207, median: 0.401947, p99: 0.420288 });
    expect(r.latency!.percentiles).toEqual({ 99: 0.420288 });
    expect(r.gpuCompute?.p99).toBe(0.393188);
  });

  it('TensorRT 8.0.3 failing on an operator it has no importer or plugin for', async () => {
    const r = parseTrtexecOutput(await fixture('trt-8.0.3-unsupported-op-round.excerpt.log'));
    expect(r.ok).toBe(false);
    expect(r.trtVersion).toBe('8.0.3');
    expect(r.errors[0]).toContain('Plugin not found, are the plugin name, version, and namespace correct?');
    expect(r.errors[0]).toContain('importFallbackPluginImporter');
    expect(r.errors).toContain('Failed to parse onnx file');
    // The node dump before the error is not an error of its own.
    expect(r.errors.some((e) => e.includes('type: GRAPH'))).toBe(false);
  });

  it('TensorRT 8.x rejecting a Q/DQ model with a zero scale: failing node and assertion', async () => {
    const r = parseTrtexecOutput(await fixture('trt-8.x-qdq-scale-not-positive.excerpt.log'));
    expect(r.ok).toBe(false);
    expect(r.failedNode).toEqual({
      index: 1,
      opType: 'QuantizeLinear',
      output: 'onnx::DequantizeLinear_497',
    });
    expect(r.errors.some((e) => e.includes('Scale coefficients must all be positive'))).toBe(true);
    expect(r.errors.some((e) => e.startsWith('ModelImporter.cpp:728: input:'))).toBe(false);
  });

  it('TensorRT 10 rejecting a non-zero (asymmetric) zero point', async () => {
    const r = parseTrtexecOutput(await fixture('trt-10.x-qdq-nonzero-zero-point.excerpt.log'));
    expect(r.ok).toBe(false);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(
      /QuantDequantLinearHelper: \[6\] Assertion failed: shiftIsAllZeros\(zeroPoint\): Non-zero zero point/,
    );
  });

  it('garbage, empty and truncated text: ok:false with an error, never a throw', () => {
    for (const text of ['', 'hello\nworld', '\u0000\u0001\u0002', 'x'.repeat(100_000)]) {
      const r = parseTrtexecOutput(text);
      expect(r.ok).toBe(false);
      expect(r.errors.length).toBeGreaterThan(0);
      expect(r.trtVersion).toBeNull();
    }
    expect(parseTrtexecOutput(undefined as unknown as string).ok).toBe(false);
    const started = parseTrtexecOutput(
      '&&&& RUNNING TensorRT.trtexec [TensorRT v100300] # trtexec --onnx=m.onnx\n',
    );
    expect(started.ok).toBe(false);
    expect(started.trtVersion).toBe('10.3.0');
    expect(started.errors[0]).toMatch(/ends before/);
  });

  it('decodes trtexec version tags of TensorRT 8 and 10', () => {
    expect(decodeTrtVersion('8502')).toBe('8.5.2');
    expect(decodeTrtVersion('8201')).toBe('8.2.1');
    expect(decodeTrtVersion('100300')).toBe('10.3.0');
    expect(decodeTrtVersion('101303')).toBe('10.13.3');
    expect(decodeTrtVersion('8.6.1')).toBe('8.6.1');
    expect(decodeTrtVersion('abc')).toBeNull();
  });
});

describe('layer precisions from --exportLayerInfo JSON', () => {
  it('counts layers by the precision of their output', () => {
    const json = JSON.stringify({
      Layers: [
        {
          Name: 'a',
          Outputs: [{ 'Format/Datatype': 'Thirty-two wide channel vectorized row major Int8 format.' }],
        },
        { Name: 'b', Outputs: [{ 'Format/Datatype': 'Row major linear FP16 format' }] },
        { Name: 'c', Outputs: [{ 'Format/Datatype': 'Half' }] },
        { Name: 'd', Outputs: [{ 'Format/Datatype': 'Float' }] },
        'a name only (not detailed)',
      ],
    });
    expect(layerPrecisions(json)).toEqual({ INT8: 1, FP16: 2, FP32: 1 });
    expect(layerPrecisions('{"Layers": ["x", "y"]}')).toBeUndefined();
    expect(layerPrecisions('not json')).toBeUndefined();
  });
});

describe('buildTensorRtEngine', () => {
  it('trtexec arguments per precision and shape profile', () => {
    expect(trtexecArgs('m.onnx', 'm.engine', { precision: 'int8' })).toEqual([
      '--onnx=m.onnx',
      '--saveEngine=m.engine',
      '--int8',
      '--fp16',
    ]);
    expect(
      trtexecArgs('m.onnx', 'm.engine', {
        precision: 'fp16',
        shapes: { min: 'x:1x3x48x160', opt: 'x:1x3x48x320', max: 'x:8x3x48x960' },
      }),
    ).toEqual([
      '--onnx=m.onnx',
      '--saveEngine=m.engine',
      '--fp16',
      '--minShapes=x:1x3x48x160',
      '--optShapes=x:1x3x48x320',
      '--maxShapes=x:8x3x48x960',
    ]);
    expect(trtexecArgs('m.onnx', 'm.engine', { precision: 'fp32' })).toEqual([
      '--onnx=m.onnx',
      '--saveEngine=m.engine',
    ]);
  });

  it.skipIf(process.platform === 'win32')(
    'without trtexec: ENVIRONMENT, and the hint gives the command to run on the Jetson',
    async () => {
      if (await findTool('trtexec')) return; // this machine has TensorRT: nothing to check here
      const onnx = path.join(dir, 'model.onnx');
      await writeFile(onnx, 'x');
      const err = await buildTensorRtEngine(onnx, path.join(dir, 'model.engine'), {
        precision: 'int8',
      }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'ENVIRONMENT' });
      const hint = (err as { hint: string }).hint;
      expect(hint).toContain('trtexec --onnx=model.onnx --saveEngine=model.engine --int8');
      expect(hint).toMatch(/Jetson/);
      expect(hint).toMatch(/Q\/DQ/);
    },
  );

  it('a missing ONNX file is NOT_FOUND', async () => {
    await expect(
      buildTensorRtEngine(path.join(dir, 'nope.onnx'), path.join(dir, 'e.engine'), { precision: 'fp16' }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  /** A stand-in trtexec that replays a recorded log, records its arguments and writes an engine on success. */
  async function fakeTrtexec(bin: string, log: string, exitCode: number): Promise<void> {
    const script = [
      '#!/bin/sh',
      `printf '%s\\n' "$@" > "${path.join(bin, 'args.txt')}"`,
      exitCode === 0
        ? 'for a in "$@"; do case "$a" in --saveEngine=*) printf engine > "${a#--saveEngine=}";; esac; done'
        : '',
      `cat "${path.join(FIXTURES, log)}"`,
      `exit ${exitCode}`,
    ].join('\n');
    await writeFile(path.join(bin, 'trtexec'), script);
    await chmod(path.join(bin, 'trtexec'), 0o755);
  }

  it.skipIf(process.platform === 'win32')(
    'runs trtexec, streams its lines and parses a successful build',
    async () => {
      const bin = await mkdtemp(path.join(dir, 'bin-ok-'));
      await fakeTrtexec(bin, 'trt-8.5.2-rtx3090-fp16-pass.log', 0);
      const onnx = path.join(dir, 'ok.onnx');
      await writeFile(onnx, 'x');
      const engine = path.join(dir, 'ok.engine');
      const lines: string[] = [];
      const r = await buildTensorRtEngine(onnx, engine, {
        precision: 'int8',
        extraDirs: [bin],
        shapes: { min: 'x:1x3x48x160', opt: 'x:1x3x48x320', max: 'x:4x3x48x640' },
        onLine: (l) => lines.push(l),
      });
      expect(r.ok).toBe(true);
      expect(r.exitCode).toBe(0);
      expect(r.toolPath).toBe(path.join(bin, 'trtexec'));
      expect(r.trtVersion).toBe('8.5.2');
      expect(r.latency?.median).toBe(9.76929);
      expect(await readFile(engine, 'utf8')).toBe('engine');
      expect(lines.some((l) => l.includes('=== Performance summary ==='))).toBe(true);
      const args = (await readFile(path.join(bin, 'args.txt'), 'utf8')).trim().split('\n');
      expect(args).toEqual([
        `--onnx=${onnx}`,
        `--saveEngine=${engine}`,
        '--int8',
        '--fp16',
        '--minShapes=x:1x3x48x160',
        '--optShapes=x:1x3x48x320',
        '--maxShapes=x:4x3x48x640',
      ]);
    },
  );

  it.skipIf(process.platform === 'win32')(
    'a failed build returns ok:false with the parser errors',
    async () => {
      const bin = await mkdtemp(path.join(dir, 'bin-fail-'));
      await fakeTrtexec(bin, 'trt-8.0.3-unsupported-op-round.excerpt.log', 1);
      const onnx = path.join(dir, 'fail.onnx');
      await writeFile(onnx, 'x');
      const r = await buildTensorRtEngine(onnx, path.join(dir, 'fail.engine'), {
        precision: 'fp16',
        extraDirs: [bin],
      });
      expect(r.ok).toBe(false);
      expect(r.exitCode).toBe(1);
      expect(r.errors[0]).toContain('Plugin not found');
    },
  );
});
