import { describe, expect, it } from 'vitest';
import { TelemetrySample } from '../../shared/telemetry.js';
import { sample, rng } from './testkit.js';
import { fastCheckSample, validateSample } from './validate.js';

const base = (): Record<string, unknown> => ({ ...sample(1, 5, Date.UTC(2025, 0, 1), rng(1)) });

/** One-field mutations around every rule of the schema, valid and invalid. */
function variants(): unknown[] {
  const out: unknown[] = [base(), null, undefined, 42, 'x', [], [base()], new Date(), Object.create(null)];
  const fields: Record<string, unknown[]> = {
    deviceId: ['a', 'A.b_c:d-e', '', '-x', 'x'.repeat(64), 'x'.repeat(65), 'has space', 'é', 7, null],
    seq: [0, 1, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, NaN, '1', null],
    ts: [
      946_684_800_000,
      946_684_799_999,
      4_102_444_800_000,
      4_102_444_800_001,
      1.5e12 + 0.5,
      Infinity,
      '1',
      null,
    ],
    tempC: [-40, -40.0001, 150, 151, null, NaN, Infinity, -Infinity, '20', undefined, -256],
    cpuPct: [0, 100, 100.1, -0.1, null, -0],
    memPct: [50, 101, null],
    diskFreeBytes: [0, 1.5, -1, 2 ** 53, null, '1'],
    uptimeS: [0, 1.5, -1, Infinity, null],
    throttled: [true, false, null, 0, 'true'],
    powerW: [0, 2000, 2000.5, null],
    latencyP50Ms: [0, 600_000, 600_001, null],
    latencyP95Ms: [1, -1, null],
    latencyP99Ms: [1, NaN, null],
    throughputIps: [0, 10_000_000, 10_000_001, null],
    inferences: [0, 1, -1, 0.5, null],
    errors: [0, 3, -3, 1.2, undefined],
    modelVersion: ['v1', '', 'x'.repeat(128), 'x'.repeat(129), '😀'.repeat(64), '😀'.repeat(65), null, 1],
    unavailable: [
      {},
      { powerW: 'no sensor' },
      { a: 'x'.repeat(200) },
      { a: 'x'.repeat(201) },
      { a: 1 },
      [],
      null,
      undefined,
      new Map(),
      { a: '😀'.repeat(100) },
    ],
  };
  for (const [k, vals] of Object.entries(fields)) {
    for (const v of vals) {
      const s = base();
      if (v === undefined) delete s[k];
      else s[k] = v;
      out.push(s);
    }
  }
  const extra = base();
  extra.somethingElse = 1;
  out.push(extra);
  return out;
}

describe('fast sample check', () => {
  it('never accepts what the schema rejects, and agrees on ordinary input', () => {
    for (const v of variants()) {
      const zodOk = TelemetrySample.safeParse(v).success;
      const fastOk = fastCheckSample(v);
      if (fastOk) expect(zodOk, JSON.stringify(v)).toBe(true);
      // validateSample is exactly the schema's verdict (fast path + zod fallback).
      expect(validateSample(v).ok, JSON.stringify(v)).toBe(zodOk);
    }
  });

  it('agrees with the schema on random valid samples and random corruptions', () => {
    const r = rng(3);
    const keys = Object.keys(base());
    const junk = [null, -1, 1e9, NaN, 'x', true, 0.5, {}, undefined];
    let disagreements = 0;
    for (let i = 0; i < 5000; i++) {
      const s: Record<string, unknown> = { ...sample(i % 50, i, Date.UTC(2025, 0, 1) + i * 1000, r) };
      if (i % 2 === 1) {
        const k = keys[Math.floor(r() * keys.length)] as string;
        s[k] = junk[Math.floor(r() * junk.length)];
      }
      const zodOk = TelemetrySample.safeParse(s).success;
      const fastOk = fastCheckSample(s);
      if (fastOk && !zodOk) throw new Error(`fast check accepted ${JSON.stringify(s)}`);
      if (fastOk !== zodOk) disagreements++;
    }
    // Strictness beyond the schema is allowed only on exotic input; random corruptions must agree.
    expect(disagreements).toBe(0);
  });

  it('rejects with the schema message', () => {
    const s = base();
    s.cpuPct = 140;
    const v = validateSample(s);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.reason).toMatch(/cpuPct/);
      expect(v.deviceId).toBe('dev-00001');
    }
  });
});
