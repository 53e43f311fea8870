// Full-integer TFLite export, checked by running the file in TensorFlow Lite's own interpreter (WebAssembly build)
// against the QDQ model in onnxruntime: the TFLite model must compute what the ONNX model it came from computes.
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { mulberry32 as rng } from '../../shared/rng.js';
import { modelInputs } from '../build/build.js';
import { prepareFp32 } from '../build/prepare.js';
import { openSampleSource } from '../data/dataset.js';
import { attr, graph, model, node, tensor, valueInfo } from '../onnx/builder.js';
import { inspectModel } from '../onnx/inspect.js';
import { encodeModel, readModel } from '../onnx/io.js';
import type { onnx } from '../onnx/schema.js';
import { REAL_MODELS } from '../onnx/testing.js';
import type { CalibrationSample, CalibrationSource } from '../quantize/calibrate.js';
import { cosine } from '../quantize/qparams.js';
import { quantizeStatic } from '../quantize/static.js';
import { tfliteAgreement } from './check.js';
import { nchwToNhwc, nhwcToNchw } from './layout.js';
import { exportTflite, TFLITE_INT8_OPS } from './export.js';
import { openTflite } from './runtime.js';

function floats(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

function memory(samples: CalibrationSample[]): CalibrationSource {
  return {
    count: samples.length,
    async *samples() {
      yield* samples;
    },
  };
}

function randomSamples(n: number, dims: number[], seed: number): CalibrationSample[] {
  const size = dims.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, (_, i) => ({
    id: `s${i}`,
    feeds: { x: { type: 'float32', dims, data: floats(size, seed + i) } },
  }));
}

/** Static INT8 as a full-integer (Edge TPU) build places it: uint8 activations, every exportable op. */
async function fullInteger(
  m: onnx.IModelProto,
  src: CalibrationSource,
  exclude: string[] = [],
): Promise<onnx.ModelProto> {
  const r = await quantizeStatic(m, src, {
    method: 'minmax',
    activationType: 'uint8',
    ops: TFLITE_INT8_OPS,
    floatDepthwise: false,
    minChannelLevels: 0,
    quantizeOutputs: true,
    exclude,
    evalSamples: 1,
  });
  return r.model;
}

async function runOnnx(m: onnx.IModelProto, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: 'disabled' });
  try {
    const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, dims) });
    return out[s.outputNames[0]!]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

/**
 * Conv 3×3 stride 2 padded on both sides (TFLite SAME pads the end only: an explicit PAD), Relu (fused),
 * depthwise 3×3, HardSwish, a squeeze-excitation (GlobalAveragePool → 1×1 Conv → Relu → 1×1 Conv → HardSigmoid
 * → Mul), a residual Add, MaxPool, nearest Resize ×2 and a Concat.
 */
function smallNet(): onnx.ModelProto {
  const conv = (
    name: string,
    x: string,
    w: string,
    b: string,
    y: string,
    a: Record<string, onnx.IAttributeProto>,
  ) => node('Conv', [x, w, b], [y], { name, attributes: a });
  return model({
    opset: 14,
    graph: graph({
      name: 'small',
      nodes: [
        conv('stem', 'x', 'W0', 'B0', 'c0', {
          kernel_shape: attr.ints([3, 3]),
          strides: attr.ints([2, 2]),
          pads: attr.ints([1, 1, 1, 1]),
        }),
        node('Relu', ['c0'], ['r0'], { name: 'relu0' }),
        conv('dw', 'r0', 'Wd', 'Bd', 'c1', {
          kernel_shape: attr.ints([3, 3]),
          pads: attr.ints([1, 1, 1, 1]),
          group: attr.int(8),
        }),
        node('HardSwish', ['c1'], ['h1'], { name: 'hswish' }),
        node('GlobalAveragePool', ['h1'], ['g'], { name: 'gap' }),
        conv('se1', 'g', 'Ws1', 'Bs1', 's1', { kernel_shape: attr.ints([1, 1]) }),
        node('Relu', ['s1'], ['s1r'], { name: 'se_relu' }),
        conv('se2', 's1r', 'Ws2', 'Bs2', 's2', { kernel_shape: attr.ints([1, 1]) }),
        node('HardSigmoid', ['s2'], ['gate'], {
          name: 'hsig',
          attributes: { alpha: attr.float(0.2), beta: attr.float(0.5) },
        }),
        node('Mul', ['h1', 'gate'], ['se'], { name: 'se_mul' }),
        node('Add', ['se', 'r0'], ['res'], { name: 'residual' }),
        node('MaxPool', ['res'], ['mp'], {
          name: 'pool',
          attributes: { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) },
        }),
        node('Resize', ['mp', '', 'scales'], ['up'], {
          name: 'up',
          attributes: {
            mode: attr.string('nearest'),
            coordinate_transformation_mode: attr.string('asymmetric'),
            nearest_mode: attr.string('floor'),
          },
        }),
        node('Concat', ['up', 'res'], ['y'], { name: 'cat', attributes: { axis: attr.int(1) } }),
      ],
      inputs: [valueInfo('x', 'float32', [1, 3, 16, 20])],
      outputs: [valueInfo('y', 'float32', [1, 16, 8, 10])],
      initializers: [
        tensor('W0', 'float32', [8, 3, 3, 3], floats(216, 1, 0.5)),
        tensor('B0', 'float32', [8], floats(8, 2, 0.2)),
        tensor('Wd', 'float32', [8, 1, 3, 3], floats(72, 3, 0.6)),
        tensor('Bd', 'float32', [8], floats(8, 4, 0.2)),
        tensor('Ws1', 'float32', [4, 8, 1, 1], floats(32, 5, 0.6)),
        tensor('Bs1', 'float32', [4], floats(4, 6, 0.1)),
        tensor('Ws2', 'float32', [8, 4, 1, 1], floats(32, 7, 0.6)),
        tensor('Bs2', 'float32', [8], floats(8, 8, 0.1)),
        tensor('scales', 'float32', [4], Float32Array.of(1, 1, 2, 2)),
      ],
    }),
  });
}

describe('TFLite export (full integer)', () => {
  it('computes in TensorFlow Lite what the QDQ model computes in onnxruntime, op for op', async () => {
    const dims = [1, 3, 16, 20];
    const f32 = smallNet();
    const q = await fullInteger(f32, memory(randomSamples(8, dims, 100)));
    const r = exportTflite(q, { inputShapes: { x: dims } });
    expect(new TextDecoder().decode(r.bytes.subarray(4, 8))).toBe('TFL3');
    // Both-sides padding became an explicit PAD; Relu fused, HardSigmoid and HardSwish lowered to MUL/ADD.
    expect(r.operators).toMatchObject({ QUANTIZE: 1, PAD: 1, CONV_2D: 3, DEPTHWISE_CONV_2D: 1, MEAN: 1 });
    expect(r.operators).toMatchObject({ MAX_POOL_2D: 1, RESIZE_NEAREST_NEIGHBOR: 1, CONCATENATION: 1 });
    expect(r.operators).toMatchObject({ DEQUANTIZE: 1 });
    expect(r.operators.RELU ?? 0).toBe(0);
    expect(r.inputs).toEqual([{ name: 'x', shape: [1, 16, 20, 3], onnxShape: dims, layout: 'NHWC' }]);
    expect(r.outputs[0]).toMatchObject({ name: 'y', shape: [1, 8, 10, 16], onnxShape: [1, 16, 8, 10] });

    const rt = await openTflite(r.bytes);
    try {
      expect(rt.inputs[0]).toMatchObject({ name: 'x', type: 'float32', shape: [1, 16, 20, 3] });
      for (const seed of [300, 301, 302]) {
        const x = floats(
          dims.reduce((a, b) => a * b, 1),
          seed,
        );
        const want = await runOnnx(q, x, dims);
        const got = nhwcToNchw(rt.run([nchwToNhwc(x, dims)])[0]!, [1, 16, 8, 10]);
        // The same int8 arithmetic: every value within one output step (rounding of rescales may differ).
        const step = (Math.max(...want) - Math.min(...want, 0)) / 255;
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - got[i]!));
        expect(worst).toBeLessThanOrEqual(step * 1.01);
        // ... and close to FP32.
        expect(cosine(await runOnnx(f32, x, dims), got)).toBeGreaterThan(0.98);
      }
    } finally {
      rt.close();
    }
  });

  it('exports a detector-style head: ConvTranspose, a Concat of differently scaled inputs, a dead channel', async () => {
    const dims = [1, 4, 6, 6];
    // 1×1 Conv whose first output channel has all-zero weights and a bias of 3 (a dead channel).
    const w1 = floats(32, 21, 0.6);
    w1.fill(0, 0, 4);
    const m = model({
      opset: 14,
      graph: graph({
        name: 'head',
        nodes: [
          node('Conv', ['x', 'W1', 'B1'], ['c1'], {
            name: 'conv1',
            attributes: { kernel_shape: attr.ints([1, 1]) },
          }),
          node('Relu', ['c1'], ['r1'], { name: 'relu1' }),
          node('ConvTranspose', ['r1', 'Wt', 'Bt'], ['t'], {
            name: 'up_conv',
            attributes: { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) },
          }),
          node('Relu', ['t'], ['tr'], { name: 'relu2' }),
          node('Resize', ['r1', '', 'scales'], ['rs'], {
            name: 'up',
            attributes: {
              mode: attr.string('nearest'),
              coordinate_transformation_mode: attr.string('asymmetric'),
              nearest_mode: attr.string('floor'),
            },
          }),
          node('Mul', ['rs', 'half'], ['rh'], { name: 'scale_branch' }),
          node('Concat', ['tr', 'rh'], ['cat'], { name: 'cat', attributes: { axis: attr.int(1) } }),
          node('Conv', ['cat', 'W2', 'B2'], ['c2'], {
            name: 'conv2',
            attributes: { kernel_shape: attr.ints([1, 1]) },
          }),
          node('Sigmoid', ['c2'], ['y'], { name: 'sigmoid' }),
        ],
        inputs: [valueInfo('x', 'float32', dims)],
        outputs: [valueInfo('y', 'float32', [1, 1, 12, 12])],
        initializers: [
          tensor('W1', 'float32', [8, 4, 1, 1], w1),
          tensor(
            'B1',
            'float32',
            [8],
            Float32Array.from({ length: 8 }, (_, i) => (i === 0 ? 3 : 0.1 * i)),
          ),
          tensor('Wt', 'float32', [8, 4, 2, 2], floats(128, 22, 0.5)),
          tensor('Bt', 'float32', [4], floats(4, 23, 0.2)),
          tensor('scales', 'float32', [4], Float32Array.of(1, 1, 2, 2)),
          tensor('half', 'float32', [], Float32Array.of(0.5)),
          tensor('W2', 'float32', [1, 12, 1, 1], floats(12, 24, 0.8)),
          tensor('B2', 'float32', [1], Float32Array.of(0.1)),
        ],
      }),
    });
    const q = await fullInteger(m, memory(randomSamples(8, dims, 400)));
    const r = exportTflite(q, { inputShapes: { x: dims } });
    expect(r.operators).toMatchObject({ TRANSPOSE_CONV: 1, CONCATENATION: 1, LOGISTIC: 1 });
    // The Concat's inputs come at other scales than its output: requantized first (the input QUANTIZE is one).
    expect(r.operators.QUANTIZE).toBeGreaterThanOrEqual(2);
    const rt = await openTflite(r.bytes);
    try {
      for (const seed of [500, 501]) {
        const x = floats(
          dims.reduce((a, b) => a * b, 1),
          seed,
        );
        const want = await runOnnx(q, x, dims);
        const got = nhwcToNchw(rt.run([nchwToNhwc(x, dims)])[0]!, [1, 1, 12, 12]);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(want[i]! - got[i]!));
        // Sigmoid probabilities: within a few of TFLite's 1/256 output steps of the QDQ model's.
        expect(worst).toBeLessThan(4 / 256);
        expect(cosine(await runOnnx(m, x, dims), got)).toBeGreaterThan(0.99);
      }
    } finally {
      rt.close();
    }
  });

  it('keeps the bias of a channel with vanishing weights (its weight scale would overflow an int32 bias)', async () => {
    const dims = [1, 4, 5, 5];
    const w = floats(24, 31, 0.6);
    // As BatchNormalization folding leaves dead channels: weights ~1e-34 with a bias of 3 (channel 0), ~1e-37 and no
    // bias (channel 4: its weight scale, ~1e-39, is not a normal float32).
    w.fill(1e-34, 0, 4);
    w.fill(-2e-37, 16, 20);
    const m = model({
      opset: 14,
      graph: graph({
        name: 'dead',
        nodes: [
          node('Conv', ['x', 'W', 'B'], ['y'], {
            name: 'conv',
            attributes: { kernel_shape: attr.ints([1, 1]) },
          }),
        ],
        inputs: [valueInfo('x', 'float32', dims)],
        outputs: [valueInfo('y', 'float32', [1, 6, 5, 5])],
        initializers: [
          tensor('W', 'float32', [6, 4, 1, 1], w),
          tensor('B', 'float32', [6], Float32Array.of(3, 0.5, -0.5, 0.2, 0, 1)),
        ],
      }),
    });
    const q = await fullInteger(m, memory(randomSamples(6, dims, 600)));
    const r = exportTflite(q, { inputShapes: { x: dims } });
    const rt = await openTflite(r.bytes);
    try {
      // Its weight scale (~1e-36) would be a requantization multiplier no integer kernel takes: XNNPACK refused
      // the tensor and TFLite ran the whole model in its reference kernels. Zeroed, the channel loads.
      expect(rt.messages.join('\n')).not.toMatch(/failed to (create|prepare)/);
      const x = floats(100, 601);
      const got = nhwcToNchw(rt.run([nchwToNhwc(x, dims)])[0]!, [1, 6, 5, 5]);
      // Channel 0 is its bias everywhere, as in FP32 (an overflowed int32 bias would make it anything).
      for (let i = 0; i < 25; i++) expect(got[i]).toBeCloseTo(3, 1);
      expect(cosine(await runOnnx(m, x, dims), got)).toBeGreaterThan(0.999);
    } finally {
      rt.close();
    }
  });

  it('exports the PP-OCR direction classifier whole, and it agrees with the FP32 model in TensorFlow Lite', async () => {
    const src = await readModel(REAL_MODELS.cls);
    const prep = prepareFp32(src.proto).model;
    const data = await openSampleSource('gen:ocr-lines:12', modelInputs(inspectModel(src)), {
      preset: 'ppocr-cls',
      limit: 12,
    });
    const samples: CalibrationSample[] = [];
    for await (const s of data.samples()) samples.push(s);
    const q = await fullInteger(prep, memory(samples.slice(0, 8)));
    const dims = [...samples[0]!.feeds.x!.dims];
    const r = exportTflite(q, { inputShapes: { x: dims } });
    // Every op is one TFLite runs in int8 (and the Edge TPU maps), from QUANTIZE to DEQUANTIZE.
    expect(Object.keys(r.operators).sort()).toEqual(
      [
        'ADD',
        'CONV_2D',
        'DEPTHWISE_CONV_2D',
        'DEQUANTIZE',
        'FULLY_CONNECTED',
        'MAX_POOL_2D',
        'MEAN',
        'MUL',
        'PAD',
        'QUANTIZE',
        'RESHAPE',
        'SOFTMAX',
      ].sort(),
    );
    expect(r.operators.CONV_2D! + r.operators.DEPTHWISE_CONV_2D!).toBe(53);
    // On lines calibration did not see: the class probabilities TensorFlow Lite computes match the source's.
    const held = samples.slice(8);
    const s = await ort.InferenceSession.create(REAL_MODELS.cls);
    const reference: Record<string, Float32Array>[] = [];
    for (const h of held) {
      const x = h.feeds.x!;
      const out = await s.run({ x: new ort.Tensor('float32', x.data as Float32Array, [...x.dims]) });
      reference.push({ [s.outputNames[0]!]: out[s.outputNames[0]!]!.data as Float32Array });
    }
    await s.release();
    const a = await tfliteAgreement(r.bytes, r, held, reference);
    expect(a.samples).toBe(4);
    expect(a.cosine).toBeGreaterThan(0.99);
  });

  it('names the node that keeps a model from being full integer', async () => {
    const dims = [1, 3, 16, 20];
    const m = smallNet();
    // Leave the depthwise convolution float: its input and output have no Q/DQ.
    const q = await fullInteger(m, memory(randomSamples(4, dims, 7)), ['dw']);
    const err = (() => {
      try {
        exportTflite(q, { inputShapes: { x: dims } });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('BAD_INPUT');
    expect((err as AppError).message).toMatch(/TFLite export: .* (dw|hswish)/);
    expect((err as AppError).hint).toMatch(/full-integer/);
  });

  it('splits a model it cannot take whole: TFLite up to the first float node, an ONNX tail for the rest', async () => {
    const dims = [1, 3, 16, 20];
    const f32 = smallNet();
    // The depthwise convolution left float: the Edge TPU part ends before it.
    const r = { model: await fullInteger(f32, memory(randomSamples(6, dims, 17)), ['dw']) };
    expect(() => exportTflite(r.model, { inputShapes: { x: dims } })).toThrow(/Conv node dw/);
    const e = exportTflite(r.model, { inputShapes: { x: dims }, split: true });
    expect(e.split?.at).toMatchObject({ node: 'dw', opType: 'Conv' });
    expect(e.split?.at.reason).toMatch(/weights are not quantized/);
    // Everything from dw on runs in the tail; the TFLite part hands it the value dw reads, in NCHW.
    expect(e.operators).toMatchObject({ QUANTIZE: 1, PAD: 1, CONV_2D: 1, TRANSPOSE: 1, DEQUANTIZE: 1 });
    expect(e.outputs).toEqual([
      expect.objectContaining({ role: 'frontier', layout: 'as-is', onnxShape: [1, 8, 8, 10] }),
    ]);
    expect(e.split?.inputs).toEqual([e.outputs[0]!.name]);
    expect(e.split?.outputs).toEqual(['y']);
    expect(e.split?.model.graph?.node?.some((n) => n.name === 'dw')).toBe(true);
    expect(e.split?.model.graph?.node?.some((n) => n.name === 'stem')).toBe(false);

    // TFLite (in TensorFlow Lite) then the tail (in onnxruntime) computes what the QDQ model computes.
    const samples = randomSamples(3, dims, 400);
    const qdq: Record<string, Float32Array>[] = [];
    const fp: Record<string, Float32Array>[] = [];
    for (const s of samples) {
      const x = s.feeds.x!.data as Float32Array;
      qdq.push({ y: await runOnnx(r.model, x, dims) });
      fp.push({ y: await runOnnx(f32, x, dims) });
    }
    const vsQdq = await tfliteAgreement(e.bytes, e, samples, qdq);
    expect(vsQdq.minCosine).toBeGreaterThan(0.999);
    expect((await tfliteAgreement(e.bytes, e, samples, fp)).cosine).toBeGreaterThan(0.98);

    // A model whose very first op is float has nothing to put on the Edge TPU.
    const first = await fullInteger(f32, memory(randomSamples(2, dims, 5)), ['stem']);
    expect(() => exportTflite(first, { inputShapes: { x: dims }, split: true })).toThrow(
      /Nothing before it exports either/,
    );
  });

  it('refuses an input without a fixed size, and an op it has no int8 equivalent for', async () => {
    const dims = [1, 3, 16, 20];
    const q = await fullInteger(smallNet(), memory(randomSamples(2, dims, 9)));
    expect(() => exportTflite(q, { inputShapes: {} })).toThrow(/needs a fixed shape for input x/);
    const bad = model({
      opset: 14,
      graph: graph({
        name: 'tanh',
        nodes: [
          node('QuantizeLinear', ['x', 's', 'z'], ['xq']),
          node('DequantizeLinear', ['xq', 's', 'z'], ['xd']),
          node('Tanh', ['xd'], ['t'], { name: 'the_tanh' }),
          node('QuantizeLinear', ['t', 's', 'z'], ['tq']),
          node('DequantizeLinear', ['tq', 's', 'z'], ['y']),
        ],
        inputs: [valueInfo('x', 'float32', [1, 4])],
        outputs: [valueInfo('y', 'float32', [1, 4])],
        initializers: [
          tensor('s', 'float32', [], Float32Array.of(0.01)),
          tensor('z', 'uint8', [], Uint8Array.of(128)),
        ],
      }),
    });
    expect(() => exportTflite(bad, { inputShapes: { x: [1, 4] } })).toThrow(
      /Tanh node the_tanh: no TFLite int8/,
    );
    // Weights with a nonzero zero point (asymmetric): TFLite's int8 kernels cannot take them.
    const asym = model({
      opset: 14,
      graph: graph({
        name: 'asym',
        nodes: [
          node('QuantizeLinear', ['x', 's', 'z'], ['xq']),
          node('DequantizeLinear', ['xq', 's', 'z'], ['xd']),
          node('DequantizeLinear', ['Wq', 'ws', 'wz'], ['W']),
          node('MatMul', ['xd', 'W'], ['m'], { name: 'the_matmul' }),
          node('QuantizeLinear', ['m', 's', 'z'], ['mq']),
          node('DequantizeLinear', ['mq', 's', 'z'], ['y']),
        ],
        inputs: [valueInfo('x', 'float32', [1, 4])],
        outputs: [valueInfo('y', 'float32', [1, 2])],
        initializers: [
          tensor('s', 'float32', [], Float32Array.of(0.01)),
          tensor('z', 'uint8', [], Uint8Array.of(128)),
          tensor('Wq', 'int8', [4, 2], Int8Array.of(1, 2, 3, 4, 5, 6, 7, 8)),
          tensor('ws', 'float32', [], Float32Array.of(0.1)),
          tensor('wz', 'int8', [], Int8Array.of(3)),
        ],
      }),
    });
    expect(() => exportTflite(asym, { inputShapes: { x: [1, 4] } })).toThrow(
      /MatMul node the_matmul: its weights are not symmetric/,
    );
    // A QuantizeLinear with a zero scale (a corrupt or hand-edited model): refused, not written as NaN.
    bad.graph!.initializer![0] = tensor('s', 'float32', [], Float32Array.of(0));
    expect(() => exportTflite(bad, { inputShapes: { x: [1, 4] } })).toThrow(
      /scale is missing, not a constant/,
    );
  });

  it('TensorFlow Lite refuses bytes that are not a model with a clear error', async () => {
    await expect(openTflite(new TextEncoder().encode('not a tflite model at all'))).rejects.toThrow(
      /TensorFlow Lite could not load the model/,
    );
  });
});
