import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { inspectModel } from '../onnx/inspect.js';
import { encodeModel, readModel } from '../onnx/io.js';
import { REAL_MODELS } from '../onnx/testing.js';
import { compare, outputs, textLikeImage } from '../../test/fixtures/models/real-io.js';
import { cleanupGraph } from './cleanup.js';

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
