/**
 * The model summary the Builds page shows: inspectModel plus shapes from onnxruntime where the model leaves them
 * open, the preprocessing preset it looks like, and the first nodes of the graph. Runs in the build worker.
 */
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { GeneratedCalibrationKind, ModelInfo, PresetName } from '../../shared/contract.js';
import { readModel } from '../../models/onnx/io.js';
import { inspectModel } from '../../models/onnx/inspect.js';

const GRAPH_NODES_DEFAULT = 200;

function generatedKindFor(preset: PresetName | undefined): GeneratedCalibrationKind | null {
  if (preset === 'ppocr-det') return 'ocr-pages';
  if (preset === 'ppocr-rec' || preset === 'ppocr-cls') return 'ocr-lines';
  return null;
}

export async function inspectModelFile(file: string, nodeLimit = GRAPH_NODES_DEFAULT): Promise<ModelInfo> {
  const model = await readModel(file);
  let summary = inspectModel(model);
  try {
    const { fillShapesFromOrt } = await import('../../models/onnx/ort.js');
    summary = await fillShapesFromOrt(summary, model);
  } catch {
    // onnxruntime refusing the model is a build-time problem; the summary is still worth showing.
  }
  const { guessPreset } = await import('../../models/data/preprocess.js');
  const preset = guessPreset(
    summary.inputs.map((i) => ({ shape: i.shape ? [...i.shape] : [] })),
    summary.outputs.map((o) => ({ shape: o.shape ? [...o.shape] : [] })),
  );
  const st = await stat(file);
  return {
    fileName: basename(file),
    fileBytes: summary.fileBytes ?? st.size,
    producer: summary.producer,
    irVersion: summary.irVersion,
    domain: summary.domain,
    modelVersion: summary.modelVersion,
    docString: summary.docString.slice(0, 4000),
    opsets: summary.opsets,
    inputs: summary.inputs,
    outputs: summary.outputs,
    operators: summary.operators,
    nodeCount: summary.nodeCount,
    parameters: {
      count: summary.parameters.count,
      bytes: summary.parameters.bytes,
      initializers: summary.parameters.initializers,
      constants: summary.parameters.constants,
      byType: summary.parameters.byType,
    },
    externalData: summary.externalData,
    metadata: summary.metadata,
    graph: {
      name: summary.graph.name,
      nodes: summary.graph.nodes.slice(0, nodeLimit),
      total: summary.graph.nodes.length,
    },
    suggested: { preset: preset ?? null, calibration: generatedKindFor(preset) },
  };
}
