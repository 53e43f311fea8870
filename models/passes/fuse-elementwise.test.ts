import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { attr, graph, model, node, tensor, valueInfo } from '../onnx/builder.js';
import { encodeModel, readModel } from '../onnx/io.js';
import { REAL_MODELS } from '../onnx/testing.js';
import { onnx } from '../onnx/schema.js';
import { randomFloats } from '../../test/fixtures/models/synthetic.js';
import { cosine } from '../quantize/qparams.js';
import { prepareFp32 } from '../build/prepare.js';
import { fuseElementwise } from './fuse-elementwise.js';

async function run(m: onnx.IModelProto, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: 'disabled' });
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, dims) });
  await s.release();
  return out[s.outputNames[0]!]!.data as Float32Array;
}

/**
 * The exporter pattern: Conv → Mul(scalar) → Add(per-channel) → x·Clip(x+3,0,6)/6 → Mul(scalar) → Add(scalar) →
 * a padded 3×3 Conv and a 1×1 Conv.
 */
function exporterPattern(): onnx.ModelProto {
  const c = 4;
  return model({
    opset: 14,
    graph: graph({
      name: 'pattern',
      nodes: [
        node('Conv', ['x', 'W1', 'B1'], ['c1'], {
          name: 'conv1',
          attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
        }),
        node('Mul', ['s1', 'c1'], ['m1'], { name: 'mul1' }),
        node('Add', ['m1', 'b1'], ['a1'], { name: 'add1' }),
        node('Add', ['a1', 'three'], ['p3'], { name: 'hs_add' }),
        node('Clip', ['p3', 'zero', 'six'], ['cl'], { name: 'hs_clip' }),
        node('Mul', ['a1', 'cl'], ['hm'], { name: 'hs_mul' }),
        node('Div', ['hm', 'six'], ['hs'], { name: 'hs_div' }),
        node('Mul', ['s2', 'hs'], ['m2'], { name: 'mul2' }),
        node('Add', ['m2', 'b2'], ['a2'], { name: 'add2' }),
        node('Conv', ['a2', 'W2', 'B2'], ['c2'], {
          name: 'conv_pad',
          attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]), group: attr.int(c) },
        }),
        node('Mul', ['s3', 'c2'], ['m3'], { name: 'mul3' }),
        node('Add', ['m3', 'b3'], ['a3'], { name: 'add3' }),
        node('Conv', ['a3', 'W3'], ['y'], {
          name: 'conv_1x1',
          attributes: { kernel_shape: attr.ints([1, 1]) },
        }),
      ],
      inputs: [valueInfo('x', 'float32', [1, 3, 8, 8])],
      outputs: [valueInfo('y', 'float32', [1, 2, 8, 8])],
      initializers: [
        tensor('W1', 'float32', [c, 3, 3, 3], randomFloats(c * 27, 1, 0.5)),
        tensor('B1', 'float32', [c], randomFloats(c, 2)),
        tensor('s1', 'float32', [1], [1.7]),
        tensor('b1', 'float32', [1, c, 1, 1], randomFloats(c, 3)),
        tensor('three', 'float32', [], [3]),
        tensor('zero', 'float32', [], [0]),
        tensor('six', 'float32', [], [6]),
        tensor('s2', 'float32', [1], [0.8]),
        tensor('b2', 'float32', [1], [0.3]),
        tensor('W2', 'float32', [c, 1, 3, 3], randomFloats(c * 9, 4, 0.5)),
        tensor('B2', 'float32', [c], randomFloats(c, 5)),
        tensor('s3', 'float32', [1], [1.2]),
        tensor('b3', 'float32', [1], [-0.4]),
        tensor('W3', 'float32', [2, c, 1, 1], randomFloats(2 * c, 6, 0.5)),
      ],
    }),
  });
}

describe('elementwise fusion', () => {
  it('folds the exporter pattern exactly and leaves fewer nodes', async () => {
    const m = exporterPattern();
    const { model: fused, report } = fuseElementwise(m);
    expect(report.foldedIntoConvOutput).toBe(4); // mul1, add1, mul3, add3
    expect(report.hardSwish).toBe(1);
    // mul2 folds into the padded conv's weights; add2 stays (padding), shifted to before the conv.
    expect(report.foldedIntoConvInput).toBe(1);
    const ops = fused.graph!.node!.map((n) => n.opType);
    expect(ops).toEqual(['Conv', 'HardSwish', 'Add', 'Conv', 'Conv']);
    const x = randomFloats(3 * 64, 9, 2);
    const a = await run(m, x, [1, 3, 8, 8]);
    const b = await run(fused, x, [1, 3, 8, 8]);
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('leaves a value with another consumer alone', () => {
    const m = exporterPattern();
    // c1 is also a graph output now: the Mul after it must not be folded into the conv.
    m.graph!.output!.push(valueInfo('c1', 'float32', [1, 4, 8, 8]));
    const { report } = fuseElementwise(m);
    expect(report.foldedIntoConvOutput).toBe(2);
  });

  it('the PP-OCRv4 detector: 328 → 167 nodes after all FP32 preparations (its ConvTranspose head too), outputs unchanged', async () => {
    const src = await readModel(REAL_MODELS.det);
    const prep = prepareFp32(src.proto);
    expect(prep.opset).toMatchObject({ from: 11, to: 14 });
    expect(prep.fused.nodesBefore).toBe(328);
    expect(prep.fused.nodesAfter).toBe(167);
    const x = Float32Array.from({ length: 3 * 96 * 320 }, (_, i) => Math.sin(i * 0.01));
    const a = await run(src.proto, x, [1, 3, 96, 320]);
    const b = await run(prep.model, x, [1, 3, 96, 320]);
    expect(cosine(a, b)).toBeGreaterThan(0.99999);
  });
});
