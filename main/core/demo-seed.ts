import { evaluateHealth } from '../../shared/health.js';
import type { DeviceIdentity, TelemetrySampleInput } from '../../shared/telemetry.js';
import type { FleetStore } from '../fleetlog/types.js';
import { mulberry32 } from '../../shared/rng.js';

const MODELS: {
  hardwareModel: string;
  accelerator: DeviceIdentity['accelerator'];
  arch: string;
  tempLimitC: number;
  latencyBudgetMs: number;
  baseLatency: number;
}[] = [
  {
    hardwareModel: 'NVIDIA Jetson Orin Nano',
    accelerator: 'jetson',
    arch: 'arm64',
    tempLimitC: 85,
    latencyBudgetMs: 40,
    baseLatency: 14,
  },
  {
    hardwareModel: 'NVIDIA Jetson Xavier NX',
    accelerator: 'jetson',
    arch: 'arm64',
    tempLimitC: 80,
    latencyBudgetMs: 50,
    baseLatency: 22,
  },
  {
    hardwareModel: 'Google Coral Dev Board',
    accelerator: 'coral',
    arch: 'arm64',
    tempLimitC: 85,
    latencyBudgetMs: 30,
    baseLatency: 9,
  },
  {
    hardwareModel: 'Raspberry Pi 5 Model B',
    accelerator: 'cpu',
    arch: 'arm64',
    tempLimitC: 80,
    latencyBudgetMs: 150,
    baseLatency: 70,
  },
  {
    hardwareModel: 'Intel NUC 13 Pro',
    accelerator: 'cpu',
    arch: 'x64',
    tempLimitC: 95,
    latencyBudgetMs: 60,
    baseLatency: 25,
  },
];
const VERSIONS = [
  'detector@1.4.2',
  'detector@1.4.2',
  'detector@1.4.2',
  'detector@1.5.0-rc.1',
  'detector@1.3.9',
];

/**
 * Writes a recorded-looking fleet straight into the fleet log (through the real ingest path): N devices,
 * `minutes` of one-per-minute samples each, statuses from the real health rules. Used by the UI
 * benchmark and for demos at sizes no laptop could simulate live. These devices have no agent URL, so
 * the collector leaves them alone and, after the unreachable window, reports them as unreachable.
 */
export async function seedDemoFleet(
  store: FleetStore,
  opts: {
    devices: number;
    minutes?: number;
    seed?: number;
    nowTs?: number;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<void> {
  const rand = mulberry32(opts.seed ?? 1);
  const now = opts.nowTs ?? Date.now();
  const minutes = opts.minutes ?? 30;
  const pad = String(opts.devices).length;
  let batch: TelemetrySampleInput[] = [];
  for (let i = 0; i < opts.devices; i++) {
    const m = MODELS[Math.floor(rand() * MODELS.length)] ?? MODELS[0]!;
    const id = `demo-${String(i + 1).padStart(pad, '0')}`;
    const identity: DeviceIdentity = {
      deviceId: id,
      hostname: id,
      hardwareModel: m.hardwareModel,
      os: m.arch === 'x64' ? 'Ubuntu 24.04 LTS' : 'Ubuntu 22.04 LTS (L4T)',
      arch: m.arch,
      machineId: null,
      serial: null,
      accelerator: m.accelerator,
      agentVersion: 'demo',
      bootId: 'demo',
      limits: { tempLimitC: m.tempLimitC, latencyBudgetMs: m.latencyBudgetMs, errorRateLimit: 0.02 },
    };
    await store.upsertDevice({ id, identity, url: null, token: null, limits: identity.limits });
    const hot = rand() < 0.05;
    const version = VERSIONS[Math.floor(rand() * VERSIONS.length)] ?? null;
    let temp = 45 + rand() * 15 + (hot ? 30 : 0);
    let last: TelemetrySampleInput | null = null;
    for (let k = minutes - 1; k >= 0; k--) {
      temp = Math.max(30, Math.min(m.tempLimitC + 8, temp + (rand() - 0.5) * 2));
      const throttled = temp > m.tempLimitC;
      const p50 = m.baseLatency * (throttled ? 1.8 : 1) * (0.9 + rand() * 0.2);
      const inferences = 600 + Math.floor(rand() * 100);
      last = {
        deviceId: id,
        seq: minutes - k,
        ts: now - k * 60_000,
        tempC: Math.round(temp * 10) / 10,
        cpuPct: Math.round((30 + rand() * 50) * 10) / 10,
        memPct: Math.round((40 + rand() * 30) * 10) / 10,
        diskFreeBytes: 8e9,
        uptimeS: 86_400,
        throttled,
        powerW: m.accelerator === 'jetson' ? Math.round((7 + rand() * 6) * 10) / 10 : null,
        latencyP50Ms: p50,
        latencyP95Ms: p50 * 1.6,
        latencyP99Ms: p50 * 2.2,
        throughputIps: inferences / 60,
        inferences,
        errors: rand() < 0.03 ? Math.floor(rand() * 40) : 0,
        modelVersion: version,
        unavailable: m.accelerator === 'jetson' ? {} : { powerW: 'no power sensor on this board' },
      };
      batch.push(last);
    }
    await store.markContact(id, now);
    if (last) {
      const v = evaluateHealth({
        nowTs: now,
        lastContactTs: now,
        tempC: last.tempC,
        throttled: last.throttled,
        latencyP95Ms: last.latencyP95Ms,
        inferences: last.inferences,
        errors: last.errors,
        limits: identity.limits,
      });
      if (batch.length >= 20_000) {
        await store.ingest(batch, now);
        batch = [];
      }
      await store.setStatus(id, v.status, v.reasons, now);
    }
    if (i % 500 === 0) opts.onProgress?.(i, opts.devices);
  }
  if (batch.length) await store.ingest(batch, now);
  opts.onProgress?.(opts.devices, opts.devices);
}
