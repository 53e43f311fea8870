import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { randomFloats } from '../../test/fixtures/models/synthetic.js';
import { prepareFp32 } from '../build/prepare.js';
import { attr, graph, model, node, tensor, valueInfo } from '../onnx/builder.js';
import { encodeModel, readModel } from '../onnx/io.js';
import type { onnx } from '../onnx/schema.js';
import { REAL_MODELS } from '../onnx/testing.js';
import { affineToBatchNorm } from './affine-batchnorm.js';

async function run(m: onnx.IModelProto, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: 'disabled' });
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, dims) });
  await s.release();
  return out[s.outputNames[0]!]!.data as Float32Array;
}

const maxDiff = (a: Float32Array, b: Float32Array): number =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/**
 * Conv → HardSwish → Mul(2.5) → Add(-0.25) → padded depthwise Conv, whose output gets Add(0.5) after a Relu; a
 * quantized Add (DequantizeLinear → Add → QuantizeLinear) and a MatMul's output + scalar, whose channels no
 * convolution gives.
 */
function affineNet(): onnx.ModelProto {
  const c = 4;
  return model({
    opset: 14,
    graph: graph({
      name: 'affine',
      nodes: [
        node('Conv', ['x', 'W1', 'B1'], ['c1'], {
          name: 'conv1',
          attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
        }),
        node('HardSwish', ['c1'], ['h1'], { name: 'hs' }),
        node('Mul', ['h1', 'a'], ['m1'], { name: 'lab_scale' }),
        node('Add', ['m1', 'b'], ['a1'], { name: 'lab_bias' }),
        node('Conv', ['a1', 'W2', 'B2'], ['c2'], {
          name: 'dw',
          attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]), group: attr.int(c) },
        }),
        node('Relu', ['c2'], ['r2'], { name: 'relu' }),
        node('Add', ['r2', 'half'], ['y'], { name: 'tail_bias' }),
        // Quantized: onnxruntime runs it as QLinearAdd; it stays.
        node('QuantizeLinear', ['c2', 'qs', 'qz'], ['c2q']),
        node('DequantizeLinear', ['c2q', 'qs', 'qz'], ['c2d']),
        node('Add', ['c2d', 'half'], ['qa'], { name: 'int8_add' }),
        node('QuantizeLinear', ['qa', 'qs', 'qz'], ['qaq']),
        node('DequantizeLinear', ['qaq', 'qs', 'qz'], ['z']),
        // No convolution before it: its channel count is unknown here; it stays.
        node('MatMul', ['v', 'M'], ['mm'], { name: 'matmul' }),
        node('Add', ['mm', 'half'], ['w'], { name: 'mm_bias' }),
      ],
      inputs: [valueInfo('x', 'float32', [1, 3, 8, 8]), valueInfo('v', 'float32', [2, 3])],
      outputs: [
        valueInfo('y', 'float32', [1, c, 8, 8]),
        valueInfo('z', 'float32', [1, c, 8, 8]),
        valueInfo('w', 'float32', [2, 2]),
      ],
      initializers: [
        tensor('W1', 'float32', [c, 3, 3, 3], randomFloats(c * 27, 1, 0.5)),
        tensor('B1', 'float32', [c], randomFloats(c, 2)),
        tensor('a', 'float32', [1], [2.5]),
        tensor('b', 'float32', [], [-0.25]),
        tensor('W2', 'float32', [c, 1, 3, 3], randomFloats(c * 9, 3, 0.5)),
        tensor('B2', 'float32', [c], randomFloats(c, 4)),
        tensor('half', 'float32', [], [0.5]),
        tensor('qs', 'float32', [], [0.05]),
        tensor('qz', 'uint8', [], [128]),
        tensor('M', 'float32', [3, 2], randomFloats(6, 5)),
      ],
    }),
  });
}

describe('scalar affine → BatchNormalization (onnxruntime NCHWc layout)', () => {
  it('rewrites float scalar Mul/Add after convolutions exactly, and leaves quantized and unknown ones', async () => {
    const src = affineNet();
    const r = affineToBatchNorm(src);
    const ops = (r.model.graph?.node ?? []).map((n) => `${n.opType}:${n.name}`);
    // The Mul → Add pair became one normalization; the bias after the Relu another.
    expect(r.rewritten).toBe(2);
    expect(ops).not.toContain('Mul:lab_scale');
    expect(ops).not.toContain('Add:lab_bias');
    expect(ops).not.toContain('Add:tail_bias');
    expect(ops.filter((o) => o.startsWith('BatchNormalization'))).toHaveLength(2);
    expect(ops).toContain('Add:int8_add');
    expect(ops).toContain('Add:mm_bias');
    const bn = r.model.graph!.node!.find((n) => n.opType === 'BatchNormalization')!;
    expect(bn.input![0]).toBe('h1');
    expect(bn.output).toEqual(['a1']);
    // The scalars only the rewritten nodes read are gone; the one others still read stays.
    const inits = new Set((r.model.graph?.initializer ?? []).map((t) => t.name));
    expect(inits.has('a')).toBe(false);
    expect(inits.has('b')).toBe(false);
    expect(inits.has('half')).toBe(true);
    // The source is untouched.
    expect((src.graph?.node ?? []).some((n) => n.name === 'lab_scale')).toBe(true);

    const x = randomFloats(3 * 64, 11);
    const v = randomFloats(6, 12);
    const session = async (m: onnx.IModelProto) =>
      ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: 'all' });
    const [a, b] = [await session(src), await session(r.model)];
    const feeds = {
      x: new ort.Tensor('float32', x, [1, 3, 8, 8]),
      v: new ort.Tensor('float32', v, [2, 3]),
    };
    const [ra, rb] = [await a.run(feeds), await b.run(feeds)];
    for (const name of ['y', 'z', 'w'])
      expect(maxDiff(ra[name]!.data as Float32Array, rb[name]!.data as Float32Array)).toBeLessThan(1e-5);
    await a.release();
    await b.release();
  });

  it('the PP-OCRv4 detector computes the same and onnxruntime reorders its data less', async () => {
    const prepared = prepareFp32((await readModel(REAL_MODELS.det)).proto).model;
    const r = affineToBatchNorm(prepared);
    expect(r.rewritten).toBeGreaterThan(10);
    const dims = [1, 3, 96, 96];
    const x = randomFloats(3 * 96 * 96, 7);
    const [want, got] = [await run(prepared, x, dims), await run(r.model, x, dims)];
    expect(maxDiff(want, got)).toBeLessThan(1e-5);
    // What onnxruntime makes of each on this CPU: the layout reorders around the scalar ops are what this saves.
    const dir = mkdtempSync(join(tmpdir(), 'affine-bn-'));
    try {
      const reorders = async (m: onnx.IModelProto, file: string): Promise<number> => {
        const s = await ort.InferenceSession.create(encodeModel(m), {
          graphOptimizationLevel: 'all',
          optimizedModelFilePath: join(dir, file),
        });
        await s.release();
        const opt = await readModel(join(dir, file));
        return (opt.proto.graph?.node ?? []).filter((n) => /^Reorder(Input|Output)$/.test(n.opType ?? ''))
          .length;
      };
      const before = await reorders(prepared, 'before.onnx');
      const after = await reorders(r.model, 'after.onnx');
      if (before > 0) expect(after).toBeLessThan(before * 0.75);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
