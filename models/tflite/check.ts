/**
 * Runs an exported TFLite model on samples in TensorFlow Lite's own interpreter (runtime.ts) and measures how its
 * outputs agree with reference outputs (the FP32 source in onnxruntime): the Coral build's check of the file the
 * Edge TPU compiler will take, not of the ONNX model it came from.
 */
import { AppError } from '../../shared/errors.js';
import type { CalibrationSample } from '../quantize/calibrate.js';
import { cosine } from '../quantize/qparams.js';
import type { TfliteExportResult } from './export.js';
import { nchwToNhwc, nhwcToNchw } from './layout.js';
import { openTflite } from './runtime.js';

export interface TfliteAgreement {
  /** Mean over samples and outputs of the cosine similarity to the reference. */
  cosine: number;
  minCosine: number;
  samples: number;
}

/**
 * Runs `bytes` (exported as `exported` describes) on each sample and compares every output with `reference[i]`
 * (by ONNX output name, NCHW). A sample whose input size differs from the exported one is refused: the file has
 * fixed sizes.
 */
export async function tfliteAgreement(
  bytes: Uint8Array,
  exported: Pick<TfliteExportResult, 'inputs' | 'outputs'>,
  samples: readonly CalibrationSample[],
  reference: readonly Record<string, Float32Array>[],
  signal?: AbortSignal,
): Promise<TfliteAgreement> {
  const runner = await openTflite(bytes);
  try {
    let sum = 0;
    let n = 0;
    let min = 1;
    samples.forEach((s, i) => {
      if (signal?.aborted) throw new AppError('CANCELLED', 'Cancelled.');
      const inputs = exported.inputs.map((io) => {
        const feed = s.feeds[io.name];
        if (!feed) throw new AppError('BAD_INPUT', `sample ${s.id ?? i} has no input ${io.name}`);
        if (feed.dims.join('x') !== io.onnxShape.join('x'))
          throw new AppError(
            'BAD_INPUT',
            `sample ${s.id ?? i} is ${feed.dims.join('×')}, the TFLite model takes ${io.onnxShape.join('×')}`,
            { hint: 'The Edge TPU runs one fixed input size: use samples of the size the device feeds.' },
          );
        const data = feed.data as unknown as ArrayLike<number>;
        return io.layout === 'NHWC' ? nchwToNhwc(data, io.onnxShape) : Float32Array.from(data);
      });
      const outs = runner.run(inputs);
      exported.outputs.forEach((io, k) => {
        const ref = reference[i]?.[io.name];
        const got = outs[k];
        if (!ref || !got) return;
        const c = cosine(ref, io.layout === 'NHWC' ? nhwcToNchw(got, io.onnxShape) : got);
        sum += c;
        min = Math.min(min, c);
        n++;
      });
    });
    return { cosine: n ? sum / n : 1, minCosine: n ? min : 1, samples: samples.length };
  } finally {
    runner.close();
  }
}
