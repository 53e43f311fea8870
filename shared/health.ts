import type { DeviceStatus } from './fleet.js';
import type { DeviceLimits } from './telemetry.js';

/** What the health rules look at: the latest sample values and the last contact. */
export interface HealthInput {
  nowTs: number;
  lastContactTs: number | null;
  tempC: number | null;
  throttled: boolean | null;
  latencyP95Ms: number | null;
  inferences: number;
  errors: number;
  limits: DeviceLimits;
}

export interface HealthRules {
  /** No contact for this long means unreachable. */
  unreachableAfterMs: number;
  /** Error rates over fewer inferences than this are noise, not a verdict. */
  minInferencesForErrorRate: number;
}

export const DEFAULT_HEALTH_RULES: HealthRules = {
  unreachableAfterMs: 60_000,
  minInferencesForErrorRate: 50,
};

export interface HealthVerdict {
  status: DeviceStatus;
  reasons: string[];
}

/**
 * The rules, in order of precedence:
 *  - never contacted: unknown
 *  - last contact older than unreachableAfterMs: unreachable
 *  - temperature over the device limit, throttling, error rate over limit, P95 latency over budget: degraded
 *  - otherwise healthy
 */
export function evaluateHealth(h: HealthInput, rules: HealthRules = DEFAULT_HEALTH_RULES): HealthVerdict {
  if (h.lastContactTs === null) return { status: 'unknown', reasons: ['never contacted'] };
  const silentMs = h.nowTs - h.lastContactTs;
  if (silentMs > rules.unreachableAfterMs) {
    return { status: 'unreachable', reasons: [`no contact for ${formatDuration(silentMs)}`] };
  }
  const reasons: string[] = [];
  if (h.tempC !== null && h.tempC > h.limits.tempLimitC) {
    reasons.push(`temperature ${h.tempC.toFixed(1)} °C over limit ${h.limits.tempLimitC} °C`);
  }
  if (h.throttled === true) reasons.push('throttling');
  if (h.inferences >= rules.minInferencesForErrorRate) {
    const rate = h.errors / h.inferences;
    if (rate > h.limits.errorRateLimit) {
      reasons.push(
        `error rate ${(rate * 100).toFixed(1)}% over ${(h.limits.errorRateLimit * 100).toFixed(1)}%`,
      );
    }
  } else if (h.inferences === 0 && h.errors > 0) {
    reasons.push(`${h.errors} errors with no successful inference`);
  }
  if (h.latencyP95Ms !== null && h.latencyP95Ms > h.limits.latencyBudgetMs) {
    reasons.push(`P95 latency ${h.latencyP95Ms.toFixed(1)} ms over budget ${h.limits.latencyBudgetMs} ms`);
  }
  return reasons.length ? { status: 'degraded', reasons } : { status: 'healthy', reasons: [] };
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m} min`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h} h`;
  return `${Math.round(h / 24)} d`;
}
