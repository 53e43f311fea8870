/**
 * The FP32 preparation every build shares; the FP32 build is this and nothing else, so an INT8 build's gain is
 * measured against a graph exactly as clean.
 */
import { onnx } from '../onnx/schema.js';
import { int64 } from '../onnx/tensors.js';
import { cleanupGraph, type CleanupReport } from '../passes/cleanup.js';
import { fuseBatchNormIntoConvInPlace } from '../passes/fuse-batchnorm.js';
import { fuseElementwise, type FuseElementwiseReport } from '../passes/fuse-elementwise.js';
import { upgradeOpset } from '../passes/opset.js';
import { affineToBatchNorm } from '../passes/affine-batchnorm.js';

export function defaultOpset(model: onnx.IModelProto): number {
  return Math.max(
    0,
    ...(model.opsetImport ?? [])
      .filter((o) => !o.domain || o.domain === 'ai.onnx')
      .map((o) => int64(o.version)),
  );
}

/**
 * The exact FP32 preparation every build shares (the FP32 build is this and nothing else): cleanups, opset
 * upgrade to 13 (QDQ needs per-channel DequantizeLinear) and 14 where that is only a version bump (HardSwish),
 * then the elementwise fusions.
 */
export function prepareFp32(source: onnx.IModelProto): {
  model: onnx.ModelProto;
  cleanup: CleanupReport;
  opset: { from: number; to: number; rewritten: number };
  fused: FuseElementwiseReport;
} {
  const cleaned = cleanupGraph(source);
  const from = defaultOpset(cleaned.model);
  let model: onnx.ModelProto = cleaned.model;
  let rewritten = 0;
  if (from < 13) {
    const up = upgradeOpset(model, 13);
    model = up.model;
    rewritten = up.report.rewritten.length;
  }
  // 13 → 14 changed no operator an inference graph without RNNs relies on (Reshape's allowzero defaults to the
  // old behaviour; BatchNormalization's training outputs are unused; Add/Mul/Sub/Div/Relu only gained types).
  const rnn = (model.graph?.node ?? []).some((n) => ['LSTM', 'GRU', 'RNN'].includes(n.opType ?? ''));
  if (defaultOpset(model) === 13 && !rnn) {
    for (const o of model.opsetImport ?? []) if (!o.domain || o.domain === 'ai.onnx') o.version = 14;
  }
  const fused = fuseElementwise(model);
  // A BatchNormalization the elementwise fusion brought next to its convolution (paddle2onnx writes a
  // ConvTranspose's bias as an Add between the two) folds now.
  const again = fuseBatchNormIntoConvInPlace(fused.model);
  const g = fused.model.graph;
  if (again.fused.length > 0 && g) {
    cleaned.report.fusedBatchNorms += again.fused.length;
    fused.report.nodesAfter = g.node?.length ?? 0;
    // The normalizations' parameters are read by nobody now.
    const used = new Set<string>([...(g.output ?? []).map((o) => o.name ?? '')]);
    for (const n of g.node ?? []) for (const i of n.input ?? []) used.add(i);
    g.initializer = (g.initializer ?? []).filter((t) => used.has(t.name ?? ''));
  }
  return {
    model: fused.model,
    cleanup: cleaned.report,
    opset: { from, to: defaultOpset(fused.model), rewritten },
    fused: fused.report,
  };
}

/**
 * The last step of an x86-64 CPU build, FP32 or INT8 alike: scalar Mul/Add on float activations become
 * BatchNormalization, which onnxruntime runs in its blocked NCHWc layout (see affine-batchnorm.ts). Other CPU
 * types get the model unchanged: the blocked layout is onnxruntime's x86 path.
 */
export function cpuLayout<M extends onnx.IModelProto>(
  model: M,
  arch: string | undefined,
): { model: M | onnx.ModelProto; affineToBatchNorm: number } {
  if (arch !== 'x86_64') return { model, affineToBatchNorm: 0 };
  const r = affineToBatchNorm(model);
  return { model: r.model, affineToBatchNorm: r.rewritten };
}
