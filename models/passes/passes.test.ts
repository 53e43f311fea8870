import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { randomFloats } from '../../test/fixtures/models/synthetic.js';
import { attr, constant, graph, model, node, tensor, valueInfo, type AttrValue } from '../onnx/builder.js';
import { encodeModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import type { onnx } from '../onnx/schema.js';
import {
  cleanupGraph,
  foldConstantNodes,
  fuseBatchNormIntoConv,
  removeIdentityAndDeadNodes,
} from './cleanup.js';

type Feeds = Record<string, ort.Tensor>;

async function run(m: onnx.IModelProto, feeds: Feeds, level: 'disabled' | 'basic' = 'disabled') {
  const session = await createSession(encodeModel(m), { graphOptimizationLevel: level, logSeverityLevel: 3 });
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** max |a − b| / max |b|. */
function relError(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return diff / scale;
}

const ops = (m: onnx.IModelProto): string[] => (m.graph?.node ?? []).map((n) => n.opType ?? '');

describe('foldConstantNodes', () => {
  const thenBranch = graph({
    name: 'then',
    nodes: [
      constant('inner', tensor('inner', 'float32', [1], [2])),
      node('Mul', ['shared', 'inner'], ['t_out']),
    ],
    inputs: [],
    outputs: [valueInfo('t_out', 'float32', [1])],
  });
  const elseBranch = graph({
    name: 'else',
    nodes: [node('Identity', ['shared'], ['e_out'])],
    inputs: [],
    outputs: [valueInfo('e_out', 'float32', [1])],
  });
  const src = model({
    graph: graph({
      nodes: [
        constant('c_t', tensor('ignored', 'float32', [2, 3], [1, 2, 3, 4, 5, 6]), 'ct'),
        node('Constant', [], ['c_f'], { attributes: { value_float: attr.float(0.5) } }),
        node('Constant', [], ['c_fs'], { attributes: { value_floats: attr.floats([1, -1, 2]) } }),
        node('Constant', [], ['c_is'], { attributes: { value_ints: attr.ints([3, 2]) } }),
        node('Constant', [], ['c_i'], { attributes: { value_int: attr.int(0) } }),
        node('Add', ['x', 'c_t'], ['a']),
        node('Mul', ['a', 'c_f'], ['b']),
        node('Add', ['b', 'c_fs'], ['c']),
        node('Reshape', ['c', 'c_is'], ['y']),
        node('Gather', ['c_fs', 'c_i'], ['g']),
        constant('shared', tensor('shared', 'float32', [1], [3])),
        constant('cond', tensor('cond', 'bool', [], [1])),
        node('If', ['cond'], ['z'], {
          attributes: { then_branch: attr.graph(thenBranch), else_branch: attr.graph(elseBranch) },
        }),
        constant('k', tensor('k', 'float32', [1], [7])),
      ],
      inputs: [valueInfo('x', 'float32', [2, 3])],
      outputs: [
        valueInfo('y', 'float32', [3, 2]),
        valueInfo('z', 'float32', [1]),
        valueInfo('k', 'float32', [1]),
        valueInfo('g', 'float32', []),
      ],
    }),
  });

  it('turns main-graph Constants into initializers and leaves subgraphs, their references and outputs alone', async () => {
    const before = encodeModel(src);
    const { model: out, report } = foldConstantNodes(src);
    expect(encodeModel(src)).toEqual(before); // the input is not changed
    expect(report.folded).toBe(6);
    expect(report.skipped.map((s) => s.name)).toEqual(['shared', 'k']);
    expect(out.graph!.initializer!.map((t) => t.name)).toEqual(['c_t', 'c_f', 'c_fs', 'c_is', 'c_i', 'cond']);
    expect(ops(out)).toEqual(['Add', 'Mul', 'Add', 'Reshape', 'Gather', 'Constant', 'If', 'Constant']);
    const ifNode = out.graph!.node!.find((n) => n.opType === 'If')!;
    expect(ifNode.attribute![0]!.g!.node!.map((n) => n.opType)).toEqual(['Constant', 'Mul']);
    const feeds = { x: new ort.Tensor('float32', randomFloats(6, 3), [2, 3]) };
    const [want, got] = [await run(src, feeds), await run(out, feeds)];
    for (const k of ['y', 'z', 'k', 'g']) expect(got[k]).toEqual(want[k]);
  });

  it('does not fold when IR version < 4 needs initializers as inputs', () => {
    const old = model({ ...{ graph: src.graph! }, irVersion: 3 });
    expect(foldConstantNodes(old).report.folded).toBe(0);
  });
});

interface ConvBnSpec {
  cin: number;
  cout: number;
  group?: number;
  bias?: boolean;
  /** Also feed the Conv output to a Relu graph output (then it must not fuse). */
  twoConsumers?: boolean;
  transposed?: boolean;
}

/** x → Conv → BatchNormalization → y, with parameters as Constant nodes (as paddle2onnx writes them). */
function convBnModel(spec: ConvBnSpec): onnx.ModelProto {
  const { cin, cout, group = 1 } = spec;
  const seed = cin * 31 + cout * 7 + group;
  const f = (name: string, dims: number[], s: number, scale: number, offset = 0): onnx.INodeProto => {
    const values = randomFloats(
      dims.reduce((a, b) => a * b, 1),
      seed + s,
      scale,
    ).map((v) => v + offset);
    return constant(name, tensor(name, 'float32', dims, values));
  };
  const convAttrs: Record<string, AttrValue> = {
    kernel_shape: attr.ints([3, 3]),
    pads: attr.ints([1, 1, 1, 1]),
    group: attr.int(group),
  };
  const outputs = [valueInfo('y', 'float32', [1, cout, 6, 6])];
  if (spec.twoConsumers) outputs.push(valueInfo('r', 'float32', [1, cout, 6, 6]));
  return model({
    opset: 13,
    graph: graph({
      nodes: [
        f('W', spec.transposed ? [cin, cout / group, 3, 3] : [cout, cin / group, 3, 3], 1, 0.5),
        ...(spec.bias ? [f('B', [cout], 2, 0.3)] : []),
        f('gamma', [cout], 3, 0.5, 1),
        f('beta', [cout], 4, 0.5),
        f('mean', [cout], 5, 0.5),
        f('var', [cout], 6, 0.4, 0.6),
        node(spec.transposed ? 'ConvTranspose' : 'Conv', ['x', 'W', ...(spec.bias ? ['B'] : [])], ['conv'], {
          name: 'conv',
          attributes: convAttrs,
        }),
        node('BatchNormalization', ['conv', 'gamma', 'beta', 'mean', 'var'], ['y'], {
          name: 'bn',
          attributes: { epsilon: attr.float(1e-3) },
        }),
        ...(spec.twoConsumers ? [node('Relu', ['conv'], ['r'])] : []),
      ],
      inputs: [valueInfo('x', 'float32', [1, cin, 6, 6])],
      outputs,
    }),
  });
}

async function expectFusedMatches(src: onnx.IModelProto, cin: number): Promise<onnx.ModelProto> {
  const folded = foldConstantNodes(src).model;
  const { model: fused, report } = fuseBatchNormIntoConv(folded);
  expect(report.fused).toEqual([{ conv: 'conv', batchNorm: 'bn' }]);
  expect(ops(fused)).toEqual([
    src.graph?.node?.some((n) => n.opType === 'ConvTranspose') ? 'ConvTranspose' : 'Conv',
  ]);
  const feeds = { x: new ort.Tensor('float32', randomFloats(cin * 36, 11, 2), [1, cin, 6, 6]) };
  const want = await run(src, feeds);
  const got = await run(fused, feeds);
  const err = relError(got.y!, want.y!);
  expect(err).toBeLessThan(1e-5);
  return fused;
}

describe('fuseBatchNormIntoConv', () => {
  it('folds BatchNormalization into a Conv without bias, exactly', async () => {
    const fused = await expectFusedMatches(convBnModel({ cin: 4, cout: 8 }), 4);
    const conv = fused.graph!.node![0]!;
    expect(conv.input).toEqual(['x', 'W', 'conv_bn_B']);
    expect(conv.output).toEqual(['y']);
  });

  it('folds into a Conv with bias', async () => {
    await expectFusedMatches(convBnModel({ cin: 3, cout: 5, bias: true }), 3);
  });

  it('folds into a ConvTranspose (output channels on the weight’s second axis), grouped too', async () => {
    await expectFusedMatches(convBnModel({ cin: 4, cout: 6, bias: true, transposed: true }), 4);
    await expectFusedMatches(convBnModel({ cin: 4, cout: 6, group: 2, transposed: true }), 4);
  });

  it('folds into depthwise and grouped convolutions', async () => {
    await expectFusedMatches(convBnModel({ cin: 6, cout: 6, group: 6, bias: true }), 6);
    await expectFusedMatches(convBnModel({ cin: 4, cout: 8, group: 2 }), 4);
  });

  it('leaves a Conv whose output has another consumer, and non-constant or training-mode BatchNormalization', () => {
    const twice = foldConstantNodes(convBnModel({ cin: 2, cout: 2, twoConsumers: true })).model;
    expect(fuseBatchNormIntoConv(twice).report.fused).toEqual([]);
    const training = foldConstantNodes(convBnModel({ cin: 2, cout: 2 })).model;
    training
      .graph!.node!.find((n) => n.opType === 'BatchNormalization')!
      .attribute!.push({
        name: 'training_mode',
        type: 2,
        i: 1,
      });
    expect(fuseBatchNormIntoConv(training).report.fused).toEqual([]);
    // Still in Constant nodes: not initializers yet, so not fused.
    expect(fuseBatchNormIntoConv(convBnModel({ cin: 2, cout: 2 })).report.fused).toEqual([]);
  });

  it('gives each Conv its own weights when two share an initializer', async () => {
    const src = convBnModel({ cin: 3, cout: 3 });
    const g = src.graph!;
    g.node!.push(
      node('Conv', ['x', 'W'], ['conv2'], {
        name: 'conv2',
        attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
      }),
      node('BatchNormalization', ['conv2', 'gamma', 'beta', 'mean', 'var'], ['y2'], { name: 'bn2' }),
    );
    g.output!.push(valueInfo('y2', 'float32', [1, 3, 6, 6]));
    const { model: out, report } = cleanupGraph(src);
    expect(report.fusedBatchNorms).toBe(2);
    expect(ops(out)).toEqual(['Conv', 'Conv']);
    expect(new Set(out.graph!.node!.map((n) => n.input![1])).size).toBe(2);
    const feeds = { x: new ort.Tensor('float32', randomFloats(3 * 36, 12, 2), [1, 3, 6, 6]) };
    const [want, got] = [await run(src, feeds), await run(out, feeds)];
    expect(relError(got.y!, want.y!)).toBeLessThan(1e-5);
    expect(relError(got.y2!, want.y2!)).toBeLessThan(1e-5);
    // gamma, beta, mean, var are unused now; the two weights and two biases remain.
    expect(out.graph!.initializer!).toHaveLength(4);
  });
});

describe('removeIdentityAndDeadNodes', () => {
  const src = model({
    graph: graph({
      nodes: [
        node('Identity', ['x'], ['x1']),
        node('Relu', ['x1'], ['r']),
        node('Identity', ['r'], ['r1']),
        node('Neg', ['r1'], ['n']),
        node('Identity', ['n'], ['y']), // graph output: Neg writes y itself
        node('Identity', ['x'], ['z']), // graph output fed straight from an input: kept
        node('Add', ['x', 'unused_w'], ['dead1']),
        node('Sigmoid', ['dead1'], ['dead2']),
      ],
      inputs: [valueInfo('x', 'float32', [4])],
      outputs: [valueInfo('y', 'float32', [4]), valueInfo('z', 'float32', [4])],
      initializers: [tensor('unused_w', 'float32', [4], [1, 2, 3, 4])],
      valueInfo: [
        valueInfo('r1', 'float32', [4]),
        valueInfo('dead2', 'float32', [4]),
        valueInfo('n', 'float32', [4]),
      ],
    }),
  });

  it('rewires around Identity nodes, keeps graph output names, drops dead nodes and initializers', async () => {
    const { model: out, report } = removeIdentityAndDeadNodes(src);
    expect(report).toEqual({ identities: 3, deadNodes: 2, deadInitializers: 1 });
    expect(out.graph!.node!.map((n) => `${n.opType}(${n.input!.join()})->${n.output!.join()}`)).toEqual([
      'Relu(x)->r',
      'Neg(r)->y',
      'Identity(x)->z',
    ]);
    expect(out.graph!.output!.map((o) => o.name)).toEqual(['y', 'z']);
    expect(out.graph!.initializer ?? []).toEqual([]);
    expect(out.graph!.valueInfo ?? []).toEqual([]);
    const feeds = { x: new ort.Tensor('float32', Float32Array.from([-1, 2, -3, 4]), [4]) };
    const [want, got] = [await run(src, feeds), await run(out, feeds)];
    expect(got).toEqual(want);
  });

  it('cleanupGraph reports node counts', () => {
    const { report } = cleanupGraph(convBnModel({ cin: 2, cout: 4, bias: true }));
    expect(report).toMatchObject({
      foldedConstants: 6,
      fusedBatchNorms: 1,
      removedNodes: 0,
      nodesBefore: 8,
      nodesAfter: 1,
    });
    expect(report.passes.dead.deadInitializers).toBe(4);
  });

  it('cleanupGraph names unnamed nodes as reports do (<opType>_<index in the source>), keeping given names', () => {
    const m = model({
      opset: 13,
      graph: graph({
        name: 'g',
        nodes: [
          node('Relu', ['x'], ['a']),
          node('Identity', ['a'], ['b']),
          node('Sigmoid', ['b'], ['c'], { name: 'Relu_0' }),
          node('Tanh', ['c'], ['y']),
        ],
        inputs: [valueInfo('x', 'float32', [1, 4])],
        outputs: [valueInfo('y', 'float32', [1, 4])],
      }),
    });
    // The Identity is removed; the Tanh keeps the name of its place in the source, not its place after that.
    const names = (cleanupGraph(m).model.graph?.node ?? []).map((n) => `${n.opType}:${n.name}`);
    expect(names).toEqual(['Relu:Relu_0_1', 'Sigmoid:Relu_0', 'Tanh:Tanh_3']);
  });
});
