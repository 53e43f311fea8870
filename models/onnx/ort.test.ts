import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  matmulModel,
  randomFloats,
  writeHandMadeExternalModel,
} from '../../test/fixtures/models/synthetic.js';
import { inspectModel } from './inspect.js';
import { decodeModel, encodeModel, readModel, writeModel } from './io.js';
import { createSession, fillShapesFromOrt, ortIo } from './ort.js';
import { REAL_MODELS } from './testing.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'onnx-ort-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** y = x·W + b computed in plain JS, for checking what onnxruntime returns. */
function reference(x: Float32Array, batch: number): Float32Array {
  const init = matmulModel().graph!.initializer!;
  const view = (raw: Uint8Array): Float32Array => new Float32Array(Uint8Array.from(raw).buffer);
  const W = view(init[0]!.rawData!);
  const b = view(init[1]!.rawData!);
  const y = new Float32Array(batch * 32);
  for (let n = 0; n < batch; n++)
    for (let j = 0; j < 32; j++) {
      let acc = b[j]!;
      for (let k = 0; k < 64; k++) acc += x[n * 64 + k]! * W[k * 32 + j]!;
      y[n * 32 + j] = acc;
    }
  return y;
}

async function runMatmul(source: Parameters<typeof createSession>[0]): Promise<void> {
  const session = await createSession(source);
  try {
    const x = randomFloats(2 * 64, 9, 1);
    const out = await session.run({ x: new ort.Tensor('float32', x, [2, 64]) });
    const y = out.y!;
    expect(y.dims).toEqual([2, 32]);
    const want = reference(x, 2);
    const got = y.data as Float32Array;
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 4);
  } finally {
    await session.release();
  }
}

describe('onnxruntime', () => {
  it('runs the synthetic model with hand-made external data, and the one writeModel writes', async () => {
    await runMatmul(await writeHandMadeExternalModel(path.join(dir, 'hand')));
    const res = await writeModel(matmulModel(), path.join(dir, 'written', 'mm.onnx'), {
      externalData: { sizeThreshold: 0 },
    });
    expect(res.externalData?.tensors).toBe(2);
    await runMatmul(await readModel(res.path));
    await runMatmul(decodeModel(encodeModel(matmulModel())));
  });

  it('runs the real det model on 1x3x64x64', async () => {
    const t0 = performance.now();
    const session = await createSession(REAL_MODELS.det);
    const t1 = performance.now();
    try {
      const x = randomFloats(3 * 64 * 64, 5, 1);
      const out = await session.run({ x: new ort.Tensor('float32', x, [1, 3, 64, 64]) });
      const y = out['sigmoid_0.tmp_0']!;
      expect(y.dims).toEqual([1, 1, 64, 64]);
      const probs = y.data as Float32Array;
      expect(probs.every((p) => p >= 0 && p <= 1)).toBe(true);
      console.log(
        `det: session ${(t1 - t0).toFixed(0)} ms, run 1x3x64x64 ${(performance.now() - t1).toFixed(0)} ms`,
      );
    } finally {
      await session.release();
    }
  });

  it('reports input/output metadata and fills shapes the model leaves open', async () => {
    const io = await ortIo(REAL_MODELS.det);
    expect(io.inputs).toEqual([
      {
        name: 'x',
        elemType: 'float32',
        shape: ['p2o.DynamicDimension.0', 3, 'p2o.DynamicDimension.1', 'p2o.DynamicDimension.2'],
        source: 'onnxruntime',
      },
    ]);
    const open = decodeModel(encodeModel(matmulModel({ outputShape: false })));
    const summary = inspectModel(open);
    expect(summary.outputs[0]!.shape).toBeNull();
    const filled = await fillShapesFromOrt(summary, open);
    expect(filled.outputs[0]).toMatchObject({ name: 'y', elemType: 'float32', source: 'onnxruntime' });
    expect(filled.outputs[0]!.shape).toHaveLength(2);
    expect(filled.inputs).toEqual(summary.inputs);
    console.log('ORT metadata for an untyped output:', JSON.stringify(filled.outputs[0]));
  });

  it('a model onnxruntime rejects is MODEL_MALFORMED', async () => {
    const m = matmulModel();
    m.graph!.node![0]!.opType = 'NoSuchOp';
    await expect(createSession(decodeModel(encodeModel(m)))).rejects.toMatchObject({
      code: 'MODEL_MALFORMED',
    });
  });
});
