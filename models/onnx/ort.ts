/**
 * onnxruntime-backed model facts, kept apart from inspect.ts so inspecting stays fast and free of native code:
 * creating a session parses and optimizes the whole graph (hundreds of milliseconds for real models).
 */
import * as ort from 'onnxruntime-node';
import { AppError } from '../../shared/errors.js';
import { encodeModel, type OnnxModel } from './io.js';
import type { ModelSummary, ShapeDim, ValueSummary } from './inspect.js';

export interface OrtIo {
  inputs: ValueSummary[];
  outputs: ValueSummary[];
}

export type OrtSource = OnnxModel | string | Uint8Array;

/** Creates a CPU session for a model, from its file (so external data resolves) or its bytes. */
export async function createSession(
  source: OrtSource,
  options: ort.InferenceSession.SessionOptions = {},
): Promise<ort.InferenceSession> {
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'basic',
    ...options,
  };
  const label =
    typeof source === 'string'
      ? source
      : source instanceof Uint8Array
        ? '(model bytes)'
        : (source.path ?? '(model)');
  try {
    if (typeof source === 'string') return await ort.InferenceSession.create(source, opts);
    if (source instanceof Uint8Array) return await ort.InferenceSession.create(source, opts);
    if (source.path !== undefined) return await ort.InferenceSession.create(source.path, opts);
    if (source.external.length > 0) {
      throw new AppError(
        'BAD_INPUT',
        `${label}: a model with external data needs its file path to load in onnxruntime.`,
        { hint: 'Read it with readModel(path).' },
      );
    }
    return await ort.InferenceSession.create(encodeModel(source), opts);
  } catch (err) {
    if (err instanceof AppError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    throw new AppError('MODEL_MALFORMED', `${label}: onnxruntime cannot load it: ${msg}`, {
      hint: 'The model decodes but does not pass onnxruntime’s checks; check its opset and operators, or re-export it.',
      cause: err,
    });
  }
}

function fromMetadata(m: ort.InferenceSession.ValueMetadata): ValueSummary {
  if (!m.isTensor) return { name: m.name, elemType: 'unknown', shape: null, source: 'onnxruntime' };
  // onnxruntime reports a dimension it knows nothing about as -1 (or an empty name).
  const shape: ShapeDim[] = m.shape.map((d) =>
    typeof d === 'number' ? (d < 0 ? '?' : d) : d === '' ? '?' : d,
  );
  return { name: m.name, elemType: m.type, shape, source: 'onnxruntime' };
}

/** Input and output types and shapes as onnxruntime sees them. */
export async function ortIo(source: OrtSource): Promise<OrtIo> {
  const session = await createSession(source);
  try {
    return {
      inputs: session.inputMetadata.map(fromMetadata),
      outputs: session.outputMetadata.map(fromMetadata),
    };
  } finally {
    await session.release();
  }
}

/** The summary with inputs/outputs the model leaves untyped or unshaped filled in from onnxruntime. */
export async function fillShapesFromOrt(summary: ModelSummary, source: OrtSource): Promise<ModelSummary> {
  const lacking = (v: ValueSummary): boolean => v.shape === null || v.elemType === 'unknown';
  if (![...summary.inputs, ...summary.outputs].some(lacking)) return summary;
  const io = await ortIo(source);
  const fill = (mine: ValueSummary[], theirs: ValueSummary[]): ValueSummary[] =>
    mine.map((v) => {
      const o = theirs.find((t) => t.name === v.name);
      return lacking(v) && o && !lacking(o) ? o : v;
    });
  return { ...summary, inputs: fill(summary.inputs, io.inputs), outputs: fill(summary.outputs, io.outputs) };
}
