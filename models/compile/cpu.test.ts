import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomFloats, tinyConvModel } from '../../test/fixtures/models/synthetic.js';
import { encodeModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import { REAL_MODELS } from '../onnx/testing.js';
import { compileForCpu, hostCpuArch } from './cpu.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cpu-compile-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(model: string, x: ort.Tensor): Promise<Float32Array> {
  const session = await createSession(model, { graphOptimizationLevel: 'disabled' });
  try {
    const out = await session.run({ [session.inputNames[0]!]: x });
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const host = hostCpuArch() ?? 'x86_64';
const other = host === 'x86_64' ? 'arm64' : 'x86_64';

describe('compileForCpu', () => {
  it('PP-OCR cls, level extended: fewer nodes, fused convolutions, loads as written, same outputs', async () => {
    const out = path.join(dir, 'cls.opt.onnx');
    const r = await compileForCpu(REAL_MODELS.cls, out, { arch: other });
    expect(r.outputPath).toBe(out);
    expect(r.level).toBe('extended');
    expect(r.arch).toBe(other);
    expect(r.ortVersion).toMatch(/^\d+\.\d+\.\d+$/);
    expect(r.nodesAfter).toBeLessThan(r.nodesBefore);
    expect(r.opCounts['com.microsoft::FusedConv']).toBeGreaterThan(0);
    expect(r.opCounts['Constant']).toBeUndefined();
    // 'extended' stays portable: no layout-specific (NCHWc) operators.
    expect(Object.keys(r.opCounts).some((op) => op.startsWith('com.microsoft.nchwc::'))).toBe(false);
    expect(r.notes.join(' ')).toMatch(/contrib operators/);

    const x = new ort.Tensor('float32', randomFloats(3 * 48 * 192, 11, 1), [1, 3, 48, 192]);
    const want = await run(REAL_MODELS.cls, x);
    const got = await run(out, x);
    expect(got.length).toBe(want.length);
    expect(maxAbsDiff(got, want)).toBeLessThan(1e-4);
    // No temporary files left behind.
    expect((await readdir(dir)).filter((f) => f.includes('.tmp.'))).toEqual([]);
  });

  it('level all on this machine: NCHWc layout operators, noted as tied to this CPU', async () => {
    const out = path.join(dir, 'cls.all.onnx');
    const r = await compileForCpu(REAL_MODELS.cls, out, { arch: host, level: 'all' });
    expect(r.level).toBe('all');
    if (host === 'x86_64') {
      expect(Object.keys(r.opCounts).some((op) => op.startsWith('com.microsoft.nchwc::'))).toBe(true);
      expect(r.notes.join(' ')).toMatch(/same instruction set/);
    }
    const x = new ort.Tensor('float32', randomFloats(3 * 48 * 192, 12, 1), [1, 3, 48, 192]);
    expect(maxAbsDiff(await run(out, x), await run(REAL_MODELS.cls, x))).toBeLessThan(1e-4);
  });

  it('level all for another architecture is refused', async () => {
    await expect(
      compileForCpu(REAL_MODELS.cls, path.join(dir, 'x.onnx'), { arch: other, level: 'all' }),
    ).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('a synthetic Conv + Relu model: the pair fuses and the output still matches', async () => {
    const src = path.join(dir, 'tiny.onnx');
    await writeFile(src, encodeModel(tinyConvModel()));
    const out = path.join(dir, 'tiny.opt.onnx');
    const r = await compileForCpu(src, out, { arch: host });
    expect(r.nodesBefore).toBe(4);
    expect(r.nodesAfter).toBeLessThan(4);
    expect(r.opCounts['com.microsoft::FusedConv']).toBe(1);
    const x = new ort.Tensor('float32', randomFloats(2 * 3 * 8 * 8, 13, 1), [2, 3, 8, 8]);
    expect(maxAbsDiff(await run(out, x), await run(src, x))).toBeLessThan(1e-5);
  });

  it('bad input: missing file, not a model, same path, cancelled', async () => {
    await expect(
      compileForCpu(path.join(dir, 'missing.onnx'), path.join(dir, 'o.onnx'), { arch: host }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const junk = path.join(dir, 'junk.onnx');
    await writeFile(junk, 'this is not an onnx model\n');
    await expect(compileForCpu(junk, path.join(dir, 'junk.opt.onnx'), { arch: host })).rejects.toMatchObject({
      code: 'MODEL_MALFORMED',
    });
    await expect(compileForCpu(REAL_MODELS.cls, REAL_MODELS.cls, { arch: host })).rejects.toMatchObject({
      code: 'BAD_INPUT',
    });
    const ac = new AbortController();
    ac.abort();
    const out = path.join(dir, 'cancelled.onnx');
    await expect(
      compileForCpu(REAL_MODELS.cls, out, { arch: host, signal: ac.signal }),
    ).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    expect((await readdir(dir)).filter((f) => f.startsWith('cancelled') || f.includes('.tmp.'))).toEqual([]);
  });
});
