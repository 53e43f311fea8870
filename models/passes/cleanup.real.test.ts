import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { randomFloats } from '../../test/fixtures/models/synthetic.js';
import { inspectModel } from '../onnx/inspect.js';
import { encodeModel, readModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import { REAL_MODELS } from '../onnx/testing.js';
import { cleanupGraph } from './cleanup.js';

async function outputs(bytes: Uint8Array, x: ort.Tensor): Promise<Record<string, Float32Array>> {
  const session = await createSession(bytes);
  try {
    const out = await session.run({ [session.inputNames[0]!]: x });
    return Object.fromEntries(session.outputNames.map((k) => [k, out[k]!.data as Float32Array]));
  } finally {
    await session.release();
  }
}

function compare(a: Float32Array, b: Float32Array): { maxAbs: number; cosine: number } {
  let maxAbs = 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(a[i]! - b[i]!));
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return { maxAbs, cosine: dot / Math.sqrt(na * nb) };
}

/**
 * A deterministic text-like image: dark glyph-sized blocks in lines on a light, slightly noisy background,
 * normalized to [-1, 1] as PP-OCR's preprocessing does. Random noise alone makes the detector output ~0 everywhere,
 * where cosine similarity says nothing.
 */
function textLikeImage(dims: readonly number[]): Float32Array {
  const [, c = 3, h = 1, w = 1] = dims;
  const noise = randomFloats(c * h * w, 17, 0.05);
  const out = new Float32Array(c * h * w);
  const lineH = Math.max(8, Math.floor(h / 3));
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const row = Math.floor(y / lineH);
      const inLine = y % lineH >= lineH / 4 && y % lineH < (lineH * 3) / 4;
      const glyph = Math.floor(x / 6) % 5 !== 4 && ((x * 7 + y * 3 + row * 11) % 13) % 4 !== 0;
      const v = inLine && glyph && x > 3 && x < w - 4 ? 0.1 : 0.9;
      for (let k = 0; k < c; k++)
        out[k * h * w + y * w + x] = (v - 0.5) / 0.5 + noise[k * h * w + y * w + x]!;
    }
  return out;
}

const CASES = [
  { name: 'det', dims: [1, 3, 64, 64] },
  { name: 'rec', dims: [1, 3, 48, 160] },
  { name: 'cls', dims: [1, 3, 48, 192] },
] as const;

describe('cleanupGraph on the real PP-OCR models', () => {
  for (const { name, dims } of CASES) {
    it(`${name}: fewer nodes, same outputs in onnxruntime`, async () => {
      const source = await readModel(REAL_MODELS[name]);
      const { model, report } = cleanupGraph(source.proto);
      expect(report.nodesBefore).toBe(source.proto.graph!.node!.length);
      expect(report.nodesAfter).toBeLessThan(report.nodesBefore);
      expect(report.nodesAfter).toBe(
        report.nodesBefore - report.foldedConstants - report.fusedBatchNorms - report.removedNodes,
      );
      const after = inspectModel(model);
      expect(after.operators.find((o) => o.op === 'Constant')).toBeUndefined();
      expect(after.inputs).toEqual(inspectModel(source).inputs);
      expect(after.outputs.map((o) => o.name)).toEqual(inspectModel(source).outputs.map((o) => o.name));

      const x = new ort.Tensor('float32', textLikeImage(dims), [...dims]);
      const want = await outputs(encodeModel(source), x);
      const got = await outputs(encodeModel(model), x);
      expect(Object.keys(got)).toEqual(Object.keys(want));
      for (const k of Object.keys(want)) {
        const { maxAbs, cosine } = compare(got[k]!, want[k]!);
        const mean = want[k]!.reduce((a, b) => a + Math.abs(b), 0) / want[k]!.length;
        console.log(
          `${name}: nodes ${report.nodesBefore} -> ${report.nodesAfter} (folded ${report.foldedConstants}, fused BN ${report.fusedBatchNorms}, removed ${report.removedNodes}); output ${k}[${want[k]!.length}] max abs diff ${maxAbs.toExponential(2)}, cosine ${cosine.toFixed(9)}, mean |y| ${mean.toExponential(2)}`,
        );
        expect(maxAbs).toBeLessThan(1e-4);
        expect(cosine).toBeGreaterThan(0.99999);
      }
    });
  }
});
