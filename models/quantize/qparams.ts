/**
 * Quantization arithmetic shared by the static and dynamic quantizers: scale and zero point from a float range,
 * symmetric per-channel int8 weights, int32 biases. Pure: no Node imports.
 *
 * Conventions (the ones onnxruntime's kernels and TensorRT expect):
 * - activations: uint8 asymmetric (zero point anywhere in [0, 255]) or int8 symmetric (zero point 0, TensorRT's
 *   explicit-quantization rule); the range always contains 0 so that zero padding is exact;
 * - weights: int8 symmetric per output channel, zero point 0, range [-127, 127] (or [-63, 63] with reduceRange,
 *   which keeps u8×s8 pair sums inside int16 on CPUs without VNNI, where onnxruntime uses VPMADDUBSW);
 * - bias: int32 with scale = input scale × weight scale, zero point 0.
 */

export type ActivationType = 'uint8' | 'int8';

export interface QParams {
  scale: number;
  zeroPoint: number;
  type: ActivationType;
}

/** The float32 value `x` becomes when stored (scales are float32 in the model). */
export function f32(x: number): number {
  return Math.fround(x);
}

/**
 * Scale and zero point for a float range. The range is widened to include 0; a degenerate range (all values 0)
 * gets scale 1 so that dequantization stays finite.
 */
export function activationParams(
  min: number,
  max: number,
  type: ActivationType,
  symmetric: boolean,
): QParams {
  let lo = Math.min(min, 0);
  let hi = Math.max(max, 0);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    throw new RangeError(`non-finite calibration range [${min}, ${max}]`);
  }
  if (symmetric || type === 'int8') {
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    lo = -m;
    hi = m;
  }
  if (hi - lo === 0) return { scale: 1, zeroPoint: type === 'uint8' ? 0 : 0, type };
  if (type === 'int8') {
    // Symmetric: [-127, 127] with zero point 0 (TensorRT and onnxruntime both accept this; -128 is never used).
    return { scale: f32(hi / 127), zeroPoint: 0, type };
  }
  if (symmetric) {
    return { scale: f32((hi - lo) / 254), zeroPoint: 128, type };
  }
  const scale = f32((hi - lo) / 255);
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
  return { scale, zeroPoint, type };
}

export function qRange(type: ActivationType): { qmin: number; qmax: number } {
  return type === 'uint8' ? { qmin: 0, qmax: 255 } : { qmin: -128, qmax: 127 };
}

/** Quantize-dequantize one value, as QuantizeLinear then DequantizeLinear compute it. */
export function fakeQuant(x: number, p: QParams): number {
  const { qmin, qmax } = qRange(p.type);
  const q = Math.min(qmax, Math.max(qmin, roundHalfEven(x / p.scale) + p.zeroPoint));
  return (q - p.zeroPoint) * p.scale;
}

/** Round half to even, as QuantizeLinear specifies. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface PerChannelWeights {
  /** int8 values, same layout as the float weights. */
  values: Int8Array;
  /** One float32 scale per channel along `axis`. */
  scales: Float32Array;
  axis: number;
  /** Largest absolute quantization error per channel, in weight units (for the report). */
  maxError: Float32Array;
}

/**
 * Symmetric per-channel int8 quantization of a weight tensor along `axis` (0 for Conv, 1 for ConvTranspose and
 * for a MatMul's [K, N] right operand).
 */
export function quantizeWeightsPerChannel(
  w: Float64Array | Float32Array,
  dims: readonly number[],
  axis: number,
  reduceRange: boolean,
): PerChannelWeights {
  const qmax = reduceRange ? 63 : 127;
  const channels = dims[axis] ?? 1;
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const absMax = new Float64Array(channels);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner;
      let m = absMax[c] ?? 0;
      for (let i = 0; i < inner; i++) {
        const v = Math.abs(w[base + i] ?? 0);
        if (v > m) m = v;
      }
      absMax[c] = m;
    }
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const m = absMax[c] ?? 0;
    scales[c] = m > 0 ? m / qmax : 1;
  }
  const values = new Int8Array(w.length);
  const maxError = new Float32Array(channels);
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < channels; c++) {
      const s = scales[c] ?? 1;
      const base = (o * channels + c) * inner;
      let e = maxError[c] ?? 0;
      for (let i = 0; i < inner; i++) {
        const x = w[base + i] ?? 0;
        const q = Math.max(-qmax, Math.min(qmax, roundHalfEven(x / s)));
        values[base + i] = q;
        const err = Math.abs(q * s - x);
        if (err > e) e = err;
      }
      maxError[c] = e;
    }
  return { values, scales, axis, maxError };
}

/**
 * int32 bias for a quantized Conv/Gemm: b / (inputScale × weightScale[c]). Returns undefined when a value would
 * overflow int32 (the caller then leaves the bias in float).
 */
export function quantizeBias(
  bias: Float64Array | Float32Array,
  inputScale: number,
  weightScales: Float32Array,
): { values: Int32Array; scales: Float32Array } | undefined {
  const n = bias.length;
  const values = new Int32Array(n);
  const scales = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    const s = f32(inputScale * (weightScales.length === 1 ? (weightScales[0] ?? 1) : (weightScales[c] ?? 1)));
    scales[c] = s;
    const q = roundHalfEven((bias[c] ?? 0) / s);
    if (!Number.isFinite(q) || q > 2147483647 || q < -2147483648) return undefined;
    values[c] = q;
  }
  return { values, scales };
}

/** Signal-to-quantization-noise ratio in dB: 10·log10(Σx² / Σ(x−y)²); Infinity when identical. */
export function sqnrDb(reference: ArrayLike<number>, actual: ArrayLike<number>): number {
  let signal = 0;
  let noise = 0;
  const n = Math.min(reference.length, actual.length);
  for (let i = 0; i < n; i++) {
    const x = reference[i] ?? 0;
    const d = x - (actual[i] ?? 0);
    signal += x * x;
    noise += d * d;
  }
  if (noise === 0) return Infinity;
  if (signal === 0) return -Infinity;
  return 10 * Math.log10(signal / noise);
}

/** Cosine similarity of two vectors (1 when both are zero). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  if (aa === 0 && bb === 0) return 1;
  if (aa === 0 || bb === 0) return 0;
  return ab / Math.sqrt(aa * bb);
}
