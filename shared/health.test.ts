import { describe, expect, it } from 'vitest';
import { evaluateHealth, formatDuration, type HealthInput } from './health.js';

const base: HealthInput = {
  nowTs: 1_800_000_000_000,
  lastContactTs: 1_800_000_000_000 - 5_000,
  tempC: 55,
  throttled: false,
  latencyP95Ms: 20,
  inferences: 600,
  errors: 0,
  limits: { tempLimitC: 85, latencyBudgetMs: 50, errorRateLimit: 0.02 },
};

describe('health rules', () => {
  it('is healthy when every reading is within limits', () => {
    expect(evaluateHealth(base)).toEqual({ status: 'healthy', reasons: [] });
  });
  it('is unknown before first contact', () => {
    expect(evaluateHealth({ ...base, lastContactTs: null }).status).toBe('unknown');
  });
  it('is unreachable after the silence window, whatever the last readings said', () => {
    const v = evaluateHealth({ ...base, lastContactTs: base.nowTs - 61_000, tempC: 99 });
    expect(v.status).toBe('unreachable');
    expect(v.reasons[0]).toContain('61 s');
  });
  it('respects a custom unreachable window', () => {
    expect(
      evaluateHealth(
        { ...base, lastContactTs: base.nowTs - 10_000 },
        { unreachableAfterMs: 5_000, minInferencesForErrorRate: 50 },
      ).status,
    ).toBe('unreachable');
  });
  it('is degraded for each limit, naming every reason', () => {
    const v = evaluateHealth({ ...base, tempC: 90.04, throttled: true, latencyP95Ms: 80, errors: 30 });
    expect(v.status).toBe('degraded');
    expect(v.reasons).toEqual([
      'temperature 90.0 °C over limit 85 °C',
      'throttling',
      'error rate 5.0% over 2.0%',
      'P95 latency 80.0 ms over budget 50 ms',
    ]);
  });
  it('treats a temperature exactly at the limit as healthy', () => {
    expect(evaluateHealth({ ...base, tempC: 85 }).status).toBe('healthy');
  });
  it('flags errors with no successful inference', () => {
    expect(evaluateHealth({ ...base, inferences: 0, errors: 3 }).reasons).toEqual([
      '3 errors with no successful inference',
    ]);
  });
  it('does not judge an error rate over too few inferences', () => {
    expect(evaluateHealth({ ...base, inferences: 10, errors: 1 }).status).toBe('healthy');
    expect(evaluateHealth({ ...base, inferences: 60, errors: 6 }).status).toBe('degraded');
  });
  it('ignores unavailable readings instead of guessing', () => {
    expect(evaluateHealth({ ...base, tempC: null, throttled: null, latencyP95Ms: null }).status).toBe(
      'healthy',
    );
  });
  it('formats durations for people', () => {
    expect(formatDuration(5_000)).toBe('5 s');
    expect(formatDuration(600_000)).toBe('10 min');
    expect(formatDuration(5 * 3_600_000)).toBe('5 h');
    expect(formatDuration(3 * 86_400_000)).toBe('3 d');
  });
});
