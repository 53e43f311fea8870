import { TelemetrySample, type TelemetrySampleInput } from '../../shared/telemetry.js';
import type { InferenceSnapshot } from './inference-stats.js';
import { clipReason, type SensorReadings } from './sensors/types.js';

export interface SampleContext {
  deviceId: string;
  seq: number;
  ts: number;
  modelVersion: string | null;
}

const NO_MODEL = 'no model served by this agent';

/**
 * Builds and validates one sample. A sensor value outside the schema's range (a broken sensor, a
 * counter glitch) must not cost us the whole sample, so such fields are nulled with the reason and
 * the sample is validated again; only a sample that still fails is an error.
 */
export function buildSample(
  readings: SensorReadings,
  inference: InferenceSnapshot | null,
  ctx: SampleContext,
): TelemetrySample {
  const unavailable: Record<string, string> = { ...readings.unavailable };
  const latency = (v: number | null | undefined, key: string): number | null => {
    if (inference === null) {
      unavailable[key] = NO_MODEL;
      return null;
    }
    if (v === null || v === undefined) unavailable[key] = 'no successful inferences in the latency window';
    return v ?? null;
  };
  const input: TelemetrySampleInput = {
    deviceId: ctx.deviceId,
    seq: ctx.seq,
    ts: Math.round(ctx.ts),
    tempC: readings.tempC,
    cpuPct: readings.cpuPct,
    memPct: readings.memPct,
    diskFreeBytes: readings.diskFreeBytes === null ? null : Math.floor(readings.diskFreeBytes),
    uptimeS: readings.uptimeS,
    throttled: readings.throttled,
    powerW: readings.powerW,
    latencyP50Ms: latency(inference?.p50Ms, 'latencyP50Ms'),
    latencyP95Ms: latency(inference?.p95Ms, 'latencyP95Ms'),
    latencyP99Ms: latency(inference?.p99Ms, 'latencyP99Ms'),
    throughputIps: null,
    inferences: inference?.inferences ?? 0,
    errors: inference?.errors ?? 0,
    modelVersion: ctx.modelVersion,
    unavailable,
  };
  if (ctx.modelVersion === null) unavailable.modelVersion = 'agent does not know which model it serves';
  if (inference === null) unavailable.throughputIps = NO_MODEL;
  else if (inference.throughputIps === null) unavailable.throughputIps = 'first inference window still open';
  else input.throughputIps = inference.throughputIps;

  const first = TelemetrySample.safeParse(input);
  if (first.success) return first.data;

  const repaired: Record<string, unknown> = { ...input };
  const reasons: Record<string, string> = { ...unavailable };
  for (const issue of first.error.issues) {
    const key = issue.path[0];
    if (typeof key !== 'string' || !(key in repaired) || repaired[key] === null) continue;
    if (['deviceId', 'seq', 'ts', 'inferences', 'errors', 'unavailable'].includes(key)) continue;
    reasons[key] = clipReason(`rejected value ${JSON.stringify(repaired[key])}: ${issue.message}`);
    repaired[key] = null;
  }
  repaired.unavailable = Object.fromEntries(Object.entries(reasons).map(([k, v]) => [k, clipReason(v)]));
  return TelemetrySample.parse(repaired);
}
