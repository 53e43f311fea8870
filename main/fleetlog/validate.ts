import { formatZodError } from '../../shared/errors.js';
import { TelemetrySample } from '../../shared/telemetry.js';

export const DEVICE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const TS_MIN = 946_684_800_000;
const TS_MAX = 4_102_444_800_000;

/**
 * A hand-written check that accepts only samples the TelemetrySample schema accepts (so a sample it
 * passes can be stored as is), about 20x cheaper than zod's safeParse on the hot path. It may be stricter
 * than the schema on odd inputs (strings whose UTF-16 length is over a limit, exotic `unavailable` objects):
 * those fall back to zod, which decides and writes the message. validate.test.ts checks the equivalence.
 * `checkedIds`: ids already known to match DEVICE_ID_RE (the store's devices); the regex is skipped for them.
 */
export function fastCheckSample(s: unknown, checkedIds?: ReadonlySet<string>): s is ValidSample {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) return false;
  const o = s as Record<string, unknown>;
  const id = o.deviceId;
  if (typeof id !== 'string') return false;
  if (checkedIds === undefined || !checkedIds.has(id)) {
    if (id.length > 64 || !DEVICE_ID_RE.test(id)) return false;
  }
  const seq = o.seq;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return false;
  const ts = o.ts;
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < TS_MIN || ts > TS_MAX) return false;
  if (!nullableRange(o.tempC, -40, 150)) return false;
  if (!nullableRange(o.cpuPct, 0, 100)) return false;
  if (!nullableRange(o.memPct, 0, 100)) return false;
  const disk = o.diskFreeBytes;
  if (disk !== null && (typeof disk !== 'number' || !Number.isSafeInteger(disk) || disk < 0)) return false;
  const up = o.uptimeS;
  if (up !== null && (typeof up !== 'number' || !Number.isFinite(up) || up < 0)) return false;
  const thr = o.throttled;
  if (thr !== null && typeof thr !== 'boolean') return false;
  if (!nullableRange(o.powerW, 0, 2000)) return false;
  if (!nullableRange(o.latencyP50Ms, 0, 600_000)) return false;
  if (!nullableRange(o.latencyP95Ms, 0, 600_000)) return false;
  if (!nullableRange(o.latencyP99Ms, 0, 600_000)) return false;
  if (!nullableRange(o.throughputIps, 0, 10_000_000)) return false;
  const inf = o.inferences;
  if (typeof inf !== 'number' || !Number.isSafeInteger(inf) || inf < 0) return false;
  const err = o.errors;
  if (typeof err !== 'number' || !Number.isSafeInteger(err) || err < 0) return false;
  const mv = o.modelVersion;
  if (mv !== null && (typeof mv !== 'string' || mv.length > 128)) return false;
  const un = o.unavailable;
  if (un !== undefined && !isSimpleReasons(un)) return false;
  return true;
}

function nullableRange(v: unknown, min: number, max: number): boolean {
  // NaN and ±Infinity fail both comparisons' complement, so `v >= min && v <= max` also rejects them.
  return v === null || (typeof v === 'number' && v >= min && v <= max);
}

function isSimpleReasons(u: unknown): boolean {
  if (typeof u !== 'object' || u === null) return false;
  const proto: unknown = Object.getPrototypeOf(u);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in u) {
    if (k === '__proto__') return false;
    const v = (u as Record<string, unknown>)[k];
    if (typeof v !== 'string' || v.length > 200) return false;
  }
  if (Object.getOwnPropertySymbols(u).length > 0) return false;
  return true;
}

/** A sample the schema accepts; `unavailable` may be absent (the schema's default `{}`). Extra keys are ignored. */
export type ValidSample = Omit<TelemetrySample, 'unavailable'> & { unavailable?: Record<string, string> };

export type ValidationResult =
  { ok: true; sample: ValidSample } | { ok: false; reason: string; deviceId: string | null };

/** The contract schema's verdict; the fast check only short-cuts the common valid case. */
export function validateSample(s: unknown): ValidationResult {
  if (fastCheckSample(s)) return { ok: true, sample: s };
  const r = TelemetrySample.safeParse(s);
  if (r.success) return { ok: true, sample: r.data };
  const id = typeof s === 'object' && s !== null ? (s as Record<string, unknown>).deviceId : undefined;
  return {
    ok: false,
    reason: formatZodError(r.error),
    deviceId: typeof id === 'string' && DEVICE_ID_RE.test(id) ? id : null,
  };
}
