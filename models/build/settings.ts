/**
 * What a build request must satisfy before any work starts. Kept apart from build.ts (which loads onnxruntime) so
 * the console's main thread can run the same checks when the Builds page starts a build.
 */
import { AppError } from '../../shared/errors.js';
import { getTarget, type TargetProfile } from '../../shared/targets.js';

/** This computer's CPU architecture in target-profile terms. */
export function hostArch(): string {
  return process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
}

export interface BuildSettings {
  target: string;
  precision: 'fp32' | 'fp16' | 'int8';
  mode?: 'static' | 'dynamic';
  /** Any value: whether calibration data was given. */
  calibration?: unknown;
  accuracyBudget?: number;
  speedPass?: boolean;
}

/**
 * The checks a build request must pass before any work starts (the API runs them too, so the Builds page hears
 * at once): precision supported by the target, calibration data for static INT8, a budget in range, and the
 * speed pass only where it can measure. Returns the settings that follow from the request.
 */
export function checkBuildSettings(req: BuildSettings): {
  target: TargetProfile;
  mode: 'static' | 'dynamic' | null;
  speedPass: boolean;
} {
  const target = getTarget(req.target);
  const precision = req.precision;
  const mode = precision === 'int8' ? (req.mode ?? 'static') : null;
  const support = target.precisions[precision];
  if (!support.supported) {
    throw new AppError(
      'BAD_INPUT',
      `${target.label} does not run ${precision.toUpperCase()} models: ${support.note}`,
      {
        hint: `Precisions ${target.label} supports: ${(['fp32', 'fp16', 'int8'] as const).filter((p) => target.precisions[p].supported).join(', ')}.`,
      },
    );
  }
  if (mode === 'static' && !req.calibration) {
    throw new AppError('BAD_INPUT', 'Static INT8 needs calibration data.', {
      hint: 'Give samples like the model’s real inputs (64 is a good count): --calibration on the command line; generated, uploaded or local data on the Builds page. Or use dynamic mode.',
    });
  }
  if (target.int8?.fullInteger && precision === 'int8') {
    // Every op of an Edge TPU model runs in int8, or it and everything after it runs on the CPU.
    if (mode === 'dynamic')
      throw new AppError(
        'BAD_INPUT',
        `${target.label} runs full-integer models only; dynamic INT8 keeps activations float.`,
        { hint: 'Use static INT8 with calibration data.' },
      );
    if (req.accuracyBudget !== undefined)
      throw new AppError(
        'BAD_INPUT',
        `${target.label} runs full-integer models only: the accuracy budget keeps layers float, and a float layer would split the model onto the CPU.`,
        {
          hint: 'Build without an accuracy budget: the report gives the agreement of the int8 model (in onnxruntime and in TensorFlow Lite) and each layer’s SQNR.',
        },
      );
  }
  if (req.accuracyBudget !== undefined && !(req.accuracyBudget > 0 && req.accuracyBudget <= 1)) {
    throw new AppError(
      'BAD_INPUT',
      `The accuracy budget must be a cosine similarity in (0, 1], got ${req.accuracyBudget}.`,
      {
        hint: 'For example 0.99: layers stay float until the output agrees with FP32 to cosine 0.99.',
      },
    );
  }
  const hostCpu = target.kind === 'cpu' && target.arch === hostArch();
  if (req.speedPass && mode !== 'static') {
    throw new AppError('BAD_INPUT', 'The speed pass is for static INT8 builds.', {
      hint: 'Choose static INT8, or turn the speed pass off.',
    });
  }
  if (req.speedPass && !hostCpu) {
    throw new AppError(
      'BAD_INPUT',
      `The speed pass times onnxruntime's kernels on this computer (${hostArch()}), not on ${target.label}.`,
      { hint: 'Build on a machine of the target’s CPU type, or turn the speed pass off.' },
    );
  }
  // On by default where it can measure: static INT8 for a CPU of this computer's architecture.
  return { target, mode, speedPass: req.speedPass ?? (mode === 'static' && hostCpu) };
}
