import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { randomFloats } from '../../test/fixtures/models/synthetic.js';
import { attr, graph, model, node, tensor, valueInfo, type Dim, type ElemType } from '../onnx/builder.js';
import { encodeModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import { onnx } from '../onnx/schema.js';
import { DataType, int64 } from '../onnx/tensors.js';
import { upgradeOpset, type UpgradeOpsetReport } from './opset.js';

type Feeds = Record<string, ort.Tensor>;
type Outputs = Record<string, ort.Tensor['data']>;

async function run(m: onnx.IModelProto, feeds: Feeds): Promise<Outputs> {
  const session = await createSession(encodeModel(m), {
    graphOptimizationLevel: 'disabled',
    logSeverityLevel: 3,
  });
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data]));
  } finally {
    await session.release();
  }
}

function floats(dims: readonly number[], seed: number, scale = 2): ort.Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return new ort.Tensor('float32', randomFloats(n, seed, scale), [...dims]);
}

/** Runs the model before and after the upgrade on the same feeds; outputs must match within 1e-6. */
async function expectSameOutputs(
  src: onnx.IModelProto,
  feeds: Feeds,
  target = 13,
): Promise<UpgradeOpsetReport> {
  const { model: upgraded, report } = upgradeOpset(src, target);
  const want = await run(src, feeds);
  const got = await run(upgraded, feeds);
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) {
    const a = Array.from(want[k] as ArrayLike<number | bigint>);
    const b = Array.from(got[k] as ArrayLike<number | bigint>);
    expect(b.length, k).toBe(a.length);
    if (typeof a[0] === 'bigint') expect(b, k).toEqual(a);
    else
      for (let i = 0; i < a.length; i++)
        expect(Math.abs(Number(b[i]) - Number(a[i])), `${k}[${i}]`).toBeLessThanOrEqual(1e-6);
  }
  return report;
}

interface Io {
  name: string;
  type?: ElemType;
  shape: readonly Dim[];
}

/** A one-graph model at `opset`, float32 unless an I/O says otherwise. */
function build(
  opset: number,
  nodes: onnx.INodeProto[],
  inputs: Io[],
  outputs: Io[],
  extra: {
    initializers?: onnx.ITensorProto[];
    irVersion?: number;
    opsets?: { domain: string; version: number }[];
  } = {},
): onnx.ModelProto {
  return model({
    opset: extra.opsets ?? opset,
    ...(extra.irVersion !== undefined ? { irVersion: extra.irVersion } : {}),
    graph: graph({
      nodes,
      inputs: inputs.map((v) => valueInfo(v.name, v.type ?? 'float32', v.shape)),
      outputs: outputs.map((v) => valueInfo(v.name, v.type ?? 'float32', v.shape)),
      ...(extra.initializers ? { initializers: extra.initializers } : {}),
    }),
  });
}

const defaultOpset = (m: onnx.IModelProto): number =>
  int64((m.opsetImport ?? []).find((o) => !o.domain)?.version);
const opTypes = (m: onnx.IModelProto): string[] => (m.graph?.node ?? []).map((n) => n.opType ?? '');
const attrNames = (n: onnx.INodeProto): string[] => (n.attribute ?? []).map((a) => a.name ?? '');
const init = (m: onnx.IModelProto, name: string): onnx.ITensorProto | undefined =>
  (m.graph?.initializer ?? []).find((t) => t.name === name);
const int64Values = (t: onnx.ITensorProto): bigint[] => {
  const raw = t.rawData!;
  return Array.from(new BigInt64Array(raw.slice().buffer));
};

function expectMalformed(fn: () => unknown, ...patterns: RegExp[]): AppError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    const e = err as AppError;
    expect(e.code).toBe('MODEL_MALFORMED');
    for (const p of patterns) expect(e.message).toMatch(p);
    expect(e.hint).toBeTruthy();
    return e;
  }
  throw new Error('expected a MODEL_MALFORMED error');
}

describe('upgradeOpset: attribute → input rewrites (opset 9 → 13, same outputs in onnxruntime)', () => {
  it('Slice: starts/ends/axes → int64 initializers, INT64_MAX ends kept exactly', async () => {
    const src = build(
      9,
      [
        node('Slice', ['x'], ['y'], {
          name: 'slice',
          attributes: {
            starts: attr.ints([1, -3]),
            // INT64_MAX ("to the end"), which a double cannot hold: fromObject parses it into a Long.
            ends: onnx.AttributeProto.fromObject({
              type: onnx.AttributeProto.AttributeType.INTS,
              ints: ['9223372036854775807', '-1'],
            }),
            axes: attr.ints([1, 3]),
          },
        }),
        node('Slice', ['x'], ['z'], {
          name: 'slice_noaxes',
          attributes: { starts: attr.ints([0, 1]), ends: attr.ints([1, 3]) },
        }),
      ],
      [{ name: 'x', shape: [2, 4, 3, 6] }],
      [
        { name: 'y', shape: [2, 3, 3, 2] },
        { name: 'z', shape: [1, 2, 3, 6] },
      ],
    );
    const report = await expectSameOutputs(src, { x: floats([2, 4, 3, 6], 1) });
    expect(report.from).toBe(9);
    expect(report.to).toBe(13);
    expect(report.rewritten.map((r) => [r.node, r.opType])).toEqual([
      ['slice', 'Slice'],
      ['slice_noaxes', 'Slice'],
    ]);
    const { model: m } = upgradeOpset(src);
    const [slice, noAxes] = m.graph!.node!;
    expect(slice!.input).toEqual(['x', 'slice_starts', 'slice_ends', 'slice_axes']);
    expect(slice!.attribute ?? []).toEqual([]);
    expect(noAxes!.input).toHaveLength(3);
    expect(int64Values(init(m, 'slice_ends')!)).toEqual([9223372036854775807n, -1n]);
    expect(int64Values(init(m, 'slice_starts')!)).toEqual([1n, -3n]);
  });

  it('Clip: min/max → float inputs, an absent min left empty, no attributes → no inputs', async () => {
    const src = build(
      9,
      [
        node('Clip', ['x'], ['both'], {
          name: 'both',
          attributes: { min: attr.float(-0.5), max: attr.float(0.75) },
        }),
        node('Clip', ['x'], ['max_only'], { name: 'max_only', attributes: { max: attr.float(0.25) } }),
        node('Clip', ['x'], ['min_only'], { name: 'min_only', attributes: { min: attr.float(0.1) } }),
        node('Clip', ['x'], ['none'], { name: 'none' }),
      ],
      [{ name: 'x', shape: [3, 5] }],
      ['both', 'max_only', 'min_only', 'none'].map((name) => ({ name, shape: [3, 5] })),
    );
    await expectSameOutputs(src, { x: floats([3, 5], 2) });
    const { model: m } = upgradeOpset(src);
    const [both, maxOnly, minOnly, none] = m.graph!.node!;
    expect(both!.input).toEqual(['x', 'both_min', 'both_max']);
    expect(maxOnly!.input).toEqual(['x', '', 'max_only_max']);
    expect(minOnly!.input).toEqual(['x', 'min_only_min']);
    expect(none!.input).toEqual(['x']);
    expect(init(m, 'both_min')).toMatchObject({ dataType: DataType.FLOAT, dims: [] });
  });

  it('Clip: the new inputs take the element type of a float64 or float16 input', () => {
    for (const [type, dataType, bytes] of [
      ['float64', DataType.DOUBLE, 8],
      ['float16', DataType.FLOAT16, 2],
    ] as const) {
      const src = build(
        9,
        [
          node('Clip', ['x'], ['y'], {
            name: 'c',
            attributes: { min: attr.float(-1.5), max: attr.float(2) },
          }),
        ],
        [{ name: 'x', type, shape: [4] }],
        [{ name: 'y', type, shape: [4] }],
      );
      const { model: m } = upgradeOpset(src);
      expect(init(m, 'c_min')).toMatchObject({ dataType, dims: [] });
      expect(init(m, 'c_min')!.rawData!.length).toBe(bytes);
    }
    // -1.5 in IEEE half precision.
    const half = upgradeOpset(
      build(
        9,
        [node('Clip', ['x'], ['y'], { name: 'c', attributes: { min: attr.float(-1.5) } })],
        [{ name: 'x', type: 'float16', shape: [4] }],
        [{ name: 'y', type: 'float16', shape: [4] }],
      ),
    ).model;
    expect(Array.from(new Uint16Array(init(half, 'c_min')!.rawData!.slice().buffer))).toEqual([0xbe00]);
  });

  it('Pad: pads → int64 input, value → constant_value; reflect mode keeps no value', async () => {
    const src = build(
      9,
      [
        node('Pad', ['x'], ['c'], {
          name: 'pad_const',
          attributes: { pads: attr.ints([0, 1, 2, 0, 2, 1]), value: attr.float(1.5) },
        }),
        node('Pad', ['x'], ['r'], {
          name: 'pad_reflect',
          attributes: { pads: attr.ints([0, 1, 1, 0, 1, 2]), mode: attr.string('reflect') },
        }),
        node('Pad', ['x'], ['z'], { name: 'pad_zero', attributes: { pads: attr.ints([1, 0, 0, 0, 0, 1]) } }),
      ],
      [{ name: 'x', shape: [2, 3, 4] }],
      [
        { name: 'c', shape: [2, 5, 7] },
        { name: 'r', shape: [2, 5, 7] },
        { name: 'z', shape: [3, 3, 5] },
      ],
    );
    await expectSameOutputs(src, { x: floats([2, 3, 4], 3) });
    const { model: m } = upgradeOpset(src);
    const [c, r, z] = m.graph!.node!;
    expect(c!.input).toEqual(['x', 'pad_const_pads', 'pad_const_value']);
    expect(r!.input).toEqual(['x', 'pad_reflect_pads']);
    expect(attrNames(r!)).toEqual(['mode']);
    expect(z!.input).toEqual(['x', 'pad_zero_pads']);
  });

  it('Squeeze, Unsqueeze, Split, ReduceSum: axes/split → int64 inputs', async () => {
    const src = build(
      9,
      [
        node('Squeeze', ['x'], ['sq'], { name: 'squeeze', attributes: { axes: attr.ints([0, 2]) } }),
        node('Squeeze', ['x'], ['sq_all'], { name: 'squeeze_all' }),
        node('Unsqueeze', ['sq'], ['unsq'], { name: 'unsqueeze', attributes: { axes: attr.ints([0, 3]) } }),
        node('Split', ['sq'], ['s0', 's1'], {
          name: 'split',
          attributes: { axis: attr.int(1), split: attr.ints([2, 3]) },
        }),
        node('Split', ['sq'], ['e0', 'e1'], { name: 'split_even', attributes: { axis: attr.int(0) } }),
        node('ReduceSum', ['x'], ['rs'], {
          name: 'reducesum',
          attributes: { axes: attr.ints([1, -1]), keepdims: attr.int(0) },
        }),
        node('ReduceSum', ['x'], ['rs_all'], { name: 'reducesum_all' }),
      ],
      [{ name: 'x', shape: [1, 4, 1, 5] }],
      [
        { name: 'sq', shape: [4, 5] },
        { name: 'sq_all', shape: [4, 5] },
        { name: 'unsq', shape: [1, 4, 5, 1] },
        { name: 's0', shape: [4, 2] },
        { name: 's1', shape: [4, 3] },
        { name: 'e0', shape: [2, 5] },
        { name: 'e1', shape: [2, 5] },
        { name: 'rs', shape: [1, 1] },
        { name: 'rs_all', shape: [1, 1, 1, 1] },
      ],
    );
    const report = await expectSameOutputs(src, { x: floats([1, 4, 1, 5], 4) });
    expect(report.rewritten.map((r) => r.node)).toEqual(['squeeze', 'unsqueeze', 'split', 'reducesum']);
    const { model: m } = upgradeOpset(src);
    const byName = new Map(m.graph!.node!.map((n) => [n.name, n]));
    expect(byName.get('squeeze')!.input).toEqual(['x', 'squeeze_axes']);
    expect(byName.get('squeeze_all')!.input).toEqual(['x']);
    expect(byName.get('unsqueeze')!.input).toEqual(['sq', 'unsqueeze_axes']);
    expect(byName.get('split')!.input).toEqual(['sq', 'split_split']);
    expect(attrNames(byName.get('split')!)).toEqual(['axis']);
    expect(byName.get('reducesum')!.input).toEqual(['x', 'reducesum_axes']);
    expect(attrNames(byName.get('reducesum')!)).toEqual(['keepdims']);
    expect(int64Values(init(m, 'reducesum_axes')!)).toEqual([1n, -1n]);
  });

  it('TopK: k → int64 K input', async () => {
    const src = build(
      9,
      [node('TopK', ['x'], ['v', 'i'], { name: 'topk', attributes: { k: attr.int(3), axis: attr.int(1) } })],
      [{ name: 'x', shape: [2, 7, 3] }],
      [
        { name: 'v', shape: [2, 3, 3] },
        { name: 'i', type: 'int64', shape: [2, 3, 3] },
      ],
    );
    await expectSameOutputs(src, { x: floats([2, 7, 3], 5) });
    const { model: m } = upgradeOpset(src);
    expect(m.graph!.node![0]!.input).toEqual(['x', 'topk_k']);
    expect(init(m, 'topk_k')).toMatchObject({ dims: [1] });
    expect(int64Values(init(m, 'topk_k')!)).toEqual([3n]);
  });

  it('Dropout: ratio → input; Scatter → ScatterElements', async () => {
    const src = build(
      9,
      [
        node('Dropout', ['x'], ['d'], { name: 'dropout', attributes: { ratio: attr.float(0.3) } }),
        node('Scatter', ['d', 'idx', 'upd'], ['y'], { name: 'scatter', attributes: { axis: attr.int(1) } }),
      ],
      [{ name: 'x', shape: [2, 4] }],
      [{ name: 'y', shape: [2, 4] }],
      {
        initializers: [
          tensor('idx', 'int64', [2, 2], [3, 0, 1, 2]),
          tensor('upd', 'float32', [2, 2], [10, 20, 30, 40]),
        ],
      },
    );
    await expectSameOutputs(src, { x: floats([2, 4], 6) });
    const { model: m } = upgradeOpset(src);
    expect(opTypes(m)).toEqual(['Dropout', 'ScatterElements']);
    expect(m.graph!.node![0]!.input).toEqual(['x', 'dropout_ratio']);
  });
});

describe('upgradeOpset: Softmax family (2-D coercion before opset 13)', () => {
  const shape = [2, 3, 4, 5] as const;

  it('a middle axis of a rank-4 input becomes Shape → Flatten → op(axis=1) → Reshape, exactly', async () => {
    const src = build(
      9,
      [
        node('Softmax', ['x'], ['sm'], { name: 'softmax', attributes: { axis: attr.int(2) } }),
        node('LogSoftmax', ['x'], ['lsm'], { name: 'logsoftmax' }), // default axis 1
        node('Hardmax', ['x'], ['hm'], { name: 'hardmax', attributes: { axis: attr.int(1) } }),
      ],
      [{ name: 'x', shape }],
      ['sm', 'lsm', 'hm'].map((name) => ({ name, shape })),
    );
    const report = await expectSameOutputs(src, { x: floats(shape, 7, 4) });
    expect(report.rewritten.map((r) => r.opType)).toEqual(['Softmax', 'LogSoftmax', 'Hardmax']);
    expect(report.rewritten[0]!.change).toMatch(/Flatten\(axis=2\)/);
    const { model: m } = upgradeOpset(src);
    expect(opTypes(m)).toEqual([
      ...['Shape', 'Flatten', 'Softmax', 'Reshape'],
      ...['Shape', 'Flatten', 'LogSoftmax', 'Reshape'],
      ...['Shape', 'Flatten', 'Hardmax', 'Reshape'],
    ]);
    const reshape = m.graph!.node![3]!;
    expect(reshape.output).toEqual(['sm']);
    expect(m.graph!.node![2]!.name).toBe('softmax');
  });

  it('the last axis (known rank, or -1) just becomes axis=-1', async () => {
    const src = build(
      9,
      [
        node('Softmax', ['x'], ['sm'], { name: 'softmax', attributes: { axis: attr.int(3) } }),
        node('LogSoftmax', ['x'], ['lsm'], { name: 'logsoftmax', attributes: { axis: attr.int(-1) } }),
        // Rank known only through inference: Transpose's perm has 4 entries.
        node('Transpose', ['x'], ['t'], { attributes: { perm: attr.ints([0, 2, 1, 3]) } }),
        node('Softmax', ['t'], ['smt'], { name: 'softmax_t', attributes: { axis: attr.int(3) } }),
      ],
      [{ name: 'x', shape }],
      [
        { name: 'sm', shape },
        { name: 'lsm', shape },
        { name: 'smt', shape: [2, 4, 3, 5] },
      ],
    );
    const report = await expectSameOutputs(src, { x: floats(shape, 8, 4) });
    expect(report.rewritten.map((r) => r.change)).toEqual([
      'axis 3 is the last axis of rank 4: axis=-1',
      'axis -1 is the last axis of rank 4: axis=-1',
      'axis 3 is the last axis of rank 4: axis=-1',
    ]);
    const { model: m } = upgradeOpset(src);
    expect(opTypes(m)).toEqual(['Softmax', 'LogSoftmax', 'Transpose', 'Softmax']);
    for (const n of m.graph!.node!.filter((x) => x.opType !== 'Transpose'))
      expect(int64((n.attribute ?? []).find((a) => a.name === 'axis')!.i)).toBe(-1);
  });

  it('an unknown rank takes the exact (Flatten) route', async () => {
    const src = build(
      9,
      [node('Softmax', ['x'], ['sm'], { name: 'softmax', attributes: { axis: attr.int(1) } })],
      [{ name: 'x', shape: [2, 6] }],
      [{ name: 'sm', shape: [2, 6] }],
    );
    src.graph!.input![0]!.type!.tensorType!.shape = null;
    await expectSameOutputs(src, { x: floats([2, 6], 9) });
    expect(opTypes(upgradeOpset(src).model)).toEqual(['Shape', 'Flatten', 'Softmax', 'Reshape']);
  });
});

describe('upgradeOpset: Resize and Upsample', () => {
  const x = floats([1, 2, 3, 4], 10);
  const resize10 = (scales: number[], mode: string, shape: Dim[] = [1, 2, 3, 4]): onnx.ModelProto =>
    build(
      10,
      [node('Resize', ['x', 'scales'], ['y'], { name: 'resize', attributes: { mode: attr.string(mode) } })],
      [{ name: 'x', shape }],
      [{ name: 'y', shape: [null, null, null, null] }],
      { initializers: [tensor('scales', 'float32', [4], scales)] },
    );

  it('Resize-10 nearest upsampling → roi empty, asymmetric, nearest_mode=floor', async () => {
    const src = resize10([1, 1, 2, 2.5], 'nearest');
    const report = await expectSameOutputs(src, { x });
    expect(report.rewritten[0]!.change).toMatch(/asymmetric, nearest_mode=floor/);
    const n = upgradeOpset(src).model.graph!.node![0]!;
    expect(n.input).toEqual(['x', '', 'scales']);
  });

  it('Resize-10 nearest downsampling → nearest_mode=ceil (onnxruntime rounds those up)', async () => {
    const src = resize10([1, 1, 0.5, 0.6], 'nearest', [1, 2, 7, 9]);
    const report = await expectSameOutputs(src, { x: floats([1, 2, 7, 9], 11) });
    expect(report.rewritten[0]!.change).toMatch(/nearest_mode=ceil/);
  });

  it('Resize-10 linear → asymmetric linear', async () => {
    await expectSameOutputs(resize10([1, 1, 1.5, 2], 'linear'), { x });
  });

  it('Resize-10 to opset 11 gets an empty roi tensor (roi is required before 13)', async () => {
    const src = resize10([1, 1, 2, 2], 'nearest');
    await expectSameOutputs(src, { x }, 11);
    const m = upgradeOpset(src, 11).model;
    const roi = m.graph!.node![0]!.input![1]!;
    expect(init(m, roi)).toMatchObject({ dataType: DataType.FLOAT, dims: [0] });
  });

  it('Resize-10 nearest with scales on both sides of 1, or not constant, is refused', () => {
    expectMalformed(() => upgradeOpset(resize10([1, 1, 2, 0.5], 'nearest')), /Resize 'resize'/);
    const dynamic = build(
      10,
      [node('Resize', ['x', 's'], ['y'], { name: 'dyn' })],
      [
        { name: 'x', shape: [1, 2, 3, 4] },
        { name: 's', shape: [4] },
      ],
      [{ name: 'y', shape: [null, null, null, null] }],
    );
    expectMalformed(() => upgradeOpset(dynamic), /Resize 'dyn'.*non-constant scales/);
  });

  it('Upsample-9 (scales input) and Upsample-7 (scales attribute) → Resize', async () => {
    for (const mode of ['nearest', 'linear']) {
      const up9 = build(
        9,
        [node('Upsample', ['x', 'scales'], ['y'], { name: 'up', attributes: { mode: attr.string(mode) } })],
        [{ name: 'x', shape: [1, 2, 3, 4] }],
        [{ name: 'y', shape: [1, 2, 6, 12] }],
        { initializers: [tensor('scales', 'float32', [4], [1, 1, 2, 3])] },
      );
      const r9 = await expectSameOutputs(up9, { x });
      expect(r9.rewritten[0]).toMatchObject({ node: 'up', opType: 'Upsample' });
      expect(opTypes(upgradeOpset(up9).model)).toEqual(['Resize']);

      const up7 = build(
        8,
        [
          node('Upsample', ['x'], ['y'], {
            name: 'up',
            attributes: { mode: attr.string(mode), scales: attr.floats([1, 1, 2, 2]) },
          }),
        ],
        [{ name: 'x', shape: [1, 2, 3, 4] }],
        [{ name: 'y', shape: [1, 2, 6, 8] }],
      );
      await expectSameOutputs(up7, { x });
      const m7 = upgradeOpset(up7).model;
      expect(m7.graph!.node![0]!.input).toEqual(['x', '', 'up_scales']);
    }
  });
});

describe('upgradeOpset: subgraphs, names, other domains, versions', () => {
  it('rewrites If branches too', async () => {
    const branch = (name: string, axis: number): onnx.IGraphProto =>
      graph({
        name,
        nodes: [
          node('Unsqueeze', ['x'], [`${name}_u`], {
            name: `${name}_unsq`,
            attributes: { axes: attr.ints([0]) },
          }),
          node('Softmax', [`${name}_u`], [`${name}_out`], {
            name: `${name}_sm`,
            attributes: { axis: attr.int(axis) },
          }),
        ],
        inputs: [],
        outputs: [valueInfo(`${name}_out`, 'float32', [1, 3, 4])],
      });
    const src = build(
      9,
      [
        node('If', ['cond'], ['y'], {
          name: 'if',
          attributes: {
            then_branch: attr.graph(branch('then', 1)),
            else_branch: attr.graph(branch('else', 2)),
          },
        }),
      ],
      [
        { name: 'cond', type: 'bool', shape: [] },
        { name: 'x', shape: [3, 4] },
      ],
      [{ name: 'y', shape: [1, 3, 4] }],
    );
    const x = floats([3, 4], 12);
    for (const c of [true, false]) await expectSameOutputs(src, { cond: new ort.Tensor('bool', [c], []), x });
    const report = upgradeOpset(src).report;
    expect(report.rewritten.map((r) => r.node).sort()).toEqual([
      'else_sm',
      'else_unsq',
      'then_sm',
      'then_unsq',
    ]);
    const thenGraph = upgradeOpset(src).model.graph!.node![0]!.attribute!.find(
      (a) => a.name === 'then_branch',
    )!.g!;
    expect((thenGraph.initializer ?? []).map((t) => t.name)).toEqual(['then_unsq_axes']);
    expect(thenGraph.node!.map((n) => n.opType)).toEqual([
      'Unsqueeze',
      'Shape',
      'Flatten',
      'Softmax',
      'Reshape',
    ]);
  });

  it('new names never collide; the input model is left as it was', () => {
    const src = build(
      9,
      [
        node('Identity', ['x'], ['sq_axes'], { name: 'id' }),
        node('Squeeze', ['sq_axes'], ['y'], { name: 'sq', attributes: { axes: attr.ints([0]) } }),
      ],
      [{ name: 'x', shape: [1, 3] }],
      [{ name: 'y', shape: [3] }],
    );
    const before = encodeModel(src);
    const { model: m } = upgradeOpset(src);
    expect(m.graph!.node![1]!.input).toEqual(['sq_axes', 'sq_axes_1']);
    expect(encodeModel(src)).toEqual(before);
  });

  it('bumps the default opset and the IR version only; ai.onnx.ml imports stay', () => {
    const src = build(
      9,
      [node('Relu', ['x'], ['y'])],
      [{ name: 'x', shape: [2] }],
      [{ name: 'y', shape: [2] }],
      {
        irVersion: 4,
        opsets: [
          { domain: '', version: 9 },
          { domain: 'ai.onnx.ml', version: 1 },
        ],
      },
    );
    const { model: m, report } = upgradeOpset(src);
    expect(report).toEqual({ from: 9, to: 13, rewritten: [] });
    expect(int64(m.irVersion)).toBe(7);
    expect((m.opsetImport ?? []).map((o) => [o.domain, int64(o.version)])).toEqual([
      ['', 13],
      ['ai.onnx.ml', 1],
    ]);
  });

  it('a model already at or past the target comes back unchanged (as a copy)', () => {
    for (const opset of [13, 17]) {
      const src = build(
        opset,
        [node('Softmax', ['x'], ['y'], { attributes: { axis: attr.int(1) } })],
        [{ name: 'x', shape: [2, 3, 4] }],
        [{ name: 'y', shape: [2, 3, 4] }],
      );
      const { model: m, report } = upgradeOpset(src);
      expect(report).toEqual({ from: opset, to: opset, rewritten: [] });
      expect(m).not.toBe(src);
      expect(encodeModel(m)).toEqual(encodeModel(src));
      expect(defaultOpset(m)).toBe(opset);
    }
  });

  it('an upgrade to an intermediate opset converts only what changed up to it', async () => {
    const src = build(
      9,
      [
        node('Clip', ['x'], ['c'], { name: 'clip', attributes: { min: attr.float(0), max: attr.float(6) } }),
        node('Unsqueeze', ['c'], ['y'], { name: 'unsq', attributes: { axes: attr.ints([0]) } }),
      ],
      [{ name: 'x', shape: [4] }],
      [{ name: 'y', shape: [1, 4] }],
    );
    const report = await expectSameOutputs(src, { x: floats([4], 13, 8) }, 12);
    expect(report.rewritten.map((r) => r.node)).toEqual(['clip']);
    expect(defaultOpset(upgradeOpset(src, 12).model)).toBe(12);
  });
});

describe('upgradeOpset: refusals', () => {
  it('names unconverted changed operators and their nodes (MODEL_MALFORMED)', () => {
    const src = build(
      9,
      [
        node('OneHot', ['idx', 'depth', 'values'], ['oh'], { name: 'onehot_1' }),
        node('ConvTranspose', ['x', 'w'], ['ct'], {
          name: 'deconv',
          attributes: { auto_pad: attr.string('SAME_UPPER') },
        }),
        node('ImageScaler', ['x'], ['is'], { name: 'scaler', attributes: { scale: attr.float(2) } }),
      ],
      [
        { name: 'idx', type: 'int64', shape: [3] },
        { name: 'x', shape: [1, 1, 4, 4] },
      ],
      [
        { name: 'oh', shape: [3, 4] },
        { name: 'ct', shape: [1, 1, 4, 4] },
        { name: 'is', shape: [1, 1, 4, 4] },
      ],
      {
        initializers: [
          tensor('depth', 'int64', [], [4]),
          tensor('values', 'float32', [2], [0, 1]),
          tensor('w', 'float32', [1, 1, 3, 3], new Array<number>(9).fill(1)),
        ],
      },
    );
    const e = expectMalformed(
      () => upgradeOpset(src),
      /OneHot, ConvTranspose, ImageScaler/,
      /'onehot_1'/,
      /'deconv'/,
      /'scaler'/,
    );
    expect(e.message).toMatch(/opset 9 to 13/);
  });

  it('refuses BatchNormalization spatial=0 and a used Dropout mask, accepts spatial=1 and an unused mask', async () => {
    const bn = (spatial: number): onnx.ModelProto =>
      build(
        8,
        [
          node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y'], {
            name: 'bn',
            attributes: { spatial: attr.int(spatial) },
          }),
        ],
        [{ name: 'x', shape: [1, 2, 3] }],
        [{ name: 'y', shape: [1, 2, 3] }],
        { initializers: ['s', 'b', 'm', 'v'].map((n) => tensor(n, 'float32', [2], [1, 1])) },
      );
    expectMalformed(() => upgradeOpset(bn(0)), /BatchNormalization 'bn'.*spatial=0/);
    const ok = await expectSameOutputs(bn(1), { x: floats([1, 2, 3], 14) });
    expect(ok.rewritten[0]!.change).toMatch(/spatial=1 attribute dropped/);
    expect(attrNames(upgradeOpset(bn(1)).model.graph!.node![0]!)).toEqual([]);

    const drop = (maskUsed: boolean): onnx.ModelProto =>
      build(
        9,
        [node('Dropout', ['x'], ['y', 'mask'], { name: 'drop' })],
        [{ name: 'x', shape: [2] }],
        [{ name: 'y', shape: [2] }, ...(maskUsed ? [{ name: 'mask', shape: [2] }] : [])],
      );
    expectMalformed(() => upgradeOpset(drop(true)), /Dropout 'drop'.*mask/);
    expect(upgradeOpset(drop(false)).model.graph!.node![0]!.output).toEqual(['y']);
  });

  it('refuses opsets below 7 and targets it cannot reach', () => {
    const old = build(
      6,
      [node('Relu', ['x'], ['y'])],
      [{ name: 'x', shape: [2] }],
      [{ name: 'y', shape: [2] }],
    );
    expectMalformed(() => upgradeOpset(old), /opset 6/);
    expect(() => upgradeOpset(old, 14)).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }) as Error);
  });
});
