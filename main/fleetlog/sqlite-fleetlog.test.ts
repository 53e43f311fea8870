import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import type { TelemetrySampleInput } from '../../shared/telemetry.js';
import { HOUR_MS, MINUTE_MS } from './rollup.js';
import { SqliteFleetLog, type SqliteFleetLogOptions } from './sqlite-fleetlog.js';
import { fleetStream, registration, rng, sample, T0 } from './testkit.js';

let dir: string;
let open: SqliteFleetLog[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetlog-test-'));
});
afterEach(() => {
  for (const s of open) s.close();
  open = [];
  rmSync(dir, { recursive: true, force: true });
});

function store(opts: SqliteFleetLogOptions = {}, file = 'fleet.db'): SqliteFleetLog {
  const s = new SqliteFleetLog(join(dir, file), opts);
  open.push(s);
  return s;
}
function closeStore(s: SqliteFleetLog): void {
  s.close();
  open = open.filter((x) => x !== s);
}

/** Known data: tempC = i, cpuPct null on odd i, one sample every 10 s. */
function known(i: number, dev = 0): TelemetrySampleInput {
  return { ...sample(dev, i, T0 + i * 10_000, rng(i)), tempC: i % 97, cpuPct: i % 2 ? null : (i * 7) % 100 };
}

function expectedStats(values: (number | null)[]): { min: number; avg: number; max: number; p95: number } {
  const v = values.filter((x): x is number => x !== null).sort((a, b) => a - b);
  return {
    min: v[0] as number,
    avg: v.reduce((a, b) => a + b, 0) / v.length,
    max: v[v.length - 1] as number,
    p95: v[Math.ceil(0.95 * v.length) - 1] as number,
  };
}

function checkRollups(s: SqliteFleetLog, samples: TelemetrySampleInput[], res: '1m' | '1h'): void {
  const step = res === '1m' ? MINUTE_MS : HOUR_MS;
  const from = T0;
  const to = (samples[samples.length - 1]?.ts ?? T0) + 1;
  const series = s.series({ deviceId: 'dev-00000', fromTs: from, toTs: to, resolution: res });
  const buckets = new Map<number, TelemetrySampleInput[]>();
  for (const x of samples) {
    const b = x.ts - (x.ts % step);
    buckets.set(b, [...(buckets.get(b) ?? []), x]);
  }
  expect(series.ts).toEqual([...buckets.keys()]);
  series.ts.forEach((b, i) => {
    const inB = buckets.get(b) ?? [];
    for (const m of ['tempC', 'cpuPct'] as const) {
      const e = expectedStats(inB.map((x) => x[m]));
      expect(series.columns[`${m}_min`]?.[i]).toBe(e.min);
      expect(series.columns[`${m}_max`]?.[i]).toBe(e.max);
      expect(series.columns[`${m}_p95`]?.[i]).toBe(e.p95);
      expect(series.columns[`${m}_avg`]?.[i]).toBeCloseTo(e.avg, 9);
    }
    expect(series.columns.samples?.[i]).toBe(inB.length);
    expect(series.columns.inferences?.[i]).toBe(inB.reduce((a, x) => a + x.inferences, 0));
    expect(series.columns.errors?.[i]).toBe(inB.reduce((a, x) => a + x.errors, 0));
    expect(series.columns.throttled?.[i]).toBe(inB.filter((x) => x.throttled === true).length);
  });
}

describe('rollups', () => {
  it('1-minute and 1-hour rollups are exact on known data', () => {
    const s = store();
    s.upsertDevice(registration(0));
    const samples = Array.from({ length: 800 }, (_, i) => known(i));
    for (let i = 0; i < samples.length; i += 37) s.ingest(samples.slice(i, i + 37), T0 + 10 * HOUR_MS);
    checkRollups(s, samples, '1m');
    checkRollups(s, samples, '1h');
  });

  it('stay exact across a clean restart mid-bucket', () => {
    let s = store();
    s.upsertDevice(registration(0));
    const samples = Array.from({ length: 500 }, (_, i) => known(i));
    s.ingest(samples.slice(0, 203), T0 + 10 * HOUR_MS); // 203 * 10 s: mid-minute and mid-hour
    closeStore(s);
    s = store();
    s.ingest(samples.slice(203), T0 + 10 * HOUR_MS);
    checkRollups(s, samples, '1m');
    checkRollups(s, samples, '1h');
  });

  it('stay exact after a crash with unflushed open buckets (and late samples)', () => {
    const s = store({ rollupFlushMs: Infinity });
    s.upsertDevice(registration(0));
    const samples = Array.from({ length: 500 }, (_, i) => known(i));
    s.ingest(samples.slice(0, 100), T0 + 10 * HOUR_MS);
    s.flush();
    s.ingest(samples.slice(100, 250), T0 + 10 * HOUR_MS);
    // A crash now: copy the database and its WAL as they are on disk (committed, nothing flushed since).
    copyFileSync(join(dir, 'fleet.db'), join(dir, 'crash.db'));
    if (existsSync(join(dir, 'fleet.db-wal')))
      copyFileSync(join(dir, 'fleet.db-wal'), join(dir, 'crash.db-wal'));
    const c = store({}, 'crash.db');
    // The open buckets were repaired on open, before anything else touches them.
    checkRollups(c, samples.slice(0, 250), '1h');
    // A late sample (older than the open minute) and the rest.
    const late = known(2000);
    late.ts = T0 + 15_000 + 1; // inside minute 0, between existing samples
    c.ingest([late, ...samples.slice(250)], T0 + 10 * HOUR_MS);
    const all = [...samples, late].sort((a, b) => a.ts - b.ts);
    checkRollups(c, all, '1m');
    checkRollups(c, all, '1h');
  });
});

describe('ingest validation', () => {
  it('rejects malformed, out-of-range and unknown-device samples with reasons, logs them, stores none', () => {
    const s = store();
    s.upsertDevice(registration(0));
    const good = known(1);
    const r = s.ingest(
      [
        good,
        { ...known(2), cpuPct: 250 },
        { nope: true },
        { ...known(3), deviceId: 'ghost' },
        { ...known(4), ts: T0 + 99 * HOUR_MS },
        known(5),
      ],
      T0 + HOUR_MS,
    );
    expect(r.accepted).toBe(2);
    expect(r.duplicates).toBe(0);
    expect(r.rejected.map((x) => x.index)).toEqual([1, 2, 3, 4]);
    expect(r.rejected[0]?.reason).toMatch(/cpuPct/);
    expect(r.rejected[1]?.deviceId).toBeNull();
    expect(r.rejected[2]).toEqual({ index: 3, deviceId: 'ghost', reason: 'unknown device' });
    expect(r.rejected[3]?.reason).toMatch(/ahead of the console clock/);
    const count = s.db.prepare('SELECT COUNT(*) AS n FROM samples').get() as { n: number };
    expect(count.n).toBe(2);
    const ev = s.events({ limit: 100 }).filter((e) => e.kind === 'telemetry.rejected');
    expect(ev).toHaveLength(4);
    expect(ev.some((e) => e.deviceId === 'ghost' && /unknown device/.test(e.message))).toBe(true);
  });

  it('duplicates (same deviceId + ts) are idempotent and do not skew rollups', () => {
    const s = store();
    s.upsertDevice(registration(0));
    const samples = Array.from({ length: 30 }, (_, i) => known(i));
    expect(s.ingest(samples, T0 + HOUR_MS)).toMatchObject({ accepted: 30, duplicates: 0 });
    expect(s.ingest([...samples.slice(0, 10), samples[3]], T0 + HOUR_MS)).toMatchObject({
      accepted: 0,
      duplicates: 11,
    });
    checkRollups(s, samples, '1m');
    const raw = s.series({ deviceId: 'dev-00000', fromTs: T0, toTs: T0 + HOUR_MS, resolution: 'raw' });
    expect(raw.ts).toHaveLength(30);
  });

  it('rate-limits telemetry.rejected events so garbage cannot flood the table', () => {
    const s = store({ rejectLog: { windowMs: 60_000, perSender: 3, total: 10 } });
    s.upsertDevice(registration(0));
    const junk = Array.from({ length: 1000 }, (_, i) => ({ ...known(i), cpuPct: -5 }));
    const strangers = Array.from({ length: 1000 }, (_, i) => ({ ...known(i), deviceId: `stranger-${i}` }));
    expect(s.ingest([...junk, ...strangers], T0 + HOUR_MS).rejected).toHaveLength(2000);
    const ev = s.events({ limit: 1000 }).filter((e) => e.kind === 'telemetry.rejected');
    expect(ev.length).toBe(10);
    expect(ev.filter((e) => e.deviceId === 'dev-00000')).toHaveLength(3);
    // Next window: the count of what was not logged is reported.
    s.ingest([{ ...known(5000), cpuPct: -5 }], T0 + HOUR_MS + 61_000);
    const [latest] = s.events({ limit: 1 });
    expect(latest?.message).toMatch(/997 more rejected samples/);
  });
});

describe('devices and queries', () => {
  it('keeps latest state per device and lists, searches and filters', () => {
    const s = store();
    for (let i = 0; i < 20; i++) s.upsertDevice(registration(i));
    const samples = [...fleetStream({ devices: 20, steps: 12 })];
    s.ingest(samples, T0 + HOUR_MS);
    const rows = s.listDevices();
    expect(rows).toHaveLength(20);
    const last = samples.filter((x) => x.deviceId === 'dev-00004').at(-1);
    const r4 = rows.find((r) => r.id === 'dev-00004');
    expect(r4).toMatchObject({
      lastSampleTs: last?.ts,
      tempC: last?.tempC,
      lastContactTs: T0 + HOUR_MS,
      name: 'cam-4',
      hardwareModel: 'jetson-orin-nano',
    });
    expect(r4?.errorRate).toBeCloseTo((last?.errors ?? 0) / (last?.inferences ?? 1), 12);
    expect(s.listDevices({ search: 'CAM-1' }).map((r) => r.id)).toEqual([
      'dev-00001',
      ...Array.from({ length: 10 }, (_, i) => `dev-000${10 + i}`),
    ]);
    expect(s.listDevices({ search: 'rpi5' })).toHaveLength(5);
    expect(s.listDevices({ search: '100%' })).toHaveLength(0);
    expect(s.setStatus('dev-00002', 'degraded', ['throttling'], T0)).toBe(true);
    expect(s.setStatus('dev-00002', 'degraded', ['throttling', 'hot'], T0)).toBe(false);
    expect(s.setStatus('ghost', 'healthy', [], T0)).toBe(false);
    expect(s.listDevices({ status: ['degraded'] }).map((r) => [r.id, r.statusReasons])).toEqual([
      ['dev-00002', ['throttling', 'hot']],
    ]);
    expect(s.listDevices({ status: ['unknown'], search: 'cam-2' })).toHaveLength(0);
    expect(s.listDevices({ status: ['degraded', 'unknown'], search: 'cam-2' }).map((r) => r.id)).toEqual([
      'dev-00002',
    ]);
    const ev = s.events({ deviceId: 'dev-00002', limit: 10 });
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ kind: 'status.changed', severity: 'warning' });
    s.markContact('dev-00003', T0 + 2 * HOUR_MS);
    s.markContact('dev-00003', T0);
    expect(s.getDevice('dev-00003')?.row.lastContactTs).toBe(T0 + 2 * HOUR_MS);
    expect(s.getDevice('dev-00003')?.identity?.hostname).toBe('cam-3');
    expect(s.getDevice('nope')).toBeNull();
    const hs = s.healthStates().find((h) => h.deviceId === 'dev-00004');
    expect(hs?.input).toMatchObject({
      inferences: last?.inferences,
      errors: last?.errors,
      limits: { tempLimitC: 85 },
    });
  });

  it('enrols, updates without losing fields, keeps cursors, removes', () => {
    const s = store();
    s.upsertDevice({ id: 'edge-1', url: 'http://a:1', token: 't'.repeat(16), identity: null });
    expect(s.getDevice('edge-1')?.row).toMatchObject({
      name: 'edge-1',
      status: 'unknown',
      statusReasons: ['never contacted'],
    });
    const reg = registration(1);
    const row = s.upsertDevice({
      id: 'edge-1',
      url: null,
      token: null,
      identity: reg.identity && { ...reg.identity, deviceId: 'edge-1' },
    });
    expect(row).toMatchObject({ name: 'edge-1', hardwareModel: 'rpi5', url: 'http://a:1' });
    expect(() => s.upsertDevice({ ...reg, id: 'edge-2' })).toThrow(AppError);
    s.setCursor({ deviceId: 'edge-1', bootId: 'b1', lastSeq: 42 });
    expect(s.listEnrolledAgents()).toEqual([
      { id: 'edge-1', url: 'http://a:1', token: 't'.repeat(16), bootId: 'b1', lastSeq: 42 },
    ]);
    expect(s.removeDevice('edge-1')).toBe(true);
    expect(s.removeDevice('edge-1')).toBe(false);
    expect(s.listDevices()).toHaveLength(0);
    expect(s.ingest([known(1)], T0).rejected[0]?.reason).toBe('unknown device');
  });

  it('series resolution auto: raw up to 6 h, 1m up to 3 days, 1h beyond', () => {
    const s = store();
    s.upsertDevice(registration(0));
    s.ingest(
      Array.from({ length: 100 }, (_, i) => known(i)),
      T0 + HOUR_MS,
    );
    const q = (h: number) =>
      s.series({ deviceId: 'dev-00000', fromTs: T0, toTs: T0 + h * HOUR_MS, resolution: 'auto' });
    expect(q(6).resolution).toBe('raw');
    expect(q(6).columns.tempC).toHaveLength(100);
    expect(q(7).resolution).toBe('1m');
    expect(Object.keys(q(7).columns)).toContain('latencyP95Ms_p95');
    expect(q(72).resolution).toBe('1m');
    expect(q(73).resolution).toBe('1h');
    expect(q(73).ts).toEqual([T0]);
    expect(() => s.series({ deviceId: 'ghost', fromTs: T0, toTs: T0 + 1, resolution: 'auto' })).toThrow(
      /no device/,
    );
  });

  it('sparklines: fixed step, nulls for gaps, one metric from 1-minute rollups', () => {
    const s = store();
    for (let i = 0; i < 3; i++) s.upsertDevice(registration(i));
    const samples = [...fleetStream({ devices: 3, steps: 60 })].filter(
      (x) => !(x.deviceId === 'dev-00001' && x.ts > T0 + 5 * MINUTE_MS),
    );
    s.ingest(samples, T0 + HOUR_MS);
    const now = T0 + 9 * MINUTE_MS + 30_000;
    const r = s.sparklines(
      { deviceIds: ['dev-00000', 'dev-00001', 'ghost'], metric: 'tempC', minutes: 12 },
      now,
    );
    expect(r.stepMs).toBe(MINUTE_MS);
    expect(r.fromTs).toBe(T0 - 2 * MINUTE_MS);
    expect(r.series['dev-00000']?.slice(0, 2)).toEqual([null, null]);
    expect(r.series['dev-00000']?.[2]).toBeCloseTo(
      expectedStats(
        samples.filter((x) => x.deviceId === 'dev-00000' && x.ts < T0 + MINUTE_MS).map((x) => x.tempC),
      ).avg,
      9,
    );
    expect(r.series['dev-00001']?.slice(8)).toEqual([null, null, null, null]);
    expect(r.series.ghost).toEqual(new Array(12).fill(null));
    // Many devices: the range-scan path gives the same answer.
    const all = s.sparklines(
      { deviceIds: ['dev-00000', 'dev-00001', 'dev-00002'], metric: 'tempC', minutes: 12 },
      now,
    );
    expect(all.series['dev-00000']).toEqual(r.series['dev-00000']);
  });

  it('events page newest first', () => {
    const s = store();
    for (let i = 0; i < 25; i++)
      s.addEvent({ deviceId: i % 2 ? 'a' : null, ts: T0 + i, kind: 'k', severity: 'info', message: `m${i}` });
    const p1 = s.events({ limit: 10 });
    expect(p1.map((e) => e.message)).toEqual(Array.from({ length: 10 }, (_, i) => `m${24 - i}`));
    const p2 = s.events({ limit: 10, beforeId: p1.at(-1)?.id ?? 0 });
    expect(p2[0]?.message).toBe('m14');
    expect(s.events({ limit: 100, deviceId: 'a' })).toHaveLength(12);
  });
});

describe('retention', () => {
  it('deletes raw, rollups and events older than their horizons, keeping newer data', () => {
    const s = store();
    s.upsertDevice(registration(0));
    const DAY = 24 * HOUR_MS;
    // One sample per hour for 10 days.
    const samples = Array.from({ length: 240 }, (_, i) => ({ ...known(i), ts: T0 + i * HOUR_MS, seq: i }));
    s.ingest(samples, T0 + 10 * DAY);
    s.addEvent({ deviceId: null, ts: T0, kind: 'old', severity: 'info', message: 'old' });
    s.addEvent({ deviceId: null, ts: T0 + 9 * DAY, kind: 'new', severity: 'info', message: 'new' });
    const count = (t: string) => (s.db.prepare(`SELECT COUNT(*) AS n FROM ${t}`).get() as { n: number }).n;
    expect(count('samples')).toBe(240);
    const now = T0 + 10 * DAY;
    const { deleted } = s.applyRetention(now, { rawDays: 2, minuteDays: 5, hourDays: 8, eventDays: 3 });
    expect(count('samples')).toBe(48);
    expect(count('rollup_1m')).toBe(120);
    expect(count('rollup_1h')).toBe(192);
    expect(s.events({ limit: 10 }).map((e) => e.kind)).toEqual(['new']);
    expect(deleted).toBe(192 + 120 + 48 + 1);
    // Series still answer from what is left.
    expect(
      s.series({ deviceId: 'dev-00000', fromTs: now - 4 * DAY, toTs: now, resolution: 'auto' }).ts,
    ).toHaveLength(96);
  });
});

describe('overview cache', () => {
  it('listDevices from memory matches the devices table after ingest, contact, status and removal', () => {
    const s = store();
    for (let i = 0; i < 6; i++) s.upsertDevice(registration(i));
    s.listDevices(); // builds the cache
    s.ingest([...fleetStream({ devices: 6, steps: 5 })], T0 + HOUR_MS);
    s.ingest([...fleetStream({ devices: 6, steps: 5 })].slice(0, 3), T0 + 2 * HOUR_MS); // duplicates: contact only
    s.markContact('dev-00001', T0 + 3 * HOUR_MS);
    s.setStatus('dev-00002', 'unreachable', ['no contact for 2 min'], T0);
    s.removeDevice('dev-00005');
    s.upsertDevice(registration(9));
    const cached = s.listDevices();
    closeStore(s);
    expect(store().listDevices()).toEqual(cached);
  });
});
