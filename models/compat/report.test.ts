import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { CompatReport, getTarget, TargetProfile, TARGETS } from '../../shared/targets.js';
import { randomFloats } from '../../test/fixtures/models/synthetic.js';
import { attr, graph, model, node, tensor, valueInfo, type ElemType } from '../onnx/builder.js';
import { encodeModel, readModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import type { onnx } from '../onnx/schema.js';
import { REAL_MODELS } from '../onnx/testing.js';
import { compatibilityReport } from './report.js';

const orin = getTarget('jetson-orin');
const xavier = getTarget('jetson-xavier-nx');
const nano = getTarget('jetson-nano');
const coral = getTarget('coral-edgetpu');
const cpu = getTarget('cpu-x86_64');

interface QdqSpec {
  /** Activation quantization type and zero point. */
  act?: { type: 'int8' | 'uint8'; zp: number };
  /** Quantization axis of the Conv weight DQ (default 0). */
  weightAxis?: number;
  /** Scale of the input Q/DQ (default 0.02). */
  inputScale?: number;
  /** Leave the zero point off the input Q/DQ. */
  noInputZeroPoint?: boolean;
  /** Conv weight as a float initializer instead of int8 via DequantizeLinear. */
  floatWeights?: boolean;
  /** Per-channel scales on the input activation. */
  perChannelActivation?: boolean;
  /** A Sigmoid on the Conv output outside any Q/DQ region. */
  floatTail?: boolean;
  opset?: number;
}

/**
 * x[1,4,8,8] → Q → DQ → Conv(W: int8 [4,4,3,3] → DQ, per channel) → Relu → Q → DQ → y, as onnxruntime's QDQ
 * quantizer and TensorRT's toolkit lay it out (weights stored int8 with a DequantizeLinear in front).
 */
function qdqConvModel(spec: QdqSpec = {}): onnx.ModelProto {
  const act = spec.act ?? { type: 'int8', zp: 0 };
  const actType: ElemType = act.type;
  const axis = spec.weightAxis ?? 0;
  const wq = Int8Array.from(randomFloats(144, 7, 127).map((v) => Math.round(v)));
  const inputZp = spec.noInputZeroPoint ? [] : ['x_zp'];
  const scaleX = spec.perChannelActivation
    ? tensor('x_scale', 'float32', [4], [0.02, 0.02, 0.03, 0.04])
    : tensor('x_scale', 'float32', [], [spec.inputScale ?? 0.02]);
  const zpX = spec.perChannelActivation
    ? tensor('x_zp', actType, [4], [act.zp, act.zp, act.zp, act.zp])
    : tensor('x_zp', actType, [], [act.zp]);
  const nodes: onnx.INodeProto[] = [
    node('QuantizeLinear', ['x', 'x_scale', ...inputZp], ['x_q'], {
      name: 'q_in',
      ...(spec.perChannelActivation ? { attributes: { axis: attr.int(1) } } : {}),
    }),
    node('DequantizeLinear', ['x_q', 'x_scale', ...inputZp], ['x_dq'], {
      name: 'dq_in',
      ...(spec.perChannelActivation ? { attributes: { axis: attr.int(1) } } : {}),
    }),
  ];
  const initializers = [scaleX, zpX, tensor('B', 'float32', [4], randomFloats(4, 3))];
  if (spec.floatWeights) {
    initializers.push(tensor('W', 'float32', [4, 4, 3, 3], randomFloats(144, 8)));
  } else {
    nodes.push(
      node('DequantizeLinear', ['W_q', 'W_scale', 'W_zp'], ['W'], {
        name: 'dq_w',
        attributes: { axis: attr.int(axis) },
      }),
    );
    initializers.push(
      tensor('W_q', 'int8', [4, 4, 3, 3], wq),
      tensor('W_scale', 'float32', [4], [0.01, 0.012, 0.009, 0.011]),
      tensor('W_zp', 'int8', [4], [0, 0, 0, 0]),
    );
  }
  nodes.push(
    node('Conv', ['x_dq', 'W', 'B'], ['conv'], {
      name: 'conv0',
      attributes: { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) },
    }),
    node('Relu', ['conv'], ['relu'], { name: 'relu0' }),
    node('QuantizeLinear', ['relu', 'y_scale', 'y_zp'], ['y_q'], { name: 'q_out' }),
    node('DequantizeLinear', ['y_q', 'y_scale', 'y_zp'], [spec.floatTail ? 'y_dq' : 'y'], { name: 'dq_out' }),
  );
  if (spec.floatTail) nodes.push(node('Sigmoid', ['y_dq'], ['y'], { name: 'sigmoid_tail' }));
  initializers.push(tensor('y_scale', 'float32', [], [0.05]), tensor('y_zp', actType, [], [act.zp]));
  return model({
    opset: spec.opset ?? 13,
    graph: graph({
      name: 'qdq_conv',
      nodes,
      inputs: [valueInfo('x', 'float32', [1, 4, 8, 8])],
      outputs: [valueInfo('y', 'float32', [1, 4, 8, 8])],
      initializers,
    }),
  });
}

function codes(r: CompatReport, severity?: string): string[] {
  return r.issues.filter((i) => !severity || i.severity === severity).map((i) => i.code);
}

async function runsInOnnxruntime(m: onnx.ModelProto): Promise<void> {
  const session = await createSession(encodeModel(m));
  try {
    const out = await session.run({ x: new ort.Tensor('float32', randomFloats(256, 5, 1), [1, 4, 8, 8]) });
    expect(out.y!.dims).toEqual([1, 4, 8, 8]);
  } finally {
    await session.release();
  }
}

describe('target profiles', () => {
  it('every profile validates, ids are unique and getTarget names the valid ids on a miss', () => {
    for (const t of TARGETS) expect(TargetProfile.parse(t)).toEqual(t);
    expect(new Set(TARGETS.map((t) => t.id)).size).toBe(TARGETS.length);
    for (const id of [
      'cpu-x86_64',
      'cpu-arm64',
      'jetson-orin',
      'jetson-xavier-nx',
      'jetson-nano',
      'coral-edgetpu',
    ])
      expect(getTarget(id).id).toBe(id);
    let err: unknown;
    try {
      getTarget('jetson-tx2');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'NOT_FOUND' });
    expect((err as { hint: string }).hint).toContain('jetson-orin');
  });

  it('records the hardware facts: Nano has no int8, Coral is int8-only, TensorRT op lists grow with the version', () => {
    expect(nano.precisions.int8.supported).toBe(false);
    expect(nano.precisions.fp16.supported).toBe(true);
    expect(coral.precisions.fp32.supported).toBe(false);
    expect(coral.int8?.fullInteger).toBe(true);
    expect(orin.int8?.activations).toEqual(['int8-symmetric']);
    expect(cpu.int8?.activations).toContain('uint8-asymmetric');
    expect(coral.memoryBytes).toBe(8 * 1024 * 1024);
    expect(nano.ops?.supported).not.toContain('NonZero');
    expect(xavier.ops?.supported).toContain('NonZero');
    expect(xavier.ops?.supported).not.toContain('LayerNormalization');
    expect(orin.ops?.supported).toContain('LayerNormalization');
    expect(coral.ops?.supported).toContain('Conv');
    expect(coral.ops?.supported).not.toContain('LeakyRelu');
  });
});

describe('compatibilityReport on the real PP-OCR models (FP32)', () => {
  it('cls: runs everywhere it can; Coral wants full-integer and static shapes', async () => {
    const cls = (await readModel(REAL_MODELS.cls)).proto;
    for (const t of TARGETS) {
      const r = CompatReport.parse(compatibilityReport(cls, t));
      expect(r.targetId).toBe(t.id);
      expect(r.model.quantized).toBe('none');
      if (t.kind === 'coral') {
        expect(r.ok).toBe(false);
        expect(r.precision).toBe('int8');
        expect(codes(r, 'error')).toEqual(expect.arrayContaining(['not-quantized', 'dynamic-shape']));
        expect(r.partition).not.toBeNull();
        expect(r.partition!.cpu.nodes).toBe(0);
        expect(r.partition!.tpu.nodes).toBeGreaterThan(100);
        expect(r.memory.limitKind).toBe('parameter-sram');
        expect(r.verdict).toMatch(/^Not compatible/);
      } else {
        expect(r.ok).toBe(true);
        expect(r.unsupportedOps).toEqual([]);
        expect(r.partition).toBeNull();
        expect(r.verdict).toMatch(/^Compatible/);
      }
      if (t.kind === 'jetson') {
        expect(codes(r)).toContain('dynamic-shape');
        expect(r.dynamicInputs[0]!.dynamicDims).toEqual([0, 2, 3]);
        expect(r.memory.fits).toBe(true);
      }
    }
  });

  it('rec on Coral: Pow, Sqrt, tensor Div and activation MatMul are CPU ops, and the graph splits at the first', async () => {
    const rec = (await readModel(REAL_MODELS.rec)).proto;
    const r = compatibilityReport(rec, coral);
    const ops = r.unsupportedOps.map((u) => u.opType);
    expect(ops).toEqual(expect.arrayContaining(['Pow', 'Sqrt']));
    const p = r.partition!;
    expect(p.splitAt).not.toBeNull();
    expect(['Pow', 'Sqrt', 'Div', 'MatMul']).toContain(p.splitAt!.opType);
    expect(p.tpu.nodes).toBeGreaterThan(0);
    expect(p.cpu.nodes).toBeGreaterThan(0);
    expect(p.tpu.weightBytes + p.cpu.weightBytes).toBeGreaterThan(0);
    // The split is the first unsupported node in graph order (the names listed are each group's first ones).
    const indexOf = new Map((rec.graph!.node ?? []).map((n, i) => [n.name ?? '', i]));
    const firstUnsupported = Math.min(...r.unsupportedOps.map((u) => indexOf.get(u.nodes.names[0]!)!));
    expect(p.splitAt!.index).toBe(firstUnsupported);
    expect(codes(r)).toContain('edgetpu-cpu-fallback');
    for (const u of r.unsupportedOps) expect(u.nodes.names.length).toBeLessThanOrEqual(5);
  });

  it('det and rec on every Jetson: every operator is in the TensorRT parser lists', async () => {
    for (const name of ['det', 'rec'] as const) {
      const m = (await readModel(REAL_MODELS[name])).proto;
      for (const t of [orin, xavier, nano]) {
        const r = compatibilityReport(m, t, { precision: 'fp16' });
        expect(r.unsupportedOps, `${name} on ${t.id}`).toEqual([]);
        expect(r.ok).toBe(true);
        expect(r.memory.deployedWeightBytes).toBeLessThan(r.memory.modelWeightBytes);
      }
    }
  });

  it('asking for int8 on the Nano or for a float model is flagged', async () => {
    const cls = (await readModel(REAL_MODELS.cls)).proto;
    const onNano = compatibilityReport(cls, nano, { precision: 'int8' });
    expect(onNano.ok).toBe(false);
    expect(codes(onNano, 'error')).toContain('precision-unsupported');
    const onOrin = compatibilityReport(cls, orin, { precision: 'int8' });
    expect(onOrin.ok).toBe(true);
    expect(codes(onOrin, 'warning')).toContain('not-quantized');
  });
});

describe('compatibilityReport on Q/DQ graphs (TensorRT explicit quantization rules)', () => {
  it('symmetric int8 Q/DQ with per-output-channel weights passes on Orin and Xavier; onnxruntime runs it', async () => {
    const m = qdqConvModel();
    await runsInOnnxruntime(m);
    for (const t of [orin, xavier]) {
      const r = compatibilityReport(m, t);
      expect(r.model.quantized).toBe('qdq');
      expect(r.precision).toBe('int8');
      expect(r.ok, JSON.stringify(r.issues)).toBe(true);
      expect(r.issues.filter((i) => i.category === 'precision' && i.severity !== 'info')).toEqual([]);
    }
    expect(compatibilityReport(m, cpu).ok).toBe(true);
  });

  it('uint8 asymmetric activations: fine on the CPU, rejected by TensorRT', async () => {
    const m = qdqConvModel({ act: { type: 'uint8', zp: 128 } });
    await runsInOnnxruntime(m);
    expect(compatibilityReport(m, cpu).ok).toBe(true);
    const r8 = compatibilityReport(m, xavier);
    expect(r8.ok).toBe(false);
    expect(codes(r8, 'error')).toEqual(expect.arrayContaining(['qdq-nonzero-zero-point', 'qdq-uint8']));
    const nz = r8.issues.find((i) => i.code === 'qdq-nonzero-zero-point')!;
    expect(nz.nodes!.names).toEqual(['q_in', 'dq_in', 'q_out', 'dq_out']);
    expect(nz.hint).toMatch(/symmetric/);
    // TensorRT 10 substitutes INT8 for uint8 (a warning), but a non-zero zero point is still an error.
    const r10 = compatibilityReport(m, orin);
    expect(codes(r10, 'warning')).toContain('qdq-uint8');
    expect(codes(r10, 'error')).toContain('qdq-nonzero-zero-point');
  });

  it('uint8 with zero point 0: an error for TensorRT 8.5, a warning for TensorRT 10', () => {
    const m = qdqConvModel({ act: { type: 'uint8', zp: 0 } });
    expect(codes(compatibilityReport(m, xavier), 'error')).toContain('qdq-uint8');
    const r10 = compatibilityReport(m, orin);
    expect(r10.ok).toBe(true);
    expect(codes(r10, 'warning')).toContain('qdq-uint8');
  });

  it('Conv weights quantized along axis 1 instead of the output-channel axis 0', async () => {
    const m = qdqConvModel({ weightAxis: 1 });
    await runsInOnnxruntime(m);
    const r = compatibilityReport(m, orin);
    expect(r.ok).toBe(false);
    const issue = r.issues.find((i) => i.code === 'qdq-weight-axis')!;
    expect(issue.severity).toBe('error');
    expect(issue.nodes!.names).toEqual(['dq_w']);
  });

  it('a zero scale, per-channel activation scales and missing zero points', async () => {
    expect(codes(compatibilityReport(qdqConvModel({ inputScale: 0 }), orin), 'error')).toContain(
      'qdq-scale-not-positive',
    );
    const perChannel = qdqConvModel({ perChannelActivation: true });
    await runsInOnnxruntime(perChannel);
    expect(codes(compatibilityReport(perChannel, orin), 'error')).toContain('qdq-per-channel-activation');
    // No zero point: the ONNX default type is uint8; TensorRT 8 insists on 3 inputs, TensorRT 10 uses INT8.
    const noZp = qdqConvModel({ noInputZeroPoint: true });
    await runsInOnnxruntime(noZp);
    expect(codes(compatibilityReport(noZp, xavier), 'error')).toContain('qdq-missing-zero-point');
    expect(codes(compatibilityReport(noZp, orin), 'info')).toContain('qdq-missing-zero-point');
  });

  it('a Conv with quantized data but float weights cannot be fused into an INT8 convolution', () => {
    const r = compatibilityReport(qdqConvModel({ floatWeights: true }), orin);
    expect(r.ok).toBe(true);
    const w = r.issues.find((i) => i.code === 'qdq-half-quantized')!;
    expect(w.severity).toBe('warning');
    expect(w.nodes!.names).toEqual(['conv0']);
  });

  it('a quantized model on the Nano is an error even when fp16 is asked for', () => {
    const r = compatibilityReport(qdqConvModel(), nano, { precision: 'fp16' });
    expect(r.ok).toBe(false);
    expect(codes(r, 'error')).toContain('quantized-model-on-non-int8-device');
  });
});

describe('compatibilityReport on the Edge TPU', () => {
  it('a fully quantized static-shape graph maps entirely to the Edge TPU', () => {
    const r = compatibilityReport(qdqConvModel(), coral);
    expect(r.ok, JSON.stringify(r.issues)).toBe(true);
    expect(r.partition!.splitAt).toBeNull();
    expect(r.partition!.tpu.ops).toEqual([
      { op: 'Conv', count: 1 },
      { op: 'Relu', count: 1 },
    ]);
    expect(r.partition!.cpu.nodes).toBe(0);
    // 144 int8 weights + the 4-element bias as int32; scales and zero points are metadata.
    expect(r.partition!.tpu.weightBytes).toBe(144 + 4 * 4);
    expect(r.memory.fits).toBe(true);
  });

  it('a float op outside the Q/DQ region is a CPU fallback point', () => {
    const r = compatibilityReport(qdqConvModel({ floatTail: true }), coral);
    expect(r.ok).toBe(false);
    expect(codes(r, 'error')).toContain('edgetpu-float-op');
    expect(r.partition!.splitAt).toMatchObject({ name: 'sigmoid_tail', opType: 'Sigmoid' });
    expect(r.partition!.tpu.nodes).toBe(2);
    expect(r.partition!.cpu.nodes).toBe(1);
  });

  it('float weights are not full-integer', () => {
    const r = compatibilityReport(qdqConvModel({ floatWeights: true }), coral);
    expect(codes(r, 'error')).toContain('edgetpu-float-op');
    expect(r.partition!.splitAt!.name).toBe('conv0');
    expect(r.partition!.tpu.nodes).toBe(0);
  });

  it('parameters beyond the ~8 MB of SRAM stream from the host: a warning', () => {
    const k = 3072;
    const m = model({
      opset: 13,
      graph: graph({
        nodes: [
          node('QuantizeLinear', ['x', 's', 'z'], ['xq'], { name: 'q' }),
          node('DequantizeLinear', ['xq', 's', 'z'], ['xd'], { name: 'dq' }),
          node('DequantizeLinear', ['Wq', 'ws', 'wz'], ['W'], {
            name: 'dq_w',
            attributes: { axis: attr.int(1) },
          }),
          node('MatMul', ['xd', 'W'], ['y0'], { name: 'fc' }),
          node('QuantizeLinear', ['y0', 's', 'z'], ['yq'], { name: 'q2' }),
          node('DequantizeLinear', ['yq', 's', 'z'], ['y'], { name: 'dq2' }),
        ],
        inputs: [valueInfo('x', 'float32', [1, k])],
        outputs: [valueInfo('y', 'float32', [1, k])],
        initializers: [
          tensor('s', 'float32', [], [0.1]),
          tensor('z', 'int8', [], [0]),
          tensor('Wq', 'int8', [k, k], new Int8Array(k * k).fill(3)),
          tensor('ws', 'float32', [k], new Float32Array(k).fill(0.01)),
          tensor('wz', 'int8', [k], new Int8Array(k)),
        ],
      }),
    });
    const r = compatibilityReport(m, coral);
    expect(r.partition!.tpu.weightBytes).toBe(k * k);
    expect(r.memory.fits).toBe(false);
    expect(codes(r, 'warning')).toContain('edgetpu-parameters-stream');
    expect(r.ok).toBe(true);
  });
});

describe('compatibilityReport: ops, opsets and custom domains', () => {
  const nonZeroModel = (opset: number): onnx.ModelProto =>
    model({
      opset,
      graph: graph({
        nodes: [node('NonZero', ['x'], ['y'], { name: 'nz' })],
        inputs: [valueInfo('x', 'float32', [4])],
        outputs: [valueInfo('y', 'int64', [1, null])],
      }),
    });

  it('NonZero: not in the TensorRT 8.2 parser (Nano), in 8.5 (Xavier)', () => {
    const m = nonZeroModel(13);
    const onNano = compatibilityReport(m, nano);
    expect(onNano.ok).toBe(false);
    expect(onNano.unsupportedOps).toEqual([
      expect.objectContaining({ opType: 'NonZero', nodes: { names: ['nz'], count: 1 } }),
    ]);
    expect(onNano.unsupportedOps[0]!.reason).toMatch(/TensorRT 8\.2\.1/);
    expect(compatibilityReport(m, xavier).ok).toBe(true);
  });

  it('an opset newer than the TensorRT version documents is a warning', () => {
    const r = compatibilityReport(nonZeroModel(17), nano);
    expect(codes(r, 'warning')).toContain('opset-newer');
    expect(codes(compatibilityReport(nonZeroModel(17), xavier))).not.toContain('opset-newer');
  });

  it('custom-domain ops: a plugin for TensorRT, a custom-op library for onnxruntime', () => {
    const m = model({
      opset: [
        { domain: '', version: 13 },
        { domain: 'com.example', version: 1 },
      ],
      graph: graph({
        nodes: [node('FancyOp', ['x'], ['y'], { name: 'fancy', domain: 'com.example' })],
        inputs: [valueInfo('x', 'float32', [4])],
        outputs: [valueInfo('y', 'float32', [4])],
      }),
    });
    const onCpu = compatibilityReport(m, cpu);
    expect(onCpu.ok).toBe(false);
    expect(onCpu.unsupportedOps[0]).toMatchObject({ opType: 'FancyOp', domain: 'com.example' });
    expect(compatibilityReport(m, orin).unsupportedOps[0]!.reason).toMatch(/plugin/);
  });

  it('a cubic Resize is refused by TensorRT and by the Edge TPU', () => {
    const m = model({
      opset: 13,
      graph: graph({
        nodes: [
          node('Resize', ['x', '', 'scales'], ['y'], {
            name: 'up',
            attributes: { mode: attr.string('cubic') },
          }),
        ],
        inputs: [valueInfo('x', 'float32', [1, 1, 4, 4])],
        outputs: [valueInfo('y', 'float32', [1, 1, 8, 8])],
        initializers: [tensor('scales', 'float32', [4], [1, 1, 2, 2])],
      }),
    });
    expect(compatibilityReport(m, orin).unsupportedOps[0]!.reason).toMatch(/cubic/);
    expect(compatibilityReport(m, coral).unsupportedOps[0]!.reason).toMatch(/cubic/);
  });
});
