/**
 * Runs an exported TFLite model on samples in TensorFlow Lite's own interpreter (runtime.ts) and measures how its
 * outputs agree with reference outputs (the FP32 source in onnxruntime): the Coral build's check of the file the
 * Edge TPU compiler will take, not of the ONNX model it came from.
 */
import { AppError } from '../../shared/errors.js';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../onnx/io.js';
import { createSession } from '../onnx/ort.js';
import { toOrtFeeds, type CalibrationSample } from '../quantize/calibrate.js';
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
 * (by ONNX output name, NCHW); a split export's tail runs in onnxruntime on the TFLite part's frontier values. A
 * sample whose input size differs from the exported one is refused: the file has fixed sizes.
 */
export async function tfliteAgreement(
  bytes: Uint8Array,
  exported: Pick<TfliteExportResult, 'inputs' | 'outputs' | 'split'>,
  samples: readonly CalibrationSample[],
  reference: readonly Record<string, Float32Array>[],
  signal?: AbortSignal,
): Promise<TfliteAgreement> {
  const runner = await openTflite(bytes);
  // A split export: the TFLite part's frontier outputs feed the ONNX tail in onnxruntime, as on the device.
  const tail = exported.split ? await createSession(encodeModel(exported.split.model)) : undefined;
  try {
    let sum = 0;
    let n = 0;
    let min = 1;
    const compare = (i: number, name: string, got: Float32Array): void => {
      const ref = reference[i]?.[name];
      if (!ref) return;
      const c = cosine(ref, got);
      sum += c;
      min = Math.min(min, c);
      n++;
    };
    for (const [i, s] of samples.entries()) {
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
      const frontier: Record<string, ort.Tensor> = {};
      exported.outputs.forEach((io, k) => {
        const got = outs[k];
        if (!got) return;
        const value = io.layout === 'NHWC' ? nhwcToNchw(got, io.onnxShape) : got;
        if (io.role === 'frontier') frontier[io.name] = new ort.Tensor('float32', value, io.onnxShape);
        else compare(i, io.name, value);
      });
      if (tail && exported.split) {
        const feeds: Record<string, ort.Tensor> = { ...toOrtFeeds(s.feeds) };
        for (const name of exported.split.inputs) if (frontier[name]) feeds[name] = frontier[name];
        const wanted = Object.fromEntries(Object.entries(feeds).filter(([k]) => tail.inputNames.includes(k)));
        const r = await tail.run(wanted);
        for (const name of exported.split.outputs) {
          const t = r[name];
          if (t?.type === 'float32') compare(i, name, t.data as Float32Array);
        }
      }
    }
    return { cosine: n ? sum / n : 1, minCosine: n ? min : 1, samples: samples.length };
  } finally {
    runner.close();
    await tail?.release();
  }
}
