import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { randomFloats } from '../../test/fixtures/models/synthetic.js';
import { encodeModel, readModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import type { onnx } from '../onnx/schema.js';
import { int64 } from '../onnx/tensors.js';
import { REAL_MODELS } from '../onnx/testing.js';
import { upgradeOpset } from './opset.js';

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
 * Dark text-like strokes in rows on a light, slightly noisy background, normalized to [-1, 1] as PP-OCR's
 * preprocessing does (pure noise leaves the detector's output near 0 everywhere, where cosine says little).
 */
function structuredImage(dims: readonly number[]): Float32Array {
  const [, c = 3, h = 1, w = 1] = dims;
  const noise = randomFloats(c * h * w, 29, 0.05);
  const out = new Float32Array(c * h * w);
  const rowH = Math.max(8, Math.floor(h / 3));
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const inRow = y % rowH >= rowH / 4 && y % rowH < (rowH * 3) / 4;
      const stroke = Math.floor(x / 5) % 4 !== 3 && (x * 5 + y * 3) % 11 < 7;
      const v = inRow && stroke && x > 3 && x < w - 4 ? 0.1 : 0.9;
      for (let k = 0; k < c; k++)
        out[k * h * w + y * w + x] = (v - 0.5) / 0.5 + noise[k * h * w + y * w + x]!;
    }
  return out;
}

const defaultOpset = (m: onnx.IModelProto): number =>
  int64((m.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version);

const CASES = [
  { name: 'det', dims: [1, 3, 96, 320], from: 11, rewritten: {} },
  { name: 'rec', dims: [1, 3, 48, 320], from: 9, rewritten: { Clip: 28, Slice: 10, Squeeze: 7, Softmax: 3 } },
  { name: 'cls', dims: [1, 3, 48, 192], from: 9, rewritten: { Clip: 18, Slice: 1, Softmax: 1 } },
] as const;

describe('upgradeOpset on the real PP-OCR models (to opset 13)', () => {
  for (const { name, dims, from, rewritten } of CASES) {
    it(`${name}: opset ${from} → 13, loads in onnxruntime, same outputs`, async () => {
      const source = await readModel(REAL_MODELS[name]);
      const { model, report } = upgradeOpset(source.proto);
      expect(report.from).toBe(from);
      expect(report.to).toBe(13);
      expect(defaultOpset(model)).toBe(13);
      expect(int64(model.irVersion)).toBeGreaterThanOrEqual(7);

      const counts: Record<string, number> = {};
      for (const r of report.rewritten) counts[r.opType] = (counts[r.opType] ?? 0) + 1;
      expect(counts).toEqual(rewritten);
      // PP-OCR's softmaxes all run along the last axis: no Flatten/Reshape detours.
      for (const r of report.rewritten.filter((x) => x.opType === 'Softmax'))
        expect(r.change).toMatch(/axis=-1$/);
      const nodes = model.graph!.node!;
      expect(nodes.length).toBe(source.proto.graph!.node!.length);
      for (const n of nodes.filter((x) => ['Clip', 'Slice', 'Squeeze'].includes(x.opType ?? '')))
        expect(n.attribute ?? []).toEqual([]);
      // Upgrading again is a no-op.
      expect(upgradeOpset(model).report).toEqual({ from: 13, to: 13, rewritten: [] });

      const x = new ort.Tensor('float32', structuredImage(dims), [...dims]);
      const want = await outputs(encodeModel(source), x);
      const got = await outputs(encodeModel(model), x);
      expect(Object.keys(got)).toEqual(Object.keys(want));
      for (const k of Object.keys(want)) {
        const { maxAbs, cosine } = compare(got[k]!, want[k]!);
        console.log(
          `${name}: opset ${report.from} → ${report.to}, ${report.rewritten.length} nodes rewritten (${JSON.stringify(counts)}); output ${k}[${want[k]!.length}] max abs diff ${maxAbs.toExponential(2)}, cosine ${cosine.toFixed(9)}`,
        );
        expect(cosine).toBeGreaterThanOrEqual(0.99999);
        expect(maxAbs).toBeLessThan(1e-4);
      }
    });
  }
});
