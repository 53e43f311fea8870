import { describe, expect, it } from 'vitest';
import { CALL_NAMES, contract, events, isCallName } from './contract.js';
import { TelemetrySample } from './telemetry.js';

const sample = {
  deviceId: 'jetson-01',
  seq: 1,
  ts: 1_800_000_000_000,
  tempC: 51.5,
  cpuPct: 12,
  memPct: 40,
  diskFreeBytes: 1e9,
  uptimeS: 100,
  throttled: false,
  powerW: 7.1,
  latencyP50Ms: 10,
  latencyP95Ms: 14,
  latencyP99Ms: 20,
  throughputIps: 60,
  inferences: 600,
  errors: 0,
  modelVersion: 'detector@1.0.0',
};

describe('contract', () => {
  it('has an input and output schema for every call', () => {
    for (const name of CALL_NAMES) {
      expect(contract[name].input, name).toBeDefined();
      expect(contract[name].output, name).toBeDefined();
    }
    expect(isCallName('fleet.list')).toBe(true);
    expect(isCallName('toString')).toBe(false);
    expect(isCallName('__proto__')).toBe(false);
  });

  it('rejects unknown keys on inputs (no smuggled fields)', () => {
    expect(contract['fleet.get'].input.safeParse({ deviceId: 'a', extra: 1 }).success).toBe(false);
  });

  it('rejects device ids that could escape paths or SQL', () => {
    for (const bad of ['../etc', 'a b', '', 'x'.repeat(65), "a';--"]) {
      expect(contract['fleet.get'].input.safeParse({ deviceId: bad }).success, bad).toBe(false);
    }
  });

  it('only enrolls http(s) agents with a real token', () => {
    const enroll = contract['fleet.enroll'].input;
    expect(enroll.safeParse({ url: 'http://10.0.0.5:7070', token: 'x'.repeat(32) }).success).toBe(true);
    expect(enroll.safeParse({ url: 'file:///etc/passwd', token: 'x'.repeat(32) }).success).toBe(false);
    expect(enroll.safeParse({ url: 'http://10.0.0.5:7070', token: 'short' }).success).toBe(false);
  });

  it('validates job progress events', () => {
    expect(
      events['job.progress'].safeParse({ jobId: 'j', kind: 'k', fraction: 1.5, message: '' }).success,
    ).toBe(false);
  });
});

describe('telemetry sample schema', () => {
  it('accepts a full sample and defaults unavailable to {}', () => {
    const r = TelemetrySample.parse(sample);
    expect(r.unavailable).toEqual({});
  });
  it.each([
    ['a temperature from a powered-down sensor', { tempC: -256 }],
    ['a negative latency', { latencyP95Ms: -1 }],
    ['CPU over 100%', { cpuPct: 140 }],
    ['a clock from 1970', { ts: 0 }],
    ['NaN', { memPct: Number.NaN }],
    ['a fractional error count', { errors: 1.5 }],
  ])('rejects %s', (_what, patch) => {
    expect(TelemetrySample.safeParse({ ...sample, ...patch }).success).toBe(false);
  });
  it('accepts null readings (unavailable) with a reason', () => {
    expect(
      TelemetrySample.safeParse({ ...sample, tempC: null, unavailable: { tempC: 'no thermal zones' } })
        .success,
    ).toBe(true);
  });
});
