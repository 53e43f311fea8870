import type { TelemetrySampleInput } from '../../shared/telemetry.js';
import { rng, sample, T0 } from '../../main/fleetlog/testkit.js';

export const CRASH_DEVICES = 50;
export const STEPS_PER_BATCH = 4;
export const CRASH_RECEIVED_TS = T0 + 365 * 86_400_000;

/** Batch k: steps [4k, 4k + 4) of 50 devices every 10 s, time-ordered; deterministic. */
export function crashBatch(k: number): TelemetrySampleInput[] {
  const r = rng(k + 1);
  const out: TelemetrySampleInput[] = [];
  for (let step = k * STEPS_PER_BATCH; step < (k + 1) * STEPS_PER_BATCH; step++) {
    for (let d = 0; d < CRASH_DEVICES; d++) out.push(sample(d, step, T0 + step * 10_000 + d * 200, r));
  }
  return out;
}

export function batchTsRange(k: number): [number, number] {
  return [T0 + k * STEPS_PER_BATCH * 10_000, T0 + (k + 1) * STEPS_PER_BATCH * 10_000];
}
