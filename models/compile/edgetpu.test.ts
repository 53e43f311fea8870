import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileForEdgeTpu, edgeTpuCompilerArgs, parseEdgeTpuCompilerOutput } from './edgetpu.js';
import { findTool } from './tools.js';

const FIXTURES = path.join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'toolchains', 'edgetpu');
const fixture = (name: string): Promise<string> => readFile(path.join(FIXTURES, name), 'utf8');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'edgetpu-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('parseEdgeTpuCompilerOutput on recorded compiler output', () => {
  it('v16 stdout, fully mapped, parameters partly streamed off-chip', async () => {
    const r = parseEdgeTpuCompilerOutput(await fixture('v16-fully-mapped-offchip.stdout.txt'));
    expect(r).toMatchObject({
      compilerVersion: '16.0.384591198',
      ok: true,
      compileTimeMs: 542,
      inputModel: 'quantized_model.tflite',
      outputModel: 'quantized_model_edgetpu.tflite',
      operationLog: 'quantized_model_edgetpu.log',
      onChipMemoryBytes: Math.round(604.5 * 1024),
      onChipRemainingBytes: Math.round(511.5 * 1024),
      offChipMemoryBytes: Math.round(3.45 * 1024 * 1024),
      subgraphs: 1,
      totalOps: 50,
      opsOnTpu: 50,
      opsOnCpu: 0,
      errors: [],
    });
    expect(r.ops).toEqual([]);
  });

  it('v16 stdout, partially mapped: counts from the summary', async () => {
    const r = parseEdgeTpuCompilerOutput(await fixture('v16-partial.stdout.txt'));
    expect(r.ok).toBe(true);
    expect(r.opsOnTpu).toBe(5);
    expect(r.opsOnCpu).toBe(6);
    expect(r.totalOps).toBe(11);
    expect(r.offChipMemoryBytes).toBe(0);
    expect(r.warnings[0]).toMatch(/not all operations/i);
  });

  it('-s operation table (stdout): per-operator status, mapped or not', async () => {
    const r = parseEdgeTpuCompilerOutput(await fixture('show-operations-table.stdout-tail.txt'));
    expect(r.ok).toBe(true);
    expect(r.opsOnTpu).toBe(70);
    expect(r.opsOnCpu).toBe(2);
    expect(r.ops).toHaveLength(9);
    expect(r.ops.filter((o) => !o.mapped)).toEqual([
      {
        op: 'QUANTIZE',
        count: 1,
        mapped: false,
        reason: 'Operation is otherwise supported, but not mapped due to some unspecified limitation',
      },
      {
        op: 'DEQUANTIZE',
        count: 1,
        mapped: false,
        reason: 'Operation is working on an unsupported data type',
      },
    ]);
    expect(r.ops.filter((o) => o.mapped).reduce((a, o) => a + o.count, 0)).toBe(70);
  });

  it('operation .log files of compilers 2.1 to 16: counts derived from the table', async () => {
    const full = parseEdgeTpuCompilerOutput(await fixture('v15-fully-mapped.log'));
    expect(full).toMatchObject({ compilerVersion: '15.0.340273435', ok: true, opsOnTpu: 3, opsOnCpu: 0 });
    expect(full.ops).toEqual([
      { op: 'RESHAPE', count: 1, mapped: true },
      { op: 'FULLY_CONNECTED', count: 2, mapped: true },
    ]);

    const effdet = parseEdgeTpuCompilerOutput(await fixture('v16-efficientdet-dequantize-on-cpu.log'));
    expect(effdet.opsOnTpu).toBe(510);
    expect(effdet.opsOnCpu).toBe(3);
    expect(effdet.ops.find((o) => o.op === 'DEQUANTIZE')).toMatchObject({ mapped: false, count: 3 });

    const yolo = parseEdgeTpuCompilerOutput(await fixture('v14-tiny-yolo-partitioned.log'));
    expect(yolo.compilerVersion).toBe('14.1.317412892');
    // One compiler partition: supported ops after the first unsupported one stay on the CPU.
    expect(yolo.ops.filter((o) => o.reason === 'More than one subgraph is not supported')).toEqual([
      { op: 'CONCATENATION', count: 1, mapped: false, reason: 'More than one subgraph is not supported' },
      { op: 'CONV_2D', count: 2, mapped: false, reason: 'More than one subgraph is not supported' },
      { op: 'QUANTIZE', count: 1, mapped: false, reason: 'More than one subgraph is not supported' },
    ]);
    expect(yolo.opsOnTpu).toBe(19);

    const floatModel = parseEdgeTpuCompilerOutput(await fixture('v16-float-model-nothing-mapped.log'));
    expect(floatModel.opsOnTpu).toBe(0);
    expect(floatModel.ops.every((o) => o.reason === 'Operation is working on an unsupported data type')).toBe(
      true,
    );

    const old = parseEdgeTpuCompilerOutput(await fixture('v2.1-resnet-quantize-dequantize-on-cpu.log'));
    expect(old).toMatchObject({ compilerVersion: '2.1.302470888', opsOnTpu: 75, opsOnCpu: 2 });
  });

  it('a failed compile: ok:false with the compiler errors', async () => {
    const r = parseEdgeTpuCompilerOutput(await fixture('v16-failed-large-activations.stdout.txt'));
    expect(r.ok).toBe(false);
    expect(r.compilerVersion).toBe('16.0.384591198');
    expect(r.errors).toContain(
      'Compilation failed: Compilation failed due to large activation tensors in model.',
    );
    expect(r.errors).toContain('Restored original execution plan after delegate application failure.');
  });

  it('garbage: ok:false with an error, never a throw', () => {
    for (const text of [
      '',
      'random words\nOperator Count',
      '\u0000\u00ff',
      'Mapped to Edge TPU'.repeat(1000),
    ]) {
      const r = parseEdgeTpuCompilerOutput(text);
      expect(r.ok).toBe(false);
      expect(r.errors.length).toBeGreaterThan(0);
    }
    expect(parseEdgeTpuCompilerOutput(null as unknown as string).ok).toBe(false);
  });
});

describe('compileForEdgeTpu', () => {
  /** A file with the TFLite FlatBuffer identifier ("TFL3" at offset 4). */
  async function tfliteFile(name: string): Promise<string> {
    const p = path.join(dir, name);
    await writeFile(p, Buffer.from([0x1c, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33, 0, 0, 0, 0]));
    return p;
  }

  it('compiler arguments', () => {
    expect(edgeTpuCompilerArgs('m.tflite', 'out')).toEqual(['-s', '-o', 'out', 'm.tflite']);
    expect(edgeTpuCompilerArgs('m.tflite', 'out', { minRuntimeVersion: 13, timeoutS: 600 })).toEqual([
      '-s',
      '-o',
      'out',
      '-m',
      '13',
      '-t',
      '600',
      'm.tflite',
    ]);
  });

  it('refuses a file that is not a TFLite model (an ONNX model, say)', async () => {
    const onnx = path.join(dir, 'model.onnx');
    await writeFile(onnx, Buffer.from([0x08, 0x08, 0x12, 0x00, 0, 0, 0, 0]));
    await expect(compileForEdgeTpu(onnx, dir)).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await expect(compileForEdgeTpu(path.join(dir, 'missing.tflite'), dir)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('without edgetpu_compiler: ENVIRONMENT, saying where it runs and how to convert first', async () => {
    if (await findTool('edgetpu_compiler')) return; // installed here: nothing to check
    const err = await compileForEdgeTpu(await tfliteFile('m.tflite'), dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENVIRONMENT' });
    const hint = (err as { hint: string }).hint;
    expect(hint).toMatch(/x86-64 Debian\/Ubuntu/);
    expect(hint).toMatch(/a static INT8 build for coral-edgetpu exports one \(model\.tflite/);
    expect(hint).toMatch(/onnx2tf/);
    expect(hint).toContain('edgetpu_compiler -s -o');
  });

  it.skipIf(process.platform === 'win32')(
    'runs the compiler and reads the operation log when stdout has no table',
    async () => {
      const bin = await mkdtemp(path.join(dir, 'bin-'));
      const out = path.join(dir, 'out');
      await mkdir(out, { recursive: true });
      // A stand-in compiler: replays a recorded stdout, writes the compiled model and a recorded operation log.
      const script = [
        '#!/bin/sh',
        `printf '%s\\n' "$@" > "${path.join(bin, 'args.txt')}"`,
        `printf compiled > "${path.join(out, 'net_edgetpu.tflite')}"`,
        `cp "${path.join(FIXTURES, 'v16-efficientdet-dequantize-on-cpu.log')}" "${path.join(out, 'net_edgetpu.log')}"`,
        `cat "${path.join(FIXTURES, 'v16-partial.stdout.txt')}"`,
        'exit 0',
      ].join('\n');
      await writeFile(path.join(bin, 'edgetpu_compiler'), script);
      await chmod(path.join(bin, 'edgetpu_compiler'), 0o755);
      const model = await tfliteFile('net.tflite');
      const lines: string[] = [];
      const r = await compileForEdgeTpu(model, out, { extraDirs: [bin], onLine: (l) => lines.push(l) });
      expect(r.ok).toBe(true);
      expect(r.outputPath).toBe(path.join(out, 'net_edgetpu.tflite'));
      expect(r.opsOnTpu).toBe(5);
      expect(r.ops.find((o) => o.op === 'DEQUANTIZE')).toMatchObject({ mapped: false });
      expect(lines).toContain('Compilation succeeded!');
      expect((await readFile(path.join(bin, 'args.txt'), 'utf8')).trim().split('\n')).toEqual([
        '-s',
        '-o',
        out,
        model,
      ]);
    },
  );

  it.skipIf(process.platform === 'win32')('a failing compiler gives ok:false with its errors', async () => {
    const bin = await mkdtemp(path.join(dir, 'bin-fail-'));
    await writeFile(
      path.join(bin, 'edgetpu_compiler'),
      `#!/bin/sh\ncat "${path.join(FIXTURES, 'v16-failed-large-activations.stdout.txt')}"\nexit 1\n`,
    );
    await chmod(path.join(bin, 'edgetpu_compiler'), 0o755);
    const r = await compileForEdgeTpu(await tfliteFile('big.tflite'), dir, { extraDirs: [bin] });
    expect(r.ok).toBe(false);
    expect(r.exitCode).toBe(1);
    expect(r.errors.some((e) => e.includes('large activation tensors'))).toBe(true);
  });
});
