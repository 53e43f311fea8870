import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { attr, graph, model, node, tensor, valueInfo } from '../onnx/builder.js';
import { encodeModel } from '../onnx/io.js';
import { onnx } from '../onnx/schema.js';
import { matmulModel, randomFloats, rng, tinyConvModel } from '../../test/fixtures/models/synthetic.js';
import {
  calibrate,
  exposeTensors,
  StreamingHistogram,
  toOrtFeeds,
  type CalibrationSource,
} from './calibrate.js';
import { quantizeDynamic } from './dynamic.js';
import { nodeKey, quantizeQdq, tensorsToCalibrate } from './qdq.js';
import {
  activationParams,
  cosine,
  fakeQuant,
  quantizeBias,
  quantizeWeightsPerChannel,
  roundHalfEven,
  sqnrDb,
} from './qparams.js';
import { agreement, hardestFirst, referenceOutputs } from './sensitivity.js';
import {
  attributeNodes,
  islandCosts,
  profileNodes,
  quantizedIslands,
  speedPass,
  type NodeProfile,
} from './speed.js';
import { evalSplit, quantizeStatic, smallestPassing, speedAwareOrder } from './static.js';
import { AppError } from '../../shared/errors.js';

function source(n: number, dims: number[], seed = 1, name = 'x'): CalibrationSource {
  const size = dims.reduce((a, b) => a * b, 1);
  return {
    count: n,
    async *samples(signal?: AbortSignal) {
      for (let i = 0; i < n; i++) {
        if (signal?.aborted) throw new AppError('CANCELLED', 'cancelled');
        const r = rng(seed + i);
        yield {
          id: `s${i}`,
          feeds: {
            [name]: { type: 'float32', dims, data: Float32Array.from({ length: size }, () => r() * 2 - 1) },
          },
        };
      }
    },
  };
}

async function run(
  m: onnx.IModelProto,
  x: Float32Array,
  dims: number[],
  level: 'all' | 'disabled' = 'all',
): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(m), { graphOptimizationLevel: level });
  const out = await s.run({ [s.inputNames[0]!]: new ort.Tensor('float32', x, dims) });
  await s.release();
  return out[s.outputNames[0]!]!.data as Float32Array;
}

/** Conv → HardSwish → Conv → Add(residual from the first conv's output), opset 14. */
function convHardSwishModel(): onnx.ModelProto {
  return model({
    opset: 14,
    graph: graph({
      name: 'chs',
      nodes: [
        node('Conv', ['x', 'W1', 'B1'], ['c1'], {
          name: 'conv1',
          attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
        }),
        node('HardSwish', ['c1'], ['h'], { name: 'hswish' }),
        node('Conv', ['h', 'W2', 'B2'], ['c2'], {
          name: 'conv2',
          attributes: { kernel_shape: attr.ints([1, 1]) },
        }),
        node('Add', ['c2', 'c1'], ['y'], { name: 'add' }),
      ],
      inputs: [valueInfo('x', 'float32', [1, 3, 16, 16])],
      outputs: [valueInfo('y', 'float32', [1, 8, 16, 16])],
      initializers: [
        tensor('W1', 'float32', [8, 3, 3, 3], randomFloats(216, 11, 0.5)),
        tensor('B1', 'float32', [8], randomFloats(8, 12, 0.5)),
        tensor('W2', 'float32', [8, 8, 1, 1], randomFloats(64, 13, 0.5)),
        tensor('B2', 'float32', [8], randomFloats(8, 14, 0.1)),
      ],
    }),
  });
}

describe('quantization arithmetic', () => {
  it('uint8 activation params cover the range and map 0 exactly', () => {
    const p = activationParams(-1, 3, 'uint8', false);
    expect(p.zeroPoint).toBeGreaterThan(0);
    expect(fakeQuant(0, p)).toBe(0);
    expect(Math.abs(fakeQuant(3, p) - 3)).toBeLessThanOrEqual(p.scale / 2 + 1e-6);
    // Ranges that do not contain 0 are widened to it, so zero padding stays exact.
    expect(activationParams(2, 5, 'uint8', false).zeroPoint).toBe(0);
  });

  it('int8 activations are symmetric with zero point 0 (TensorRT explicit quantization)', () => {
    const p = activationParams(-1, 3, 'int8', false);
    expect(p.zeroPoint).toBe(0);
    expect(p.scale).toBeCloseTo(3 / 127, 6);
  });

  it('rounds half to even like QuantizeLinear', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2]);
  });

  it('per-channel weights: each channel has its own scale, error at most half a step', () => {
    const w = Float32Array.from([1, -0.5, 0.25, 100, -50, 25]);
    const q = quantizeWeightsPerChannel(w, [2, 3], 0, false);
    expect(q.scales[0]).toBeCloseTo(1 / 127, 6);
    expect(q.scales[1]).toBeCloseTo(100 / 127, 5);
    for (let c = 0; c < 2; c++) expect(q.maxError[c]!).toBeLessThanOrEqual(q.scales[c]! / 2 + 1e-7);
    expect(Math.max(...Array.from(q.values).map(Math.abs))).toBe(127);
    expect(Math.max(...Array.from(quantizeWeightsPerChannel(w, [2, 3], 0, true).values).map(Math.abs))).toBe(
      63,
    );
  });

  it('int32 bias uses input scale × weight scale and refuses overflow', () => {
    const b = quantizeBias(Float32Array.from([0.5, -1]), 0.01, Float32Array.from([0.1, 0.2]));
    expect(Array.from(b!.values)).toEqual([500, -500]);
    expect(quantizeBias(Float32Array.from([1e9]), 1e-6, Float32Array.from([1e-6]))).toBeUndefined();
  });

  it('SQNR and cosine', () => {
    expect(sqnrDb([1, 2, 3], [1, 2, 3])).toBe(Infinity);
    expect(sqnrDb([1, 0], [1.1, 0])).toBeCloseTo(20, 5);
    expect(cosine([1, 0], [0, 1])).toBe(0);
  });
});

describe('streaming histogram', () => {
  it('grows its range in both directions without losing counts', () => {
    const h = new StreamingHistogram();
    h.add(Float32Array.from([0, 1]));
    h.add(Float32Array.from([-50, 200]));
    expect(h.min).toBe(-50);
    expect(h.max).toBe(200);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(4);
    expect(h.lo).toBeLessThanOrEqual(-50);
    expect(h.lo + h.width * h.counts.length).toBeGreaterThan(200);
  });

  it('percentile and entropy clip rare outliers that MinMax keeps', () => {
    const r = rng(3);
    const h = new StreamingHistogram();
    const data = Float32Array.from({ length: 100_000 }, () => (r() + r() + r() - 1.5) * 2);
    data[0] = 80; // one outlier
    h.add(data);
    expect(h.max).toBe(80);
    expect(h.percentileRange(99.99).max).toBeLessThan(10);
    expect(h.entropyRange().max).toBeLessThan(40);
  });

  it('tracks per-channel ranges of NCHW tensors', () => {
    const h = new StreamingHistogram(false);
    const d = new Float32Array(2 * 4);
    d.set([0, 1, 2, 3], 0);
    d.set([0, 100, 50, 25], 4);
    h.add(d, [1, 2, 2, 2]);
    expect(Array.from(h.channelMax!)).toEqual([3, 100]);
  });
});

describe('calibration', () => {
  /** Each tensor's every value, fetched from onnxruntime and summarized here (the reference for calibrate). */
  async function everyValue(
    m: onnx.IModelProto,
    names: string[],
    src: CalibrationSource,
    binned: boolean,
  ): Promise<Map<string, StreamingHistogram>> {
    const session = await ort.InferenceSession.create(encodeModel(exposeTensors(m, names)));
    const out = new Map(names.map((n) => [n, new StreamingHistogram(binned)]));
    for await (const s of src.samples()) {
      const r = await session.run(toOrtFeeds(s.feeds), names);
      for (const n of names) out.get(n)!.add(r[n]!.data as Float32Array, r[n]!.dims);
    }
    await session.release();
    return out;
  }

  it('records a range for each requested tensor and reports progress', async () => {
    const m = tinyConvModel();
    const progress: number[] = [];
    const r = await calibrate(m, ['conv', 'relu'], source(4, [1, 3, 8, 8]), {
      method: 'minmax',
      onProgress: (d) => progress.push(d),
    });
    expect(r.samples).toBe(4);
    expect(progress).toEqual([1, 2, 3, 4]);
    expect(r.ranges.get('relu')!.min).toBe(0);
    expect(r.ranges.get('conv')!.min).toBeLessThan(0);
  });

  it('MinMax summarized by onnxruntime’s reductions equals every value summarized here (opsets 14, 17, 18)', async () => {
    const cases: [onnx.ModelProto, string[], number[]][] = [
      [convHardSwishModel(), ['x', 'c1', 'h', 'c2', 'y'], [1, 3, 16, 16]],
      [convHardSwishModel(), ['c1', 'y'], [1, 3, 16, 16]],
      [matmulModel(), ['x', 'xw', 'y'], [3, 64]],
    ];
    const opset18 = cases[1]![0];
    opset18.opsetImport[0]!.version = 18; // ReduceMin/ReduceMax take axes as an input from opset 18
    for (const [m, names, dims] of cases) {
      const r = await calibrate(m, names, source(5, dims, 9), { method: 'minmax' });
      const want = await everyValue(m, names, source(5, dims, 9), false);
      for (const n of names) {
        const h = want.get(n)!;
        const got = r.ranges.get(n)!;
        expect(got.min, n).toBeCloseTo(h.min, 5);
        expect(got.max, n).toBeCloseTo(h.max, 5);
        if (h.channelSum) {
          expect(got.channelMean!.length).toBe(h.channelSum.length);
          got.channelMean!.forEach((v, c) => expect(v).toBeCloseTo(h.channelSum![c]! / h.channelCount, 4));
        } else expect(got.channelMean).toBeUndefined();
      }
    }
  });

  it('Percentile and Entropy from reductions and strided samples match every value summarized here', async () => {
    // 16 × 160 × 160 = 409,600 values per activation: more than the histogram bins, so onnxruntime sends a
    // strided sample of each.
    const m = convHardSwishModel();
    const hw = 160;
    for (const v of [m.graph!.input![0]!, m.graph!.output![0]!])
      v.type!.tensorType!.shape!.dim!.slice(2).forEach((d) => (d.dimValue = hw));
    const names = ['c1', 'h', 'y'];
    const dims = [1, 3, hw, hw];
    for (const method of ['percentile', 'entropy'] as const) {
      const r = await calibrate(m, names, source(3, dims, 21), { method });
      const want = await everyValue(m, names, source(3, dims, 21), true);
      for (const n of names) {
        const h = want.get(n)!;
        const expected = method === 'percentile' ? h.percentileRange(99.999) : h.entropyRange();
        const got = r.ranges.get(n)!;
        const span = h.max - h.min;
        expect(Math.abs(got.min - expected.min), `${method} ${n} min`).toBeLessThan(span * 0.01);
        expect(Math.abs(got.max - expected.max), `${method} ${n} max`).toBeLessThan(span * 0.01);
      }
    }
  });

  it('a non-finite activation after the first sample is refused like one in the first', async () => {
    const m = tinyConvModel();
    const good = source(3, [1, 3, 8, 8]);
    const bad: CalibrationSource = {
      count: 3,
      async *samples() {
        let i = 0;
        for await (const s of good.samples()) {
          if (i++ === 2) (s.feeds['x']!.data as Float32Array)[5] = NaN;
          yield s;
        }
      },
    };
    await expect(calibrate(m, ['conv'], bad, { method: 'minmax' })).rejects.toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringContaining('non-finite') as unknown,
    });
  });

  it('refuses an empty source and samples that do not fit the model, and can be cancelled', async () => {
    const m = tinyConvModel();
    await expect(calibrate(m, ['conv'], source(0, [1, 3, 8, 8]), { method: 'minmax' })).rejects.toMatchObject(
      {
        code: 'BAD_INPUT',
      },
    );
    await expect(calibrate(m, ['conv'], source(2, [1, 5, 8, 8]), { method: 'minmax' })).rejects.toMatchObject(
      {
        code: 'BAD_INPUT',
        message: expect.stringContaining('calibration sample s0') as unknown,
      },
    );
    const ac = new AbortController();
    const p = calibrate(m, ['conv'], source(50, [1, 3, 8, 8]), {
      method: 'minmax',
      signal: ac.signal,
      onProgress: (d) => {
        if (d === 2) ac.abort();
      },
    });
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});

describe('static QDQ', () => {
  it('quantized conv model loads, fuses to integer kernels and agrees with FP32', async () => {
    const m = tinyConvModel();
    const plan = new Set(['conv0']);
    const cal = await calibrate(m, tensorsToCalibrate(m, plan), source(8, [1, 3, 8, 8]), {
      method: 'minmax',
    });
    const q = quantizeQdq(m, plan, cal.ranges, { activationType: 'uint8' });
    expect(q.quantized).toEqual(['conv0']);
    const ops = q.model.graph!.node!.map((n) => n.opType);
    expect(ops).toContain('QuantizeLinear');
    expect(q.weights[0]).toMatchObject({ tensor: 'W', channels: 4, bits: 8 });
    // The float weight is gone; an int8 one took its place.
    expect(q.model.graph!.initializer!.find((t) => t.name === 'W')).toBeUndefined();
    const x = randomFloats(3 * 64, 99, 1);
    const ref = await run(m, x, [1, 3, 8, 8]);
    const got = await run(q.model, x, [1, 3, 8, 8]);
    expect(cosine(ref, got)).toBeGreaterThan(0.999);
  });

  it('weight-only storage: layers kept float still store int8 weights behind a DequantizeLinear', async () => {
    const m = convHardSwishModel();
    const plan = new Set(['conv2']);
    const cal = await calibrate(m, tensorsToCalibrate(m, plan), source(8, [1, 3, 16, 16], 5), {
      method: 'minmax',
    });
    const q = quantizeQdq(m, plan, cal.ranges, { activationType: 'uint8', floatWeights: 'int8' });
    expect(q.weights).toContainEqual(expect.objectContaining({ tensor: 'W1', weightOnly: true, bits: 8 }));
    const conv1 = q.model.graph!.node!.find((n) => n.name === 'conv1')!;
    expect(conv1.input![1]).not.toBe('W1');
    const x = Float32Array.from({ length: 3 * 256 }, (_, i) => Math.cos(i));
    expect(cosine(await run(m, x, [1, 3, 16, 16]), await run(q.model, x, [1, 3, 16, 16]))).toBeGreaterThan(
      0.99,
    );
  });

  it('float16 storage: layers kept float store float16 weights behind a Cast onnxruntime folds', async () => {
    const m = convHardSwishModel();
    const plan = new Set(['conv2']);
    const cal = await calibrate(m, tensorsToCalibrate(m, plan), source(8, [1, 3, 16, 16], 5), {
      method: 'minmax',
    });
    const plain = quantizeQdq(m, plan, cal.ranges, { activationType: 'uint8' });
    const q = quantizeQdq(m, plan, cal.ranges, { activationType: 'uint8', floatWeights: 'float16' });
    expect(q.quantized).toEqual(plain.quantized);
    expect(q.weights).toContainEqual(expect.objectContaining({ tensor: 'W1', weightOnly: true, bits: 16 }));
    const cast = q.model.graph!.node!.find((n) => n.opType === 'Cast' && n.output?.[0] === 'W1');
    expect(cast).toBeDefined();
    expect(encodeModel(q.model).length).toBeLessThan(encodeModel(plain.model).length);
    const x = Float32Array.from({ length: 3 * 256 }, (_, i) => Math.cos(i));
    expect(
      cosine(await run(plain.model, x, [1, 3, 16, 16]), await run(q.model, x, [1, 3, 16, 16])),
    ).toBeGreaterThan(0.9999);
  });

  it('refuses models below opset 13 with a hint', () => {
    const m = tinyConvModel();
    const opset = m.opsetImport?.[0];
    if (opset) opset.version = 11;
    expect(() => quantizeQdq(m, new Set(['conv0']), new Map(), { activationType: 'uint8' })).toThrow(
      /opset 13/,
    );
  });

  it('HardSwish between quantized convs runs as integer Add/Mul and stays accurate', async () => {
    const m = convHardSwishModel();
    const plan = new Set(m.graph!.node!.map((n, i) => nodeKey(n, i)));
    const cal = await calibrate(m, tensorsToCalibrate(m, plan), source(16, [1, 3, 16, 16], 5), {
      method: 'minmax',
    });
    const q = quantizeQdq(m, plan, cal.ranges, { activationType: 'uint8' });
    expect(q.quantized).toContain('hswish');
    expect(q.model.graph!.node!.some((n) => n.opType === 'HardSwish')).toBe(false);
    const x = Float32Array.from({ length: 3 * 256 }, (_, i) => Math.sin(i));
    const ref = await run(m, x, [1, 3, 16, 16]);
    for (const level of ['disabled', 'all'] as const) {
      const got = await run(q.model, x, [1, 3, 16, 16], level);
      expect(cosine(ref, got)).toBeGreaterThan(0.99);
    }
  });

  it('quantizeStatic reports kept-float layers and rejects unknown exclusions', async () => {
    const m = convHardSwishModel();
    const r = await quantizeStatic(m, source(8, [1, 3, 16, 16]), {
      method: 'percentile',
      activationType: 'uint8',
      exclude: ['conv2'],
      evalSamples: 2,
    });
    expect(r.keptFloat).toContainEqual(
      expect.objectContaining({ node: 'conv2', reason: 'excluded by the user' }),
    );
    expect(r.quantized).toContain('conv1');
    expect(r.agreement.cosine).toBeGreaterThan(0.98);
    expect(r.layers.length).toBe(r.quantized.length);
    await expect(
      quantizeStatic(m, source(2, [1, 3, 16, 16]), {
        method: 'minmax',
        activationType: 'uint8',
        exclude: ['nope'],
      }),
    ).rejects.toMatchObject({ code: 'BAD_INPUT', message: expect.stringContaining('nope') as unknown });
  });

  it('accuracy-aware mode keeps layers float until the budget is met', async () => {
    const m = convHardSwishModel();
    const strict = await quantizeStatic(m, source(8, [1, 3, 16, 16]), {
      method: 'minmax',
      activationType: 'uint8',
      accuracyBudget: 0.99999,
      evalSamples: 2,
    });
    const loose = await quantizeStatic(m, source(8, [1, 3, 16, 16]), {
      method: 'minmax',
      activationType: 'uint8',
      evalSamples: 2,
    });
    expect(strict.agreement.cosine).toBeGreaterThanOrEqual(Math.min(0.99999, loose.agreement.cosine));
    expect(strict.quantized.length).toBeLessThanOrEqual(loose.quantized.length);
  });
});

describe('agreement samples', () => {
  it('holds out the last ones when there are more than twice as many, else shares the first with calibration', () => {
    expect(evalSplit(80)).toEqual({ start: 64, count: 16, heldOut: true, calibration: 64 });
    expect(evalSplit(40)).toEqual({ start: 32, count: 8, heldOut: true, calibration: 32 });
    expect(evalSplit(8)).toEqual({ start: 0, count: 4, heldOut: false, calibration: 8 });
    expect(evalSplit(9, 4)).toEqual({ start: 5, count: 4, heldOut: true, calibration: 5 });
  });
});

describe('accuracy search', () => {
  it('finds the smallest passing k from any first guess, each k tried once, about 2·log2(k) attempts', async () => {
    for (const hi of [1, 2, 7, 51, 130])
      for (let answer = 1; answer <= hi + 1; answer++)
        for (const first of [1, Math.ceil(hi / 4), hi]) {
          const tried: number[] = [];
          const r = await smallestPassing(
            1,
            hi,
            (k) => {
              tried.push(k);
              return Promise.resolve({ pass: k >= answer, value: k * 10 });
            },
            undefined,
            first,
          );
          if (answer > hi) expect(r).toBeUndefined();
          else expect(r).toEqual({ k: answer, value: answer * 10 });
          expect(new Set(tried).size).toBe(tried.length);
          expect(tried.length).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(hi + 1)) + 1);
        }
  });

  it('stops refining when what is left between failing and passing is not worth an attempt', async () => {
    const tried: number[] = [];
    const attempt = (k: number) => {
      tried.push(k);
      return Promise.resolve({ pass: k >= 37, value: k });
    };
    // Worth it while more than 4 placements separate the last failing k from the passing one.
    const r = await smallestPassing(1, 100, attempt, undefined, 25, (failed, passed) => passed - failed > 4);
    expect(r!.k).toBeGreaterThanOrEqual(37);
    expect(r!.k).toBeLessThanOrEqual(37 + 4);
    const refinedFully = tried.length;
    tried.length = 0;
    expect((await smallestPassing(1, 100, attempt, undefined, 25))!.k).toBe(37);
    expect(refinedFully).toBeLessThan(tried.length);
    // Never worth it: the galloping search's first pass is the answer.
    tried.length = 0;
    expect((await smallestPassing(1, 100, attempt, undefined, 25, () => false))!.k).toBe(50);
    expect(tried).toEqual([25, 50]);
  });

  it('reports its steps as it goes, ending with done = total', async () => {
    const steps: [number, number][] = [];
    await smallestPassing(
      1,
      100,
      (k) => Promise.resolve({ pass: k >= 63, value: k }),
      (d, t) => steps.push([d, t]),
      25,
    );
    expect(steps.at(-1)![0]).toBe(steps.at(-1)![1]);
    for (const [d, t] of steps) expect(d).toBeLessThanOrEqual(t);
  });

  it('evaluates the samples hardest first, with their references, keeping the rest in order', () => {
    const ctx = {
      samples: ['a', 'b', 'c', 'd'].map((id) => ({ id, feeds: {} })),
      reference: [0, 1, 2, 3].map((i) => ({ y: Float32Array.of(i) })),
      outputNames: ['y'],
    };
    const r = hardestFirst(ctx, [0.99, 0.9, 0.95]);
    expect(r.samples.map((x) => x.id)).toEqual(['b', 'c', 'a', 'd']);
    expect(r.reference.map((x) => x['y']![0])).toEqual([1, 2, 0, 3]);
    expect(ctx.samples.map((x) => x.id)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('storage of the weights of layers kept float', () => {
  it('auto: int8 when the budget still holds with it, float16 when it does not', async () => {
    const m = convHardSwishModel();
    const opts = { method: 'minmax', activationType: 'uint8', evalSamples: 2, floatWeights: 'auto' } as const;
    const loose = await quantizeStatic(m, source(8, [1, 3, 16, 16]), {
      ...opts,
      exclude: ['conv1'],
      accuracyBudget: 0.9,
    });
    expect(loose.floatWeights).toBe('int8');
    expect(loose.qdq.weights).toContainEqual(
      expect.objectContaining({ tensor: 'W1', weightOnly: true, bits: 8 }),
    );
    // Restored by Cast and Mul, which onnxruntime folds at load (a DequantizeLinear would run every time).
    const restore = loose.model.graph!.node!.filter((n) => n.input?.some((i) => i.startsWith('W1_')));
    expect(restore.map((n) => n.opType)).toEqual(['Cast', 'Mul', 'Conv']);
    const unreachable = await quantizeStatic(m, source(8, [1, 3, 16, 16]), {
      ...opts,
      exclude: ['conv1'],
      accuracyBudget: 0.9999999,
    });
    expect(unreachable.floatWeights).toBe('float16');
    const noBudget = await quantizeStatic(m, source(8, [1, 3, 16, 16]), { ...opts, exclude: ['conv1'] });
    expect(noBudget.floatWeights).toBe('float16');
  });
});

describe('agreement measurement', () => {
  async function setup(): Promise<{ q: onnx.ModelProto; ctx: Awaited<ReturnType<typeof referenceOutputs>> }> {
    const m = convHardSwishModel();
    const plan = new Set(m.graph!.node!.map((n, i) => nodeKey(n, i)));
    const cal = await calibrate(m, tensorsToCalibrate(m, plan), source(8, [1, 3, 16, 16], 5), {
      method: 'minmax',
    });
    const q = quantizeQdq(m, plan, cal.ranges, { activationType: 'uint8', reduceRange: true }).model;
    const samples = [];
    for await (const s of source(6, [1, 3, 16, 16], 40).samples()) samples.push(s);
    return { q, ctx: await referenceOutputs(m, samples) };
  }

  it('stops early, with an upper bound below the bar, once the bar is out of reach', async () => {
    const { q, ctx } = await setup();
    const full = await agreement(q, ctx);
    expect(full.cosine).toBeLessThan(1);
    const reachable = await agreement(q, ctx, { atLeast: full.cosine - 0.01 });
    expect(reachable.partial).toBeUndefined();
    expect(reachable.cosine).toBeCloseTo(full.cosine, 10);
    // Perfect agreement cannot be reached once one sample falls short: the answer is a bound under the bar.
    const out = await agreement(q, ctx, { atLeast: 0.9999999 });
    expect(out.partial).toBe(true);
    expect(out.cosine).toBeLessThan(0.9999999);
    expect(out.cosine).toBeGreaterThanOrEqual(full.cosine);
  });

  it('measures Q/DQ as written or onnxruntime’s fused integer kernels, which agree on a small model', async () => {
    const { q, ctx } = await setup();
    const emulated = await agreement(q, ctx);
    const runtime = await agreement(q, { ...ctx, optimized: true });
    expect(emulated.cosine).toBeGreaterThan(0.99);
    expect(runtime.cosine).toBeGreaterThan(0.99);
    expect(Math.abs(runtime.cosine - emulated.cosine)).toBeLessThan(1e-3);
  });

  it('quantizing the same model twice gives the same bytes; changed weights are quantized anew', () => {
    const m = convHardSwishModel();
    const plan = new Set(m.graph!.node!.map((n, i) => nodeKey(n, i)));
    const ranges = new Map(
      m
        .graph!.node!.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])])
        .map((t) => [t, { min: -4, max: 4 }]),
    );
    const once = encodeModel(quantizeQdq(m, plan, ranges, { activationType: 'uint8' }).model);
    const twice = encodeModel(quantizeQdq(m, plan, ranges, { activationType: 'uint8' }).model);
    expect(twice).toEqual(once);
    const w = m.graph!.initializer!.find((t) => t.name === 'W1')!;
    w.rawData = new Uint8Array(Float32Array.from(randomFloats(216, 77, 0.5)).buffer);
    const changed = encodeModel(quantizeQdq(m, plan, ranges, { activationType: 'uint8' }).model);
    expect(changed).not.toEqual(once);
  });
});

describe('speed pass', () => {
  async function setup() {
    const m = convHardSwishModel();
    const plan = new Set(['conv1', 'conv2']);
    const cal = await calibrate(m, tensorsToCalibrate(m, plan), source(4, [1, 3, 16, 16], 5), {
      method: 'minmax',
    });
    const place = (p: ReadonlySet<string>) =>
      quantizeQdq(m, p, cal.ranges, { activationType: 'uint8' }).model;
    const samples = [];
    for await (const s of source(1, [1, 3, 16, 16], 50).samples()) samples.push(s);
    return { m, plan, place, sample: samples[0]! };
  }
  /** A timer that answers from a table, by what the session holds, instead of the clock. */
  const table =
    (ms: Record<string, number | number[]>) =>
    (_s: unknown, _f: unknown, which: string): Promise<number> => {
      const v = ms[which] ?? NaN;
      return Promise.resolve(Array.isArray(v) ? (v.shift() ?? NaN) : v);
    };

  it('groups quantized nodes that feed one another', () => {
    const m = convHardSwishModel();
    expect(quantizedIslands(m, ['conv1', 'hswish', 'conv2', 'add'])).toEqual([
      ['conv1', 'hswish', 'conv2', 'add'],
    ]);
    // The residual Add reads both convolutions: one group. Without it, HardSwish (float) separates them.
    expect(quantizedIslands(m, ['conv1', 'conv2', 'add'])).toEqual([['conv1', 'conv2', 'add']]);
    expect(quantizedIslands(m, ['conv1', 'conv2'])).toEqual([['conv1'], ['conv2']]);
    expect(quantizedIslands(m, [])).toEqual([]);
  });

  it('keeps float the group measured faster in float, once the whole result is measured faster too', async () => {
    const { m, plan, place, sample } = await setup();
    const islands = quantizedIslands(m, plan);
    const slow = islands.findIndex((g) => g.includes('conv2'));
    const r = await speedPass(plan, m, place, sample, {
      screen: false,
      timer: table({ placed: 100, [`float:${slow}`]: 90, [`float:${1 - slow}`]: 104, pruned: 91 }),
    });
    expect(r.dropped.map((d) => d.nodes)).toEqual([['conv2']]);
    expect(r.dropped[0]).toMatchObject({ placedMs: 100, floatMs: 90 });
    expect([...r.plan]).toEqual(['conv1']);
    expect(r).toMatchObject({ islands: 2, beforeMs: 100, afterMs: 91 });
  });

  it('keeps the placement when the combined result is not faster, or a first impression is not confirmed', async () => {
    const { m, plan, place, sample } = await setup();
    const slow = quantizedIslands(m, plan).findIndex((g) => g.includes('conv2'));
    const notTogether = await speedPass(plan, m, place, sample, {
      screen: false,
      timer: table({ placed: 100, [`float:${slow}`]: 90, [`float:${1 - slow}`]: 104, pruned: 100.2 }),
    });
    expect(notTogether.dropped).toEqual([]);
    expect([...notTogether.plan].sort()).toEqual(['conv1', 'conv2']);
    expect(notTogether.afterMs).toBe(notTogether.beforeMs);
    // Faster in its first 4 runs, slower in the 8 that confirm: noise, not a gain.
    const unconfirmed = await speedPass(plan, m, place, sample, {
      screen: false,
      timer: table({
        placed: 100,
        [`float:${slow}`]: [90, 90, 90, 90, ...new Array<number>(8).fill(103)],
        [`float:${1 - slow}`]: 104,
      }),
    });
    expect(unconfirmed.dropped).toEqual([]);
  });

  it('stops timing new groups when its time budget runs out; the rest stay as placed', async () => {
    const { m, plan, place, sample } = await setup();
    // The first group is always timed; with no time left, the second (faster in float here) is not.
    const r = await speedPass(plan, m, place, sample, {
      screen: false,
      budgetMs: 0,
      timer: table({ placed: 100, 'float:0': 104, 'float:1': 50, pruned: 50 }),
    });
    expect(r).toMatchObject({ islands: 2, tested: 1, dropped: [] });
    expect([...r.plan].sort()).toEqual(['conv1', 'conv2']);
  });

  /**
   * A profiler that answers from a table instead of onnxruntime: the graph as given stands for the optimized one,
   * and each node's kernel ms is what `ms` says for it (by name, or by op type for the quantizer's Q/DQ).
   */
  const fakeProfiler =
    (int8: Record<string, number>, float: Record<string, number>, runMs = 100) =>
    (model: onnx.IModelProto): Promise<NodeProfile> => {
      const quantized = (model.graph?.node ?? []).some((n) => n.opType === 'QuantizeLinear');
      const ms = quantized ? int8 : float;
      return Promise.resolve({
        optimized: model.graph!,
        ms: new Map((model.graph?.node ?? []).map((n) => [n.name!, ms[n.name!] ?? ms[n.opType!] ?? 0])),
        runMs,
      });
    };
  const noTimings = (_s: unknown, _f: unknown, which: string): Promise<number> =>
    Promise.reject(new Error(`timed ${which}`));

  it('screens the groups on one profile of each model and times only those estimated slower in int8', async () => {
    const { m, plan, place, sample } = await setup();
    // conv2's group: 1 ms of kernels in int8 plus its Q/DQ, against 1 ms in float; conv1's: 2 plus its Q/DQ,
    // against 10.
    const profiler = fakeProfiler(
      { conv1: 2, conv2: 1, QuantizeLinear: 0.5, DequantizeLinear: 0.5 },
      { conv1: 10, conv2: 1 },
    );
    const r = await speedPass(plan, m, place, sample, {
      profiler,
      timer: table({ placed: 100, pruned: 97 }),
    });
    expect(r.dropped).toEqual([expect.objectContaining({ nodes: ['conv2'], floatKernelMs: 1 })]);
    expect(r.dropped[0]!.int8KernelMs).toBeGreaterThan(1.5);
    expect([...r.plan]).toEqual(['conv1']);
    expect(r).toMatchObject({ islands: 2, screened: 2, tested: 1, beforeMs: 100, afterMs: 97 });
    // Nothing estimated slower: no model is timed at all, the placement stays.
    const none = await speedPass(plan, m, place, sample, {
      profiler: fakeProfiler({ conv1: 1, conv2: 1 }, { conv1: 2, conv2: 2 }, 42),
      timer: noTimings,
    });
    expect(none).toMatchObject({ dropped: [], tested: 0, beforeMs: 42, afterMs: 42 });
    expect([...none.plan].sort()).toEqual(['conv1', 'conv2']);
  });

  it('times the screened groups one by one when together they do not pay off', async () => {
    const { m, plan, place, sample } = await setup();
    const islands = quantizedIslands(m, plan);
    const c1 = islands.findIndex((g) => g.includes('conv1'));
    const profiler = fakeProfiler({ conv1: 5, conv2: 5 }, { conv1: 1, conv2: 1 });
    // Both in float at once: no faster. Alone: conv1's group 5 % faster, conv2's not; then conv1's alone confirmed.
    const r = await speedPass(plan, m, place, sample, {
      profiler,
      timer: table({
        placed: 100,
        pruned: [...new Array<number>(8).fill(100), ...new Array<number>(8).fill(95)],
        [`float:${c1}`]: 95,
        [`float:${1 - c1}`]: 101,
      }),
    });
    expect(r.dropped.map((d) => d.nodes)).toEqual([['conv1']]);
    expect(r.dropped[0]).toMatchObject({ placedMs: 100, floatMs: 95, int8KernelMs: 5, floatKernelMs: 1 });
    expect(r.tested).toBe(2);
  });

  it('times every group alone when onnxruntime cannot profile, and says why', async () => {
    const { m, plan, place, sample } = await setup();
    const slow = quantizedIslands(m, plan).findIndex((g) => g.includes('conv2'));
    const r = await speedPass(plan, m, place, sample, {
      profiler: () => Promise.reject(new Error('profile file not writable')),
      timer: table({ placed: 100, [`float:${slow}`]: 90, [`float:${1 - slow}`]: 104, pruned: 91 }),
    });
    expect(r).toMatchObject({ screened: 0, tested: 2, screenError: 'profile file not writable' });
    expect(r.dropped.map((d) => d.nodes)).toEqual([['conv2']]);
  });

  it('attributes a real onnxruntime profile to the groups, conversions at their edges included', async () => {
    const { m, plan, place, sample } = await setup();
    const islands = quantizedIslands(m, plan);
    const placed = place(plan);
    const feeds = toOrtFeeds(sample.feeds);
    const p = await profileNodes(placed, feeds, 2);
    const f = await profileNodes(m, feeds);
    expect(p.runMs).toBeGreaterThan(0);
    expect(Number.isNaN(f.runMs)).toBe(true);
    // onnxruntime fused the Q/DQ around each Conv into a QLinearConv named after it.
    const ops = (p.optimized.node ?? []).map((n) => n.opType);
    expect(ops.filter((o) => o === 'QLinearConv')).toHaveLength(2);
    // The quantizer's Q/DQ belong to the group they convert for; onnxruntime's nodes to what they were made from.
    const seed = (name: string): number => islands.findIndex((g) => g.includes(name));
    const placedOwner = attributeNodes(placed.graph!, m.graph!, seed);
    const owner = attributeNodes(p.optimized, placed.graph!, (name) => placedOwner.get(name) ?? -1);
    const c1 = seed('conv1');
    for (const n of p.optimized.node ?? []) {
      if (n.opType === 'QLinearConv') expect(owner.get(n.name!)).toBeGreaterThanOrEqual(0);
      if (n.opType === 'QuantizeLinear' && n.input?.[0] === 'x') expect(owner.get(n.name!)).toBe(c1);
    }
    const costs = islandCosts(islands, m, placed, p, f);
    for (const c of costs) {
      expect(c.int8Ms).toBeGreaterThan(0);
      expect(c.floatMs).toBeGreaterThan(0);
    }
    // Nothing is counted twice: the groups' share of each profile is at most its total.
    const total = (x: NodeProfile): number => [...x.ms.values()].reduce((a, b) => a + b, 0);
    expect(costs.reduce((a, c) => a + c.int8Ms, 0)).toBeLessThanOrEqual(total(p) + 1e-9);
    expect(costs.reduce((a, c) => a + c.floatMs, 0)).toBeLessThanOrEqual(total(f) + 1e-9);
  });

  it('times the models as the build finishes them (the layout step after quantizing)', async () => {
    const finished: string[] = [];
    const r = await quantizeStatic(convHardSwishModel(), source(6, [1, 3, 16, 16]), {
      method: 'minmax',
      activationType: 'uint8',
      evaluation: 'runtime',
      evalSamples: 2,
      speedPass: true,
      finish: (model) => {
        const quantized = (model.graph?.node ?? []).some((n) => n.opType === 'QuantizeLinear');
        finished.push(quantized ? 'placed' : 'float');
        return model;
      },
    });
    expect(r.speed).toMatchObject({ screened: (r.speed as { islands: number }).islands });
    expect((r.speed as { islands: number }).islands).toBeGreaterThan(0);
    expect(finished).toContain('float');
    expect(finished).toContain('placed');
  });

  it('can be cancelled', async () => {
    const { m, plan, place, sample } = await setup();
    const ac = new AbortController();
    ac.abort();
    await expect(speedPass(plan, m, place, sample, { signal: ac.signal })).rejects.toMatchObject({
      code: 'CANCELLED',
    });
  });
});

describe('speed-aware accuracy search', () => {
  it('keeps float first what saves no time in int8, then the noisiest activations per millisecond saved', () => {
    const levels: Record<string, number> = { a: 20, b: 40, c: 200, d: 30, e: 100 };
    const saved: Record<string, number> = { a: 4, b: 0, c: 0.1, d: 0.5, e: -0.2 };
    const { order, free } = speedAwareOrder(
      Object.keys(levels),
      (t) => levels[t]!,
      (t) => saved[t]!,
    );
    // b and e save nothing (lowest resolution first); then 1/(levels²·ms): c 2.5e-4, d 2.2e-3, a 6.3e-4.
    expect(order).toEqual(['b', 'e', 'd', 'a', 'c']);
    expect(free).toBe(2);
  });

  const budgeted = {
    method: 'minmax',
    activationType: 'uint8',
    evaluation: 'runtime',
    evalSamples: 4,
    accuracyBudget: 0.9999,
    speedAwareSearch: true,
  } as const;

  it('meets the accuracy budget, with the layers it keeps float and why', async () => {
    const r = await quantizeStatic(convHardSwishModel(), source(12, [1, 3, 16, 16]), budgeted);
    expect(r.agreement.cosine).toBeGreaterThanOrEqual(0.9999);
    expect(r.keptFloat.length).toBeGreaterThan(0);
    for (const k of r.keptFloat) expect(k.reason.length).toBeGreaterThan(10);
  });

  it('quantizes all the same when onnxruntime cannot write its profile, and the report says why', async () => {
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = '/nonexistent/edge-console-tmp';
    try {
      const r = await quantizeStatic(convHardSwishModel(), source(12, [1, 3, 16, 16]), {
        ...budgeted,
        speedPass: true,
      });
      expect(r.agreement.cosine).toBeGreaterThanOrEqual(0.9999);
      const speed = r.speed as { screened?: number; profileError?: string };
      expect(speed.screened).toBe(0);
      expect(speed.profileError).toMatch(/ENOENT/);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });
});

describe('measured layer sensitivity', () => {
  it('keeps the layers whose quantization alone hurts most in float, with that measurement as the reason', async () => {
    const m = convHardSwishModel();
    const r = await quantizeStatic(m, source(10, [1, 3, 16, 16]), {
      method: 'minmax',
      activationType: 'uint8',
      accuracyBudget: 0.999999,
      sensitivity: 'layer',
      evalSamples: 2,
    });
    expect(r.sensitivity.map((x) => x.node).sort()).toEqual(['conv1', 'conv2']);
    const kept = r.keptFloat.filter((k) => k.reason.includes('quantized alone'));
    expect(kept.length).toBeGreaterThan(0);
    expect(r.quantized).not.toContain(kept[0]!.node);
  });
});

describe('dynamic quantization', () => {
  it('MatMul weights become int8; activations are quantized at run time', async () => {
    const m = matmulModel();
    // 7-bit weights: u8×s8 pair sums stay inside int16 on x86 CPUs without VNNI (this one), see qparams.ts.
    const r = quantizeDynamic(m, { reduceRange: true });
    expect(r.quantized).toEqual(['mm0']);
    const ops = r.model.graph!.node!.map((n) => n.opType);
    expect(ops).toEqual(expect.arrayContaining(['DynamicQuantizeLinear', 'MatMulInteger']));
    const x = randomFloats(2 * 64, 7, 1);
    const ref = await run(m, x, [2, 64]);
    const got = await run(r.model, x, [2, 64]);
    expect(cosine(ref, got)).toBeGreaterThan(0.999);
    expect(encodeModel(r.model).length).toBeLessThan(encodeModel(m).length * 0.5);
  });
});
