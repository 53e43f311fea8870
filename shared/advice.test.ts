import { describe, expect, it } from 'vitest';
import { lowAgreementAdvice, type AdviceInput } from './advice.js';

const int8 = (over: Partial<AdviceInput>): AdviceInput => ({
  precision: 'int8',
  target: 'cpu-x86_64',
  check: { cosine: 0.999 },
  quantization: {
    calibration: { method: 'minmax' },
    layers: [
      { node: 'conv_a', sqnrDb: 20 },
      { node: 'conv_b', sqnrDb: -7.3 },
      { node: 'gap', sqnrDb: null },
    ],
  },
  ...over,
});

describe('advice for a build that disagrees with its source', () => {
  it('says nothing when the outputs agree', () => {
    expect(lowAgreementAdvice(int8({}))).toBeNull();
    expect(lowAgreementAdvice(int8({ check: { skipped: 'no data' } }))).toBeNull();
  });

  it('names the worst layer and, on a CPU, the accuracy budget', () => {
    const a = lowAgreementAdvice(int8({ check: { cosine: 0.82 } }))!;
    expect(a).toMatch(/cosine 0\.820/);
    expect(a).toMatch(/conv_b \(-7\.3 dB SQNR\)/);
    expect(a).toMatch(/--accuracy-budget 0\.99/);
    expect(a).not.toMatch(/--calibrate minmax/);
  });

  it('on the Edge TPU, where nothing can stay float, points at the calibration method and data', () => {
    const a = lowAgreementAdvice(
      int8({
        target: 'coral-edgetpu',
        check: { cosine: 0.999 },
        tflite: { check: { cosine: 0 } },
        quantization: { calibration: { method: 'entropy' }, layers: [] },
      }),
    )!;
    // The TFLite model's own check counts too.
    expect(a).toMatch(/cosine 0\.000/);
    expect(a).toMatch(/entropy calibration clips .* try --calibrate minmax/);
    expect(a).toMatch(/Edge TPU/);
    expect(a).not.toMatch(/accuracy-budget/);
  });
});
