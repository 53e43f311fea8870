/**
 * The graph cleanups the FP32 and INT8 builds share, in order: Constant nodes to initializers, BatchNormalization
 * fused into Conv, then Identity and dead nodes removed. Each is exact (BatchNormalization fusion up to float32
 * rounding of the folded weights), so the FP32 build differs from the source only in how it is laid out.
 */
import { onnx } from '../onnx/schema.js';
import { foldConstantNodesInPlace, type FoldConstantsReport } from './fold-constants.js';
import { fuseBatchNormIntoConvInPlace, type FuseBatchNormReport } from './fuse-batchnorm.js';
import { removeIdentityAndDeadNodesInPlace, type DeadNodesReport } from './dead-nodes.js';
import { cloneModel, uniqueName } from './graph.js';

export { foldConstantNodes, type FoldConstantsReport } from './fold-constants.js';
export { fuseBatchNormIntoConv, type FuseBatchNormReport } from './fuse-batchnorm.js';
export { removeIdentityAndDeadNodes, type DeadNodesReport } from './dead-nodes.js';

export interface CleanupReport {
  /** Constant nodes turned into initializers. */
  foldedConstants: number;
  /** BatchNormalization nodes folded into the Conv before them. */
  fusedBatchNorms: number;
  /** Identity nodes and dead nodes removed. */
  removedNodes: number;
  /** Main-graph node counts. */
  nodesBefore: number;
  nodesAfter: number;
  /** What each pass did, in detail. */
  passes: { fold: FoldConstantsReport; fuse: FuseBatchNormReport; dead: DeadNodesReport };
}

/** Runs the cleanups on a copy of the model; the caller's model is not changed. */
/**
 * Gives every unnamed node of the main graph the name reports already use for it, `<opType>_<index>` (its index in
 * the source), so that it keeps that name through the passes that remove nodes before it, and onnxruntime's
 * profiles (which name what they run after the source nodes) can be matched to it.
 */
function nameNodesInPlace(model: onnx.IModelProto): void {
  const nodes = model.graph?.node ?? [];
  if (nodes.every((n) => n.name)) return;
  const taken = new Set(nodes.map((n) => n.name ?? '').filter(Boolean));
  nodes.forEach((n, i) => {
    if (!n.name) n.name = uniqueName(`${n.opType ?? 'node'}_${i}`, taken);
  });
}

export function cleanupGraph(model: onnx.IModelProto): { model: onnx.ModelProto; report: CleanupReport } {
  const copy = cloneModel(model);
  const nodesBefore = copy.graph?.node?.length ?? 0;
  nameNodesInPlace(copy);
  const fold = foldConstantNodesInPlace(copy);
  const fuse = fuseBatchNormIntoConvInPlace(copy);
  const dead = removeIdentityAndDeadNodesInPlace(copy);
  return {
    model: copy,
    report: {
      foldedConstants: fold.folded,
      fusedBatchNorms: fuse.fused.length,
      removedNodes: dead.identities + dead.deadNodes,
      nodesBefore,
      nodesAfter: copy.graph?.node?.length ?? 0,
      passes: { fold, fuse, dead },
    },
  };
}
