/** NCHW (ONNX) ↔ NHWC (TensorFlow Lite) layouts. */
/**
 * Copies 4-D data between NCHW and NHWC (`dims` are the NCHW dims either way) into `out`; other ranks are copied
 * as they are.
 */
export function permuteLayout<T extends { [i: number]: number; length: number }>(
  data: ArrayLike<number>,
  dims: readonly number[],
  to: 'NHWC' | 'NCHW',
  out: T,
): T {
  if (dims.length !== 4) {
    for (let i = 0; i < data.length; i++) out[i] = data[i]!;
    return out;
  }
  const [n, c, h, w] = dims as [number, number, number, number];
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const nchw = ((b * c + ch) * h + y) * w + x;
          const nhwc = ((b * h + y) * w + x) * c + ch;
          if (to === 'NHWC') out[nhwc] = data[nchw]!;
          else out[nchw] = data[nhwc]!;
        }
  return out;
}

export const nchwToNhwc = (data: ArrayLike<number>, dims: readonly number[]): Float32Array =>
  permuteLayout(data, dims, 'NHWC', new Float32Array(data.length));
export const nhwcToNchw = (data: ArrayLike<number>, dims: readonly number[]): Float32Array =>
  permuteLayout(data, dims, 'NCHW', new Float32Array(data.length));
