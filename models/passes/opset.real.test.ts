import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { encodeModel, readModel } from '../onnx/io.js';
import type { onnx } from '../onnx/schema.js';
import { int64 } from '../onnx/tensors.js';
import { REAL_MODELS } from '../onnx/testing.js';
import { compare, outputs, textLikeImage } from '../../test/fixtures/models/real-io.js';
import { upgradeOpset } from './opset.js';

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

      const x = new ort.Tensor('float32', textLikeImage(dims), [...dims]);
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
