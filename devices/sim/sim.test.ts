import { afterEach, describe, expect, it } from 'vitest';
import { AgentClient } from '../client/agent-client.js';
import { InferenceStats } from '../agent/inference-stats.js';
import { startSimulatedFleet, type SimulatedFleet } from './fleet.js';
import { PROFILES, profileFor } from './profiles.js';
import { childSeed, mulberry32 } from './rng.js';
import { SimDevice } from './sim-device.js';

function device(profileKey: string, seed = 7, extra: { cooling?: number; ambientC?: number } = {}) {
  let now = 1_800_000_000_000;
  const profile = PROFILES.find((p) => p.key === profileKey);
  if (!profile) throw new Error(profileKey);
  const inference = new InferenceStats({ clock: () => now });
  const d = new SimDevice({
    profile,
    rng: mulberry32(seed),
    clock: () => now,
    inference,
    hostname: 'sim-test',
    modelVersion: 'detector@1.4.2',
    ...extra,
  });
  const advance = (seconds: number, stepS = 1) => {
    for (let t = 0; t < seconds; t += stepS) {
      now += stepS * 1000;
      d.step(now);
    }
  };
  return { d, inference, advance };
}

describe('mulberry32', () => {
  it('is deterministic per seed and roughly uniform', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 10_000 }, () => a());
    expect(xs.slice(0, 5)).toEqual(Array.from({ length: 5 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.48);
    expect(mean).toBeLessThan(0.52);
    expect(mulberry32(43)()).not.toBe(mulberry32(42)());
    expect(childSeed(1, 0)).not.toBe(childSeed(1, 1));
  });
});

describe('SimDevice physics', () => {
  it('temperature rises with load, with thermal inertia', () => {
    const { d, advance } = device('orin-nano', 3, { cooling: 1, ambientC: 25 });
    d.setLoad(0.05);
    advance(600);
    const idle = d.tempC;
    d.setLoad(1);
    advance(5);
    const soon = d.tempC;
    advance(600);
    const hot = d.tempC;
    expect(hot).toBeGreaterThan(idle + 20);
    // Inertia: five seconds in, it has moved only part of the way.
    expect(soon).toBeGreaterThan(idle);
    expect(soon).toBeLessThan(idle + (hot - idle) * 0.5);
  });

  it('throttles above the trip point, gets slower, and recovers with hysteresis', () => {
    const { d, inference, advance } = device('rpi5', 11, { cooling: 1.6, ambientC: 35 });
    d.setLoad(0.3);
    advance(300);
    expect(d.throttled).toBe(false);
    inference.snapshot();
    advance(30);
    const coolP50 = inference.snapshot().p50Ms ?? 0;
    d.setLoad(1);
    advance(600);
    expect(d.throttled).toBe(true);
    expect(d.tempC).toBeGreaterThanOrEqual(d.profile.throttleAtC - 4);
    advance(60);
    const hot = inference.snapshot();
    expect(hot.p50Ms ?? 0).toBeGreaterThan(coolP50 * 1.5);
    d.setLoad(0.05);
    advance(900);
    expect(d.throttled).toBe(false);
  });

  it('feeds inference stats from the simulated loop, with occasional errors', () => {
    const { d, inference, advance } = device('coral-dev', 5);
    d.setLoad(0.8);
    advance(120);
    const snap = inference.snapshot();
    // 150 ips peak * 0.8 * 120 s, give or take throttling.
    expect(snap.inferences).toBeGreaterThan(5000);
    expect(snap.errors).toBeGreaterThan(0);
    expect(snap.errors).toBeLessThan(snap.inferences * 0.05);
    expect(snap.p99Ms ?? 0).toBeGreaterThan(snap.p50Ms ?? 0);
  });

  it('wanders load without pinning it', () => {
    const { d, advance } = device('x86-gateway', 9);
    const loads: number[] = [];
    for (let i = 0; i < 600; i++) {
      advance(1);
      loads.push(d.load);
    }
    expect(Math.max(...loads) - Math.min(...loads)).toBeGreaterThan(0.2);
    expect(loads.every((l) => l >= 0 && l <= 1)).toBe(true);
  });

  it('uses a realistic profile mix', () => {
    const models = new Set(Array.from({ length: 8 }, (_, i) => profileFor(i).hardwareModel));
    expect([...models].join(' ')).toMatch(/Orin Nano.*|Raspberry Pi 5|Xavier NX|Coral|x86/);
    expect(models.size).toBe(5);
  });
});

describe('startSimulatedFleet', () => {
  let fleet: SimulatedFleet | null = null;
  afterEach(async () => {
    await fleet?.close();
    fleet = null;
  });

  it('starts 5 real agents with distinct ports, ids and tokens that answer the client', async () => {
    const progress: number[] = [];
    fleet = await startSimulatedFleet({
      devices: 5,
      intervalMs: 100,
      seed: 4,
      onProgress: (d) => progress.push(d),
    });
    expect(progress.at(-1)).toBe(5);
    const ports = new Set(fleet.agents.map((a) => a.port));
    const ids = fleet.agents.map((a) => a.identity.deviceId);
    expect(ports.size).toBe(5);
    expect(ids).toEqual(['sim-0001', 'sim-0002', 'sim-0003', 'sim-0004', 'sim-0005']);
    expect(new Set(fleet.enrollment.map((e) => e.token)).size).toBe(5);
    expect(fleet.enrollment[0]?.name).toMatch(/^sim-0001 \(/);

    const e = fleet.enrollment[2];
    if (!e) throw new Error('no enrollment');
    const client = new AgentClient({ url: e.url, token: e.token });
    const id = await client.identity();
    expect(id.deviceId).toBe('sim-0003');
    expect(id.limits.tempLimitC).toBe(profileFor(2).tempLimitC);
    await fleet.agents[2]?.sampleNow();
    const t = await client.telemetry(0);
    expect(t.samples.length).toBeGreaterThanOrEqual(2);
    const last = t.samples.at(-1) as { tempC: number; modelVersion: string; throughputIps: number | null };
    expect(last.tempC).toBeGreaterThan(0);
    expect(last.modelVersion).toMatch(/@/);

    // Another device's token does not open this one.
    const other = fleet.enrollment[0]?.token ?? '';
    await expect(new AgentClient({ url: e.url, token: other }).identity()).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
    });
  });

  it('takes a fleet down for a simulated outage when asked to', async () => {
    fleet = await startSimulatedFleet({
      devices: 2,
      intervalMs: 50,
      seed: 1,
      disconnectProbability: 1,
      disconnectMs: [60_000, 60_000],
    });
    await expect.poll(() => fleet?.agents.every((a) => a.isPaused()), { timeout: 5000 }).toBe(true);
    const e = fleet.enrollment[0];
    if (!e) throw new Error('no enrollment');
    await expect(
      new AgentClient({ url: e.url, token: e.token, timeoutMs: 2000 }).identity(),
    ).rejects.toMatchObject({
      code: 'DEVICE_UNREACHABLE',
    });
  });

  it('rejects silly sizes', async () => {
    await expect(startSimulatedFleet({ devices: 0 })).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });
});
