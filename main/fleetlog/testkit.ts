// Deterministic fleets and samples for the fleet log's tests and benchmarks (not used by the app).
import type { BuildRecord } from '../../shared/artifact.js';
import type { TelemetrySampleInput } from '../../shared/telemetry.js';
import type { DeviceRegistration } from './types.js';
import { mulberry32 } from '../../shared/rng.js';

/** Seeded RNG (mulberry32) so tests and benchmarks see the same data every run. */
export const rng = mulberry32;

export const T0 = Date.UTC(2025, 0, 1);

export function deviceId(i: number): string {
  return `dev-${String(i).padStart(5, '0')}`;
}

export function registration(i: number): DeviceRegistration {
  const id = deviceId(i);
  const models = ['jetson-orin-nano', 'rpi5', 'coral-devboard', 'x86-nuc'];
  return {
    id,
    name: `cam-${i}`,
    url: `http://10.0.${(i >> 8) & 255}.${i & 255}:7070`,
    token: `token-${id}-0123456789abcdef`,
    identity: {
      deviceId: id,
      hostname: `cam-${i}`,
      hardwareModel: models[i % models.length] ?? 'x86-nuc',
      os: 'linux',
      arch: 'arm64',
      machineId: null,
      serial: null,
      accelerator: 'cpu',
      agentVersion: '0.1.0',
      bootId: `boot-${i}`,
      limits: { tempLimitC: 85, latencyBudgetMs: 100, errorRateLimit: 0.02 },
    },
  };
}

const EMPTY: Record<string, string> = {};

export function sample(devIndex: number, seq: number, ts: number, r: () => number): TelemetrySampleInput {
  const noPower = devIndex % 10 === 3;
  const lat = 5 + r() * 20;
  return {
    deviceId: deviceId(devIndex),
    seq,
    ts,
    tempC: 40 + r() * 30,
    cpuPct: r() * 100,
    memPct: 20 + r() * 60,
    diskFreeBytes: 1_000_000_000 + Math.floor(r() * 1e9),
    uptimeS: seq * 10,
    throttled: r() < 0.01,
    powerW: noPower ? null : 5 + r() * 10,
    latencyP50Ms: lat,
    latencyP95Ms: lat * 1.5,
    latencyP99Ms: lat * 2,
    throughputIps: 10 + r() * 50,
    inferences: 100 + Math.floor(r() * 100),
    errors: r() < 0.05 ? 1 : 0,
    modelVersion: 'yolo-v8n@1.2.0',
    unavailable: noPower ? { powerW: 'no power sensor' } : EMPTY,
  };
}

/**
 * The benchmark's arrival order: `devices` devices each reporting every `intervalMs`, interleaved and
 * time-ordered (device d reports at offset d * intervalMs / devices within each period).
 */
export function* fleetStream(opts: {
  devices: number;
  steps: number;
  intervalMs?: number;
  t0?: number;
  seed?: number;
  firstStep?: number;
}): Generator<TelemetrySampleInput> {
  const interval = opts.intervalMs ?? 10_000;
  const t0 = opts.t0 ?? T0;
  const r = rng(opts.seed ?? 1);
  const offset = interval / opts.devices;
  for (let k = opts.firstStep ?? 0; k < (opts.firstStep ?? 0) + opts.steps; k++) {
    for (let d = 0; d < opts.devices; d++) {
      yield sample(d, k, t0 + k * interval + Math.floor(d * offset), r);
    }
  }
}

/** A deterministic uuid (v4 layout) for test records. */
export function testUuid(i: number): string {
  return `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
}

/** A succeeded build record of `yolo-v8n` (override any field); createdAt = T0 + i minutes. */
export function buildRecord(i: number, over: Partial<BuildRecord> = {}): BuildRecord {
  const hex = (n: number, len: number) => n.toString(16).padStart(len, '0').slice(-len);
  return {
    id: testUuid(i),
    name: 'yolo-v8n',
    version: `1.0.${i}`,
    target: 'jetson-orin-nano',
    precision: 'int8',
    mode: null,
    status: 'succeeded',
    createdAt: T0 + i * 60_000,
    durationMs: 12_345,
    sourceSha256: hex(i, 64),
    sourceName: 'yolo-v8n.onnx',
    artifactDir: `/data/artifacts/yolo-v8n-1.0.${i}`,
    manifestSha256: hex(i + 1, 64),
    keyId: '0123456789abcdef',
    summary: { sizeBytes: 6_000_000 + i, nodes: 230, agreement: { top1: 0.993 }, compat: 'ok' },
    error: null,
    ...over,
  };
}
