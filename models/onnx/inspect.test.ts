import { describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  matmulModel,
  tinyConvModel,
  writeHandMadeExternalModel,
} from '../../test/fixtures/models/synthetic.js';
import { inspectModel, needsShapeInfo } from './inspect.js';
import { readModel } from './io.js';
import { REAL_MODELS } from './testing.js';

describe('inspectModel on the real PP-OCR models', () => {
  it('det: interface, opset, operators, parameters', async () => {
    const model = await readModel(REAL_MODELS.det);
    const t0 = performance.now();
    const s = inspectModel(model);
    const ms = performance.now() - t0;
    expect(s.irVersion).toBe(8);
    expect(s.opsets).toEqual([{ domain: 'ai.onnx', version: 11 }]);
    expect(s.inputs).toEqual([
      {
        name: 'x',
        elemType: 'float32',
        shape: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'],
        source: 'model',
      },
    ]);
    expect(s.outputs).toHaveLength(1);
    expect(s.outputs[0]).toMatchObject({ name: 'sigmoid_0.tmp_0', elemType: 'float32' });
    expect(s.outputs[0]!.shape).toHaveLength(4);
    expect(s.outputs[0]!.shape![1]).toBe(1);
    const ops = Object.fromEntries(s.operators.map((o) => [o.op, o.count]));
    expect(ops.Conv).toBe(62);
    expect(ops.ConvTranspose).toBe(2);
    expect(ops.Constant).toBe(342);
    expect(s.nodeCount).toBe(672);
    expect(s.graph.nodes).toHaveLength(672);
    // paddle2onnx keeps every weight in a Constant node: no initializers, all parameters in constants.
    expect(s.parameters.initializers).toBe(0);
    expect(s.parameters.constants).toBe(342);
    expect(s.parameters.byType.float32!.count).toBeGreaterThan(1_000_000);
    expect(s.parameters.bytes).toBeGreaterThan(4_000_000);
    expect(s.parameters.bytes).toBeLessThan(model.byteLength);
    expect(s.externalData).toEqual([]);
    expect(s.fileBytes).toBe(model.byteLength);
    const conv = s.graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(conv.inputs.length).toBeGreaterThanOrEqual(2);
    expect(conv.attributes.kernel_shape).toMatch(/^\[\d+,\d+\]$/);
    const constant = s.graph.nodes.find((n) => n.opType === 'Constant')!;
    expect(constant.attributes.value).toMatch(/^float32\[/);
    expect(needsShapeInfo(s)).toBe(false);
    expect(ms).toBeLessThan(500);
  });

  it('rec and cls: plausible summaries', async () => {
    const rec = inspectModel(await readModel(REAL_MODELS.rec));
    expect(rec.inputs[0]).toMatchObject({
      name: 'x',
      elemType: 'float32',
      shape: ['p2o.DynamicDimension.0', 3, 48, 'p2o.DynamicDimension.1'],
    });
    expect(rec.outputs[0]!.shape![2]).toBe(6625); // the character set, ppocr_keys_v1 plus blank and space
    expect(rec.operators.find((o) => o.op === 'MatMul')?.count).toBe(13);
    expect(rec.parameters.count).toBeGreaterThan(2_000_000);
    const cls = inspectModel(await readModel(REAL_MODELS.cls));
    expect(cls.outputs[0]!.shape).toEqual(['p2o.DynamicDimension.3', 2]);
    expect(cls.parameters.count).toBeGreaterThan(100_000);
  });
});

describe('inspectModel on synthetic models', () => {
  it('counts initializers and Constant tensors, keeps metadata and doc strings', () => {
    const s = inspectModel(tinyConvModel());
    expect(s.producer).toEqual({ name: 'edge-console-fixtures', version: '1' });
    expect(s.docString).toBe('tiny conv model');
    expect(s.metadata).toEqual({ author: 'fixtures', license: 'MIT' });
    expect(s.parameters).toMatchObject({ count: 108 + 4 + 1, bytes: 4 * 113, initializers: 2, constants: 1 });
    expect(s.inputs).toEqual([{ name: 'x', elemType: 'float32', shape: ['N', 3, 8, 8], source: 'model' }]);
    expect(s.graph.nodes[0]).toEqual({
      name: 'conv0',
      opType: 'Conv',
      domain: '',
      inputs: ['x', 'W', 'B'],
      outputs: ['conv'],
      attributes: { kernel_shape: '[3,3]', pads: '[1,1,1,1]', strides: '[1,1]' },
    });
    expect(s.operators).toEqual([
      { op: 'Add', count: 1 },
      { op: 'Constant', count: 1 },
      { op: 'Conv', count: 1 },
      { op: 'Relu', count: 1 },
    ]);
  });

  it('lists external data files', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'onnx-inspect-'));
    try {
      const s = inspectModel(await readModel(await writeHandMadeExternalModel(dir)));
      expect(s.externalData).toEqual([{ location: 'weights.bin', tensors: 2, bytes: 8192 + 128 }]);
      expect(s.parameters).toMatchObject({ count: 64 * 32 + 32, bytes: 8320, initializers: 2 });
      expect(s.graph.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Add']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports an untyped output as unknown', () => {
    const s = inspectModel(matmulModel({ outputShape: false }));
    expect(s.outputs).toEqual([{ name: 'y', elemType: 'unknown', shape: null, source: 'model' }]);
    expect(needsShapeInfo(s)).toBe(true);
  });
});
