/**
 * What to try when a built model disagrees with its source: the CLI prints it under the check line and the Builds
 * page under its output check. Shared so both say the same thing.
 */

/** The parts of a build report the advice reads (both build-report.json readers satisfy it). */
export interface AdviceInput {
  precision: string;
  target: string;
  check: { cosine: number | null } | { skipped: string };
  tflite?: { check: { cosine: number | null } | { skipped: string } } | { error: string };
  quantization: {
    calibration: { method: string } | null;
    layers: { node: string; sqnrDb: number | null }[];
    agreement?: unknown;
  } | null;
}

/** Below this mean output cosine a build gets advice (the Builds page marks it critical too). */
export const LOW_AGREEMENT = 0.98;

export function lowAgreementAdvice(r: AdviceInput): string | null {
  const tfl =
    r.tflite && 'check' in r.tflite && 'cosine' in r.tflite.check ? r.tflite.check.cosine : undefined;
  const onnx = 'cosine' in r.check ? r.check.cosine : undefined;
  const worst = Math.min(onnx ?? 1, tfl ?? 1);
  if (worst >= LOW_AGREEMENT) return null;
  const parts = [`The built model's outputs agree with the source only to cosine ${worst.toFixed(3)}.`];
  const q = r.quantization;
  if (r.precision === 'int8' && q) {
    const method = q.calibration?.method;
    if (method && method !== 'minmax')
      parts.push(
        `${method} calibration clips ranges to their bulk; on this model that may cut off values that matter: try --calibrate minmax.`,
      );
    const low = q.layers
      .filter((l): l is { node: string; sqnrDb: number } => l.sqnrDb !== null)
      .sort((a, b) => a.sqnrDb - b.sqnrDb)[0];
    if (low) parts.push(`The layer that lost most is ${low.node} (${low.sqnrDb.toFixed(1)} dB SQNR).`);
    if (r.target.startsWith('cpu-'))
      parts.push('An accuracy budget (--accuracy-budget 0.99) keeps the most sensitive layers float.');
    else if (r.target.startsWith('coral-'))
      parts.push(
        'Every layer runs in int8 on the Edge TPU: more (and more representative) calibration samples may help; layers kept float would run on the CPU.',
      );
  } else if (r.precision === 'fp16') {
    parts.push('Keep the layers that overflow float16 in float32 (--exclude).');
  }
  return parts.join(' ');
}
