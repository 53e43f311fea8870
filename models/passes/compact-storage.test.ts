import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomFloats } from '../../test/fixtures/models/synthetic.js';
import { compileForCpu, hostCpuArch } from '../compile/cpu.js';
import { attr, graph, model, node, tensor, valueInfo } from '../onnx/builder.js';
import { encodeModel, readModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import { onnx } from '../onnx/schema.js';
import { recompactWeights } from './compact-storage.js';
import { toFloat16Array } from './fp16.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compact-storage-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Two convolutions whose weights are stored the way an INT8 build stores layers it keeps float: conv1's as int8
 * per output channel behind Cast + Mul (scales [16,1,1,1]), conv2's as float16 behind a Cast.
 */
function compactModel(): onnx.ModelProto {
  const q = Int8Array.from(randomFloats(16 * 8 * 3 * 3, 21, 127), (v) => Math.round(v));
  const scales = Float32Array.from(randomFloats(16, 22, 0.01), (v) => Math.abs(v) + 1e-3);
  const half = toFloat16Array(randomFloats(16 * 16, 23, 0.3)).bits;
  const toFloat = { to: attr.int(onnx.TensorProto.DataType.FLOAT) };
  return model({
    opset: 14,
    graph: graph({
      name: 'compact',
      nodes: [
        node('Cast', ['W1_int8'], ['W1_f'], { name: 'W1_cast', attributes: toFloat }),
        node('Mul', ['W1_f', 'W1_scale'], ['W1'], { name: 'W1_mul' }),
        node('Cast', ['W2_float16'], ['W2'], { name: 'W2_cast', attributes: toFloat }),
        node('Conv', ['x', 'W1', 'B1'], ['c1'], {
          name: 'conv1',
          attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
        }),
        node('Relu', ['c1'], ['r1'], { name: 'relu1' }),
        node('Conv', ['r1', 'W2'], ['y'], { name: 'conv2', attributes: { kernel_shape: attr.ints([1, 1]) } }),
      ],
      inputs: [valueInfo('x', 'float32', [1, 8, 12, 12])],
      outputs: [valueInfo('y', 'float32', [1, 16, 12, 12])],
      initializers: [
        tensor('W1_int8', 'int8', [16, 8, 3, 3], q),
        tensor('W1_scale', 'float32', [16, 1, 1, 1], scales),
        tensor('B1', 'float32', [16], randomFloats(16, 24, 0.1)),
        tensor('W2_float16', 'float16', [16, 16, 1, 1], half),
      ],
    }),
  });
}

async function runOnce(file: string, level: 'disabled' | 'basic', x: ort.Tensor): Promise<Float32Array> {
  const s = await createSession(file, { graphOptimizationLevel: level });
  try {
    return (await s.run({ x }))[s.outputNames[0]!]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe('compact weight storage in optimized models', () => {
  it("onnxruntime's optimized file gets the int8 and float16 storage back, and computes bit for bit the same", async () => {
    const src = path.join(dir, 'src.onnx');
    await writeFile(src, encodeModel(compactModel()));
    const host = hostCpuArch() ?? 'x86_64';
    const folded = path.join(dir, 'folded.onnx');
    const compact = path.join(dir, 'compact.onnx');
    const plain = await compileForCpu(src, folded, { arch: host, compactWeights: false });
    const r = await compileForCpu(src, compact, { arch: host });

    // Without it, onnxruntime saves both weights as float32 and the file needs no optimization at load.
    expect(plain.compacted).toMatchObject({ int8: 0, float16: 0 });
    expect(plain.loadLevel).toBe('disabled');
    expect(r.compacted).toMatchObject({ int8: 1, float16: 1 });
    expect(r.compacted.bytesAfter).toBeLessThan(r.compacted.bytesBefore / 2);
    expect(r.loadLevel).toBe('basic');
    expect(r.notes.join(' ')).toMatch(/graphOptimizationLevel "basic"/);
    expect((await stat(compact)).size).toBeLessThan((await stat(folded)).size / 2);
    // onnxruntime still fused what it fuses; the compact file differs only by the restoring Cast/Mul nodes.
    expect(r.opCounts).toEqual(plain.opCounts);
    const stored = (await readModel(compact)).proto.graph!.initializer!.map((t) => t.dataType);
    expect(stored).toContain(onnx.TensorProto.DataType.INT8);
    expect(stored).toContain(onnx.TensorProto.DataType.FLOAT16);

    const x = new ort.Tensor('float32', randomFloats(8 * 144, 25, 1), [1, 8, 12, 12]);
    const want = await runOnce(folded, 'disabled', x);
    const got = await runOnce(compact, 'basic', x);
    expect(got.length).toBe(want.length);
    expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
  });

  it('leaves float32 tensors that match no compact pattern of the source as they are', () => {
    const source = compactModel();
    const optimized = onnx.ModelProto.create({
      ...compactModel(),
      graph: graph({
        name: 'opt',
        nodes: [
          node('Conv', ['x', 'W'], ['y'], { name: 'c', attributes: { kernel_shape: attr.ints([1, 1]) } }),
        ],
        inputs: [valueInfo('x', 'float32', [1, 16, 4, 4])],
        outputs: [valueInfo('y', 'float32', [1, 16, 4, 4])],
        initializers: [tensor('W', 'float32', [16, 16, 1, 1], randomFloats(256, 26, 0.3))],
      }),
    });
    const r = recompactWeights(optimized, source);
    expect(r.tensors).toEqual([]);
    expect(r.bytesAfter).toBe(r.bytesBefore);
    expect(optimized.graph!.initializer!.map((t) => t.name)).toEqual(['W']);
    expect(optimized.graph!.node!.map((n) => n.opType)).toEqual(['Conv']);
  });
});
