import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { randomFloats, tinyConvModel } from '../../test/fixtures/models/synthetic.js';
import { attr, constant, graph, model, node, tensor, valueInfo } from '../onnx/builder.js';
import { encodeModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import { onnx } from '../onnx/schema.js';
import { DataType, int64 } from '../onnx/tensors.js';
import {
  convertToFloat16,
  DEFAULT_FP16_BLOCK_OPS,
  float16BitsToNumber,
  float32ToFloat16Bits,
  storeWeightsAsFloat16,
  toFloat16Array,
} from './fp16.js';
import { readFloats } from './graph.js';

type Feeds = Record<string, ort.Tensor>;

async function run(m: onnx.IModelProto, feeds: Feeds): Promise<Record<string, ort.Tensor>> {
  const session = await createSession(encodeModel(m));
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function f32(x: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', x, dims);
}

function expectClose(got: ort.Tensor, want: ort.Tensor, rel = 1e-2): void {
  expect(got.type).toBe(want.type);
  expect(got.dims).toEqual(want.dims);
  const a = got.data as Float32Array;
  const b = want.data as Float32Array;
  const scale = Math.max(1e-3, ...Array.from(b, Math.abs));
  for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(rel * scale);
}

const g = (m: onnx.IModelProto): onnx.IGraphProto => m.graph!;
const init = (m: onnx.IModelProto, name: string): onnx.ITensorProto | undefined =>
  g(m).initializer!.find((t) => t.name === name);
const elemTypes = (vs: onnx.IValueInfoProto[] | null | undefined): number[] =>
  (vs ?? []).map((v) => v.type?.tensorType?.elemType ?? 0);
const ops = (m: onnx.IModelProto): string[] => g(m).node!.map((n) => n.opType ?? '');
const castTo = (n: onnx.INodeProto): number => int64(n.attribute?.find((a) => a.name === 'to')?.i);

describe('float32 → float16 values', () => {
  it('rounds the values that matter exactly', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(0.1)).toBe(0x2e66);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65519)).toBe(0x7bff); // below the midpoint to the next (infinite) step
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // IEEE: the midpoint rounds to even, which is infinity
    expect(float32ToFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(float32ToFloat16Bits(2 ** -14)).toBe(0x0400); // smallest normal
    expect(float32ToFloat16Bits(6e-8)).toBe(0x0001); // smallest subnormal, 2^-24 ≈ 5.96e-8
    expect(float32ToFloat16Bits(1e-8)).toBe(0x0000);
    expect(float32ToFloat16Bits(-1e-8)).toBe(0x8000);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // halfway to 2^-24: ties to even (zero)
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // halfway, ties to even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    const nan = float32ToFloat16Bits(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x03ff).not.toBe(0);
    expect(float16BitsToNumber(nan)).toBeNaN();
  });

  it('rounds every float16 value, midpoint and neighbour of a midpoint to the nearest, ties to even', () => {
    const bits = new Float32Array(1);
    const next = (v: number, dir: 1 | -1): number => {
      // The float32 next to v (v > 0).
      bits[0] = v;
      const u = new Uint32Array(bits.buffer);
      u[0] = u[0]! + dir;
      return bits[0];
    };
    const wrong: string[] = [];
    const check = (x: number, want: number): void => {
      const got = float32ToFloat16Bits(x);
      if (got !== want) wrong.push(`${x} → ${got.toString(16)}, want ${want.toString(16)}`);
    };
    for (let h = 0; h < 0x7bff; h++) {
      const v = float16BitsToNumber(h);
      const mid = (v + float16BitsToNumber(h + 1)) / 2; // exact in float32: 12 significant bits
      check(v, h);
      check(-v, h | 0x8000);
      check(mid, h % 2 === 0 ? h : h + 1);
      check(next(mid, -1), h);
      check(next(mid, 1), h + 1);
    }
    expect(wrong).toEqual([]);
  });

  it('clamps tensor values beyond ±65504 and counts values flushed to zero', () => {
    const r = toFloat16Array([1, 65520, -1e6, 1e-8, -1e-9, 6e-8, 0, Infinity, NaN]);
    expect(Array.from(r.bits.slice(0, 8))).toEqual([
      0x3c00, 0x7bff, 0xfbff, 0x0000, 0x8000, 0x0001, 0x0000, 0x7c00,
    ]);
    expect(float16BitsToNumber(r.bits[8]!)).toBeNaN();
    expect(r.clamped).toBe(2);
    expect(r.flushed).toBe(2);
    expect(r.maxAbs).toBe(1e6);
  });
});

describe('convertToFloat16', () => {
  it('converts Conv + Relu + Add: float16 weights, float32 interface, same outputs within float16 tolerance', async () => {
    const source = tinyConvModel();
    const before = onnx.ModelProto.encode(source).finish();
    const { model: m, report } = convertToFloat16(source);
    expect(onnx.ModelProto.encode(source).finish()).toEqual(before); // the caller's model is not changed

    expect(init(m, 'W')!.dataType).toBe(DataType.FLOAT16);
    expect(init(m, 'B')!.dataType).toBe(DataType.FLOAT16);
    const c = g(m).node!.find((n) => n.opType === 'Constant')!;
    expect(c.attribute![0]!.t!.dataType).toBe(DataType.FLOAT16);
    expect(report.convertedInitializers).toBe(3);
    expect(report.convertedNodes).toBe(3);
    expect(report.castsInserted).toBe(2);
    expect(report.keptFloat32).toEqual([]);
    expect(report.clamped).toEqual([]);
    expect(report.bytesAfter * 2).toBe(report.bytesBefore);

    // The interface stays float32: a Cast after the input, one before the output.
    expect(elemTypes(g(m).input)).toEqual([DataType.FLOAT]);
    expect(elemTypes(g(m).output)).toEqual([DataType.FLOAT]);
    expect(g(m).valueInfo![0]!.type!.tensorType!.elemType).toBe(DataType.FLOAT16);
    expect(ops(m)).toEqual(['Cast', 'Conv', 'Relu', 'Constant', 'Add', 'Cast']);
    // Everything else is as it was.
    expect(m.opsetImport).toEqual(source.opsetImport);
    expect(m.metadataProps).toEqual(source.metadataProps);
    expect(m.docString).toBe(source.docString);
    expect(m.producerName).toBe(source.producerName);
    expect(g(m).name).toBe(g(source).name);

    const x = f32(randomFloats(2 * 3 * 8 * 8, 7, 1), [2, 3, 8, 8]);
    const want = await run(source, { x });
    const got = await run(m, { x });
    expectClose(got.y!, want.y!);
  });

  it('with keepIoTypes false the model takes and returns float16', async () => {
    const source = tinyConvModel();
    const { model: m, report } = convertToFloat16(source, { keepIoTypes: false });
    expect(report.castsInserted).toBe(0);
    expect(elemTypes(g(m).input)).toEqual([DataType.FLOAT16]);
    expect(elemTypes(g(m).output)).toEqual([DataType.FLOAT16]);
    const session = await createSession(encodeModel(m));
    try {
      expect(session.inputMetadata.map((v) => (v.isTensor ? v.type : ''))).toEqual(['float16']);
      const x = randomFloats(3 * 8 * 8, 8, 1);
      const x16 = new Uint16Array(toFloat16Array(x).bits);
      const got = await session.run({ x: new ort.Tensor('float16', x16, [1, 3, 8, 8]) });
      expect(got.y!.type).toBe('float16');
      const want = await run(source, { x: f32(x, [1, 3, 8, 8]) });
      const y = Float32Array.from(got.y!.data as Uint16Array, float16BitsToNumber);
      expectClose(new ort.Tensor('float32', y, [...got.y!.dims]), want.y!);
    } finally {
      await session.release();
    }
  });

  it('leaves int64 shape arithmetic and Reshape’s shape alone', async () => {
    // y = Reshape(x · w, concat(shape(x)[0], [-1])): the float data goes float16, the shapes stay int64.
    const source = model({
      opset: 13,
      graph: graph({
        nodes: [
          node('Mul', ['x', 'w'], ['xw']),
          node('Shape', ['x'], ['shape']),
          node('Gather', ['shape', 'zero'], ['n'], { attributes: { axis: attr.int(0) } }),
          node('Unsqueeze', ['n', 'zero1'], ['n1']),
          node('Concat', ['n1', 'minus1'], ['newShape'], { attributes: { axis: attr.int(0) } }),
          node('Reshape', ['xw', 'newShape'], ['y']),
        ],
        inputs: [valueInfo('x', 'float32', ['N', 4, 5])],
        outputs: [valueInfo('y', 'float32', ['N', 20])],
        initializers: [
          tensor('w', 'float32', [5], [1, 2, 3, 4, 5]),
          tensor('zero', 'int64', [], [0]),
          tensor('zero1', 'int64', [1], [0]),
          tensor('minus1', 'int64', [1], [-1]),
        ],
      }),
    });
    const { model: m, report } = convertToFloat16(source);
    for (const name of ['zero', 'zero1', 'minus1']) expect(init(m, name)).toEqual(init(source, name));
    expect(init(m, 'w')!.dataType).toBe(DataType.FLOAT16);
    expect(report.keptFloat32).toEqual([]);
    expect(ops(m)).toEqual(['Cast', 'Mul', 'Shape', 'Gather', 'Unsqueeze', 'Concat', 'Reshape', 'Cast']);
    const x = f32(randomFloats(3 * 20, 3, 2), [3, 4, 5]);
    expectClose((await run(m, { x })).y!, (await run(source, { x })).y!);
  });

  it('keeps float arithmetic on integers float32, so a shape of 4098 does not become 4096', async () => {
    // half = Cast(Cast(shape(x)[1] → float) / 2 → int64); y = Reshape(x, [2, half]) with x of 4098 values.
    const source = model({
      opset: 13,
      graph: graph({
        nodes: [
          node('Shape', ['x'], ['shape']),
          node('Gather', ['shape', 'one'], ['len']),
          node('Cast', ['len'], ['lenF'], { attributes: { to: attr.int(DataType.FLOAT) } }),
          node('Div', ['lenF', 'two'], ['halfF']),
          node('Cast', ['halfF'], ['half'], { attributes: { to: attr.int(DataType.INT64) } }),
          node('Concat', ['two64', 'half'], ['newShape'], { attributes: { axis: attr.int(0) } }),
          node('Reshape', ['x', 'newShape'], ['r']),
          node('Relu', ['r'], ['y']),
        ],
        inputs: [valueInfo('x', 'float32', [1, 'L'])],
        outputs: [valueInfo('y', 'float32', [2, null])],
        initializers: [
          tensor('one', 'int64', [1], [1]),
          tensor('two', 'float32', [], [2]),
          tensor('two64', 'int64', [1], [2]),
        ],
      }),
    });
    const { model: m, report } = convertToFloat16(source);
    expect(report.keptFloat32.map((k) => k.opType)).toEqual(['Div', 'Cast']);
    expect(report.keptFloat32[0]!.reason).toMatch(/float arithmetic on integers/);
    expect(init(m, 'two')!.dataType).toBe(DataType.FLOAT);
    const x = f32(randomFloats(4098, 4, 1), [1, 4098]);
    const got = (await run(m, { x })).y!;
    expect(got.dims).toEqual([2, 2049]);
    expectClose(got, (await run(source, { x })).y!);
  });

  it('keeps a blocked op float32 between Casts, and carries an overflow-prone result on in float32', async () => {
    // y = Exp(x · w) + b: exp(12) = 162755 does not fit float16.
    const source = model({
      opset: 13,
      graph: graph({
        nodes: [
          node('Mul', ['x', 'w'], ['xw'], { name: 'mul' }),
          node('Exp', ['xw'], ['e'], { name: 'exp' }),
          node('Add', ['e', 'b'], ['s'], { name: 'add' }),
          node('Sigmoid', ['xw'], ['sig'], { name: 'sigmoid' }),
          node('Mul', ['sig', 'b'], ['y2'], { name: 'mul2' }),
        ],
        inputs: [valueInfo('x', 'float32', [4])],
        outputs: [valueInfo('s', 'float32', [4]), valueInfo('y2', 'float32', [4])],
        initializers: [tensor('w', 'float32', [4], [1, 2, 3, 4]), tensor('b', 'float32', [4], [1, 1, 1, 1])],
      }),
    });
    const { model: m, report } = convertToFloat16(source);
    expect(DEFAULT_FP16_BLOCK_OPS).toContain('Exp');
    expect(report.keptFloat32.map((k) => k.node)).toEqual(['exp', 'add']);
    expect(report.keptFloat32[1]!.reason).toMatch(/carries on the float32 result of exp/);
    // Cast(x) → Mul → Cast(xw to float32) → Exp → Add; Sigmoid and the second Mul in float16, then a Cast out.
    expect(ops(m)).toEqual(['Cast', 'Mul', 'Cast', 'Exp', 'Add', 'Sigmoid', 'Mul', 'Cast']);
    expect(report.castsInserted).toBe(3);
    // b feeds the float32 Add and the float16 Mul: it is kept as both.
    expect(init(m, 'b')!.dataType).toBe(DataType.FLOAT);
    expect(
      g(m)
        .initializer!.filter((t) => t.dataType === DataType.FLOAT16)
        .map((t) => t.name),
    ).toEqual(['w', 'b_fp16']);

    const x = f32(Float32Array.from([1, 2, 3, 3]), [4]);
    const want = await run(source, { x });
    const got = await run(m, { x });
    expectClose(got.s!, want.s!, 2e-3);
    expectClose(got.y2!, want.y2!, 2e-3);
    expect((got.s!.data as Float32Array)[3]).toBeGreaterThan(65504); // exp(12) + 1, not infinity

    // Without the block list Exp reads float16 and writes float16, which overflows on float16 hardware (onnxruntime's
    // CPU provider has no float16 Exp: it runs such a stretch in float32 and drops the Casts between, hiding it).
    const unblocked = convertToFloat16(source, { blockOps: [] });
    expect(unblocked.report.keptFloat32).toEqual([]);
    expect(ops(unblocked.model)).toEqual(['Cast', 'Mul', 'Exp', 'Add', 'Cast', 'Sigmoid', 'Mul', 'Cast']);
  });

  it('keeps a decomposed LayerNorm’s variance in float32, where x² overflows float16', async () => {
    // (x − mean) / sqrt(mean((x − mean)²) + eps) on values of ±300: the squares (90000) overflow float16.
    const source = model({
      opset: 13,
      graph: graph({
        nodes: [
          node('ReduceMean', ['x'], ['mean'], { attributes: { axes: attr.ints([-1]) } }),
          node('Sub', ['x', 'mean'], ['d']),
          node('Pow', ['d', 'two'], ['d2']),
          node('ReduceMean', ['d2'], ['var'], { attributes: { axes: attr.ints([-1]) } }),
          node('Add', ['var', 'eps'], ['ve']),
          node('Sqrt', ['ve'], ['std']),
          node('Div', ['d', 'std'], ['y']),
        ],
        inputs: [valueInfo('x', 'float32', [2, 8])],
        outputs: [valueInfo('y', 'float32', [2, 8])],
        initializers: [tensor('two', 'float32', [], [2]), tensor('eps', 'float32', [], [1e-5])],
      }),
    });
    const x = f32(
      Float32Array.from({ length: 16 }, (_, i) => (i % 2 ? 300 : -300) + i),
      [2, 8],
    );
    const want = (await run(source, { x })).y!;
    const { model: m, report } = convertToFloat16(source);
    expect(report.keptFloat32.map((k) => k.opType)).toEqual(['Pow', 'ReduceMean', 'Add', 'Sqrt']);
    expectClose((await run(m, { x })).y!, want);
    // Pow's input comes out of the float16 Sub through a Cast; Sqrt's float32 result goes into the float16 Div.
    expect(ops(m)).toEqual([
      'Cast',
      'ReduceMean',
      'Sub',
      'Cast',
      'Pow',
      'ReduceMean',
      'Add',
      'Sqrt',
      'Cast',
      'Div',
      'Cast',
    ]);
  });

  it('keeps nodes named in blockNodes float32, sharing an initializer with a float16 node', async () => {
    // W feeds a float16 MatMul and a float32 Add (blocked by name): stored as float16 and as float32.
    const W = randomFloats(16, 11, 1);
    W[0] = 1 + 2 ** -12; // not a float16 value: the float32 consumer must see it exactly
    const source = model({
      opset: 13,
      graph: graph({
        nodes: [
          node('MatMul', ['x', 'W'], ['xw'], { name: 'mm' }),
          node('Add', ['xw', 'W'], ['y'], { name: 'keepme' }),
          node('Add', ['x', 'W'], ['z'], { name: 'exact' }),
        ],
        inputs: [valueInfo('x', 'float32', [4, 4])],
        outputs: [valueInfo('y', 'float32', [4, 4]), valueInfo('z', 'float32', [4, 4])],
        initializers: [tensor('W', 'float32', [4, 4], W)],
      }),
    });
    const { model: m, report } = convertToFloat16(source, { blockNodes: ['keepme', 'exact'] });
    expect(report.keptFloat32).toEqual([
      { node: 'keepme', opType: 'Add', reason: 'named in blockNodes' },
      { node: 'exact', opType: 'Add', reason: 'named in blockNodes' },
    ]);
    expect(report.convertedInitializers).toBe(1);
    expect(init(m, 'W')!.dataType).toBe(DataType.FLOAT);
    expect(readFloats(init(m, 'W')!)![0]).toBe(Math.fround(1 + 2 ** -12));
    expect(init(m, 'W_fp16')!.dataType).toBe(DataType.FLOAT16);
    expect(g(m).node!.find((n) => n.name === 'mm')!.input).toEqual(['x_fp16', 'W_fp16']);
    expect(ops(m)).toEqual(['Cast', 'MatMul', 'Cast', 'Add', 'Add']);

    const x = f32(randomFloats(16, 12, 1), [4, 4]);
    const want = await run(source, { x });
    const got = await run(m, { x });
    expectClose(got.y!, want.y!);
    expect(got.z!.data).toEqual(want.z!.data); // float32 all the way: bit-exact
  });

  it('keeps Resize scales and roi float32, converts Cast(to=FLOAT), ConstantOfShape, Clip bounds and Pad value', async () => {
    const source = model({
      opset: 13,
      graph: graph({
        nodes: [
          node('Resize', ['x', 'roi', 'scales'], ['up'], {
            attributes: { mode: attr.string('nearest') },
          }),
          node('Greater', ['up', 'zero'], ['pos']),
          node('Cast', ['pos'], ['posF'], { attributes: { to: attr.int(DataType.FLOAT) } }),
          node('Mul', ['up', 'posF'], ['relu']),
          node('Shape', ['relu'], ['shape']),
          node('ConstantOfShape', ['shape'], ['half'], {
            attributes: { value: attr.tensor(tensor('v', 'float32', [1], [0.5])) },
          }),
          node('Add', ['relu', 'half'], ['sum']),
          node('Clip', ['sum', 'lo', 'hi'], ['clipped']),
          node('Pad', ['clipped', 'pads', 'padValue'], ['y']),
        ],
        inputs: [valueInfo('x', 'float32', [1, 1, 2, 3])],
        outputs: [valueInfo('y', 'float32', [1, 1, 4, 8])],
        initializers: [
          tensor('roi', 'float32', [0], []),
          tensor('scales', 'float32', [4], [1, 1, 2, 2]),
          tensor('zero', 'float32', [], [0]),
          tensor('lo', 'float32', [], [0.25]),
          tensor('hi', 'float32', [], [1.5]),
          tensor('pads', 'int64', [8], [0, 0, 0, 1, 0, 0, 0, 1]),
          tensor('padValue', 'float32', [], [-7]),
        ],
      }),
    });
    const { model: m, report } = convertToFloat16(source);
    expect(report.keptFloat32).toEqual([]);
    expect(init(m, 'scales')!.dataType).toBe(DataType.FLOAT);
    expect(init(m, 'roi')!.dataType).toBe(DataType.FLOAT);
    for (const name of ['zero', 'lo', 'hi', 'padValue'])
      expect(init(m, name)!.dataType).toBe(DataType.FLOAT16);
    expect(init(m, 'pads')).toEqual(init(source, 'pads'));
    const nodes = g(m).node!;
    expect(castTo(nodes.find((n) => n.input?.[0] === 'pos')!)).toBe(DataType.FLOAT16);
    const cos = nodes.find((n) => n.opType === 'ConstantOfShape')!;
    expect(cos.attribute![0]!.t!.dataType).toBe(DataType.FLOAT16);
    expect(report.castsInserted).toBe(2);

    const x = f32(Float32Array.from([-1, 0.2, 0.7, 1.4, -0.3, 3]), [1, 1, 2, 3]);
    expectClose((await run(m, { x })).y!, (await run(source, { x })).y!);
  });

  it('reports weights beyond ±65504 (clamped) and tiny ones flushed to zero', () => {
    const source = model({
      graph: graph({
        nodes: [node('Mul', ['x', 'w'], ['y'])],
        inputs: [valueInfo('x', 'float32', [3])],
        outputs: [valueInfo('y', 'float32', [3])],
        initializers: [tensor('w', 'float32', [3], [1e5, 1e-9, 0.5])],
      }),
    });
    const { model: m, report } = convertToFloat16(source);
    expect(report.clamped).toEqual([{ tensor: 'w', count: 1, maxAbs: 1e5, flushed: 1 }]);
    const raw = init(m, 'w')!.rawData!;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    expect([0, 1, 2].map((i) => view.getUint16(i * 2, true))).toEqual([0x7bff, 0x0000, 0x3800]);
  });

  it('keeps If branches float32, with the outer values they read still float32 under their names', async () => {
    const branch = (op: string): onnx.IGraphProto =>
      graph({
        name: op,
        nodes: [node(op, ['h'], [`${op}_out`])],
        inputs: [],
        outputs: [valueInfo(`${op}_out`, 'float32', [4])],
      });
    const source = model({
      opset: 13,
      graph: graph({
        nodes: [
          node('Mul', ['x', 'w'], ['h'], { name: 'mul' }),
          node('If', ['cond'], ['r'], {
            name: 'if',
            attributes: { then_branch: attr.graph(branch('Relu')), else_branch: attr.graph(branch('Neg')) },
          }),
          node('Add', ['r', 'h'], ['y'], { name: 'add' }),
        ],
        inputs: [valueInfo('x', 'float32', [4]), valueInfo('cond', 'bool', [])],
        outputs: [valueInfo('y', 'float32', [4])],
        initializers: [tensor('w', 'float32', [4], [1, -2, 3, -4])],
      }),
    });
    const { model: m, report } = convertToFloat16(source);
    expect(report.keptFloat32).toEqual([
      { node: 'if', opType: 'If', reason: 'it holds subgraphs, which are not converted' },
    ]);
    const mul = g(m).node!.find((n) => n.name === 'mul')!;
    expect(mul.output).toEqual(['h_fp16']); // 'h' itself stays float32 for the branches
    const x = f32(Float32Array.from([0.5, 1, 1.5, 2]), [4]);
    for (const c of [true, false]) {
      const cond = new ort.Tensor('bool', [c], []);
      expectClose((await run(m, { x, cond })).y!, (await run(source, { x, cond })).y!);
    }
  });

  it('keeps ops of other domains float32 and converts around them', () => {
    const source = model({
      opset: [
        { domain: '', version: 13 },
        { domain: 'com.example', version: 1 },
      ],
      graph: graph({
        nodes: [
          node('Relu', ['x'], ['a']),
          node('Custom', ['a'], ['b'], { domain: 'com.example', name: 'custom' }),
          node('Relu', ['b'], ['y']),
        ],
        inputs: [valueInfo('x', 'float32', [2])],
        outputs: [valueInfo('y', 'float32', [2])],
      }),
    });
    const { model: m, report } = convertToFloat16(source);
    // b's type is unknown, so the Relu after the custom op stays float32 as well.
    expect(report.keptFloat32.map((k) => k.node)).toEqual(['custom', 'Relu#2(y)']);
    expect(report.keptFloat32[1]!.reason).toMatch(/element type of b is unknown/);
    expect(ops(m)).toEqual(['Cast', 'Relu', 'Cast', 'Custom', 'Relu']);
    expect(m.opsetImport).toEqual(source.opsetImport);
  });

  it('converts float32 value_float(s) Constants and leaves the model’s functions alone', () => {
    const fn: onnx.IFunctionProto = {
      name: 'F',
      domain: 'local',
      input: ['a'],
      output: ['b'],
      node: [node('Relu', ['a'], ['b'])],
      opsetImport: [{ domain: '', version: 13 }],
    };
    const source = model({
      opset: [
        { domain: '', version: 13 },
        { domain: 'local', version: 1 },
      ],
      functions: [fn],
      graph: graph({
        nodes: [
          node('Constant', [], ['k'], { attributes: { value_floats: attr.floats([0.5, 2]) } }),
          node('Mul', ['x', 'k'], ['y']),
          constant('unused', tensor('unused', 'int64', [1], [7])),
        ],
        inputs: [valueInfo('x', 'float32', [2])],
        outputs: [valueInfo('y', 'float32', [2])],
      }),
    });
    const { model: m, report } = convertToFloat16(source);
    const k = g(m).node!.find((n) => n.output?.[0] === 'k')!;
    expect(k.attribute).toHaveLength(1);
    expect(k.attribute![0]!.name).toBe('value');
    expect(k.attribute![0]!.t!.dataType).toBe(DataType.FLOAT16);
    expect(report.convertedInitializers).toBe(1);
    expect(onnx.FunctionProto.encode(m.functions[0]!).finish()).toEqual(
      onnx.FunctionProto.encode(source.functions[0]!).finish(),
    );
  });

  it('rejects a model without a graph', () => {
    const bad = { irVersion: 8, opsetImport: [{ domain: '', version: 17 }] };
    expect(() => convertToFloat16(bad)).toThrow(AppError);
    try {
      convertToFloat16(bad);
    } catch (err) {
      expect((err as AppError).code).toBe('MODEL_MALFORMED');
      expect((err as AppError).message).toMatch(/no graph/);
      expect((err as AppError).hint).toBeTruthy();
    }
  });
});

describe('float16 storage of float32 weights', () => {
  /** Conv (weights [8,4,3,3], 288 values) → MatMul with a huge constant and one with tiny values. */
  function storageModel(): onnx.ModelProto {
    return model({
      opset: 13,
      graph: graph({
        name: 'storage',
        nodes: [
          node('Conv', ['x', 'W', 'B'], ['c'], {
            name: 'conv',
            attributes: { pads: attr.ints([1, 1, 1, 1]) },
          }),
          node('Reshape', ['c', 'shape'], ['flat']),
          node('MatMul', ['flat', 'Big'], ['y']),
          node('MatMul', ['flat', 'Tiny'], ['z']),
        ],
        inputs: [valueInfo('x', 'float32', [1, 4, 4, 4])],
        outputs: [valueInfo('y', 'float32', [1, 2]), valueInfo('z', 'float32', [1, 2])],
        initializers: [
          tensor('W', 'float32', [8, 4, 3, 3], randomFloats(288, 3)),
          tensor('B', 'float32', [8], randomFloats(8, 4)),
          tensor('shape', 'int64', [2], [1, 128]),
          tensor(
            'Big',
            'float32',
            [128, 2],
            Float32Array.from({ length: 256 }, (_, i) => (i === 7 ? 1e6 : i)),
          ),
          tensor(
            'Tiny',
            'float32',
            [128, 2],
            Float32Array.from({ length: 256 }, (_, i) => 1e-7 * (i + 1)),
          ),
        ],
      }),
    });
  }

  it('halves the large weights, keeps what float16 cannot hold, and computes the same in onnxruntime', async () => {
    const source = storageModel();
    const r = storeWeightsAsFloat16(source, { minElements: 100 });
    // W moves to float16 behind a Cast; B is too small, Big overflows float16, Tiny would be flushed to zero.
    expect(r.tensors).toEqual(['W']);
    expect(init(r.model, 'W')).toBeUndefined();
    expect(init(r.model, 'W_float16')?.dataType).toBe(DataType.FLOAT16);
    const cast = g(r.model).node![0]!;
    expect(cast.opType).toBe('Cast');
    expect(cast.output).toEqual(['W']);
    expect(castTo(cast)).toBe(DataType.FLOAT);
    expect(r.bytesAfter).toBe(r.bytesBefore - 288 * 2);
    // The input model is untouched.
    expect(init(source, 'W')?.dataType).toBe(DataType.FLOAT);

    const x = f32(
      Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)),
      [1, 4, 4, 4],
    );
    const want = await run(source, { x });
    for (const level of ['disabled', 'all'] as const) {
      const session = await createSession(encodeModel(r.model), { graphOptimizationLevel: level });
      try {
        const got = await session.run({ x });
        expectClose(got.y!, want.y!, 1e-3);
        expectClose(got.z!, want.z!, 1e-3);
      } finally {
        await session.release();
      }
    }
  });

  it('leaves weights read by Q/DQ nodes and graph inputs alone', () => {
    const m = tinyConvModel();
    g(m).input!.push(valueInfo('W', 'float32', [4, 3, 3, 3]));
    expect(storeWeightsAsFloat16(m, { minElements: 1 }).tensors).toEqual(['B']);
    const q = model({
      opset: 13,
      graph: graph({
        name: 'q',
        nodes: [node('QuantizeLinear', ['x', 's', 'zp'], ['y'])],
        inputs: [valueInfo('x', 'float32', [2048])],
        outputs: [valueInfo('y', 'uint8', [2048])],
        initializers: [
          tensor('s', 'float32', [2048], new Float32Array(2048).fill(0.5)),
          tensor('zp', 'uint8', [2048], new Uint8Array(2048)),
        ],
      }),
    });
    expect(storeWeightsAsFloat16(q).tensors).toEqual([]);
  });
});
