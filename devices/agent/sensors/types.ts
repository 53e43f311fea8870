import type { Accelerator } from '../../../shared/telemetry.js';

/**
 * One reading of the device's own sensors (not the model's latency: that comes from InferenceStats).
 * A null value always comes with a human reason under the same key in `unavailable`, so the console
 * can say *why* a chart is empty instead of guessing.
 */
export interface SensorReadings {
  tempC: number | null;
  cpuPct: number | null;
  memPct: number | null;
  diskFreeBytes: number | null;
  uptimeS: number | null;
  throttled: boolean | null;
  powerW: number | null;
  unavailable: Record<string, string>;
}

/** What the hardware says about itself; the agent adds deviceId, bootId, version and limits. */
export interface HardwareIdentity {
  hostname: string;
  hardwareModel: string;
  os: string;
  arch: string;
  machineId: string | null;
  serial: string | null;
  accelerator: Accelerator;
}

/** Real Linux sensors and simulated ones implement this; the agent only knows this shape. */
export interface SensorSource {
  read(): Promise<SensorReadings>;
  identity(): Promise<HardwareIdentity>;
  /** Version of the model this device serves, if the source knows it (the simulator does). */
  modelVersion?(): string | null;
  /** Stop background work (tegrastats child, timers). */
  close(): Promise<void>;
}

/** A value or the reason it is missing; readers return this so callers never lose the why. */
export type Reading<T> = { value: T; reason?: undefined } | { value: null; reason: string };

export const ok = <T>(value: T): Reading<T> => ({ value });
export const missing = <T>(reason: string): Reading<T> => ({ value: null, reason });

/** Plausible range for any on-board temperature sensor; outside it the sensor is broken or powered down. */
export const MIN_PLAUSIBLE_TEMP_C = -40;
export const MAX_PLAUSIBLE_TEMP_C = 150;

/**
 * Classifies a temperature: a number we trust, or the reason we don't. -256 °C is what Orin reports
 * for a powered-down zone (CV0/CV1/GPU when idle), so it gets its own wording.
 */
export function classifyTempC(tempC: number): Reading<number> {
  if (!Number.isFinite(tempC)) return missing('sensor returned a non-numeric value');
  if (Math.abs(tempC + 256) < 0.5) return missing(`sensor powered down (${formatC(tempC)})`);
  if (tempC < MIN_PLAUSIBLE_TEMP_C || tempC > MAX_PLAUSIBLE_TEMP_C) {
    return missing(`impossible value ${formatC(tempC)}: sensor broken or not ready`);
  }
  return ok(tempC);
}

export function formatC(tempC: number): string {
  return `${Math.round(tempC * 10) / 10} °C`;
}

/** Reasons end up in a 200-char field of the sample; cut politely. */
export function clipReason(reason: string, max = 200): string {
  return reason.length <= max ? reason : `${reason.slice(0, max - 1)}…`;
}
