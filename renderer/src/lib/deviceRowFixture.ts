import type { DeviceRow } from '../../../shared/fleet.js';

/** A plausible DeviceRow for tests; override what the test is about. */
export function row(id: string, over: Partial<DeviceRow> = {}): DeviceRow {
  return {
    id,
    name: `dev ${id}`,
    hardwareModel: 'Jetson Orin Nano',
    accelerator: 'jetson',
    arch: 'arm64',
    os: 'Ubuntu 22.04',
    url: null,
    status: 'healthy',
    statusReasons: [],
    lastContactTs: 1,
    lastSampleTs: 1,
    tempC: 50,
    cpuPct: 10,
    memPct: 20,
    powerW: null,
    latencyP50Ms: 5,
    latencyP95Ms: 9,
    latencyP99Ms: 12,
    throughputIps: 30,
    throttled: false,
    errorRate: 0,
    modelVersion: 'v1',
    limits: { tempLimitC: 85, latencyBudgetMs: 100, errorRateLimit: 0.02 },
    ...over,
  };
}
