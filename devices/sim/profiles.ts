import type { Accelerator } from '../../shared/telemetry.js';

/** What a kind of device looks like to the simulator: identity, limits and physics. */
export interface HardwareProfile {
  key: string;
  hardwareModel: string;
  accelerator: Accelerator;
  arch: string;
  os: string;
  /** Temperature the console treats as too hot (DeviceLimits.tempLimitC). */
  tempLimitC: number;
  /** Where firmware starts throttling; a little above the console's limit, as on real boards. */
  throttleAtC: number;
  /** Steady-state temperature rise over ambient at 100 % load with stock cooling. */
  fullLoadRiseC: number;
  /** Thermal time constant in seconds (heatsink mass). */
  thermalTauS: number;
  latencyBudgetMs: number;
  /** Model latency when idle and cool. */
  baseLatencyMs: number;
  /** Offered inference rate at 100 % load. */
  peakIps: number;
  idlePowerW: number;
  maxPowerW: number;
  memTotalMB: number;
  /** CPU share of the work: CPU-only boards run inference on the CPU, accelerators mostly do not. */
  cpuShare: number;
  models: readonly string[];
}

export const PROFILES: readonly HardwareProfile[] = [
  {
    key: 'orin-nano',
    hardwareModel: 'NVIDIA Jetson Orin Nano Developer Kit',
    accelerator: 'jetson',
    arch: 'arm64',
    os: 'Ubuntu 22.04.4 LTS (JetPack 6.0)',
    tempLimitC: 90,
    throttleAtC: 95,
    fullLoadRiseC: 42,
    thermalTauS: 45,
    latencyBudgetMs: 25,
    baseLatencyMs: 8,
    peakIps: 120,
    idlePowerW: 4.5,
    maxPowerW: 15,
    memTotalMB: 7620,
    cpuShare: 0.35,
    models: ['detector@1.4.2', 'detector@1.5.0'],
  },
  {
    key: 'xavier-nx',
    hardwareModel: 'NVIDIA Jetson Xavier NX Developer Kit',
    accelerator: 'jetson',
    arch: 'arm64',
    os: 'Ubuntu 20.04.6 LTS (JetPack 5.1.2)',
    tempLimitC: 85,
    throttleAtC: 90,
    fullLoadRiseC: 45,
    thermalTauS: 40,
    latencyBudgetMs: 40,
    baseLatencyMs: 15,
    peakIps: 60,
    idlePowerW: 4,
    maxPowerW: 15,
    memTotalMB: 7772,
    cpuShare: 0.4,
    models: ['detector@1.4.2', 'segmenter@0.9.3'],
  },
  {
    key: 'coral-dev',
    hardwareModel: 'Google Coral Dev Board',
    accelerator: 'coral',
    arch: 'arm64',
    os: 'Mendel GNU/Linux 5 (Eagle)',
    tempLimitC: 80,
    throttleAtC: 85,
    fullLoadRiseC: 38,
    thermalTauS: 25,
    latencyBudgetMs: 20,
    baseLatencyMs: 6,
    peakIps: 150,
    idlePowerW: 2.5,
    maxPowerW: 6,
    memTotalMB: 3906,
    cpuShare: 0.25,
    models: ['classifier@2.0.1', 'detector@1.4.2'],
  },
  {
    key: 'rpi5',
    hardwareModel: 'Raspberry Pi 5 Model B Rev 1.0',
    accelerator: 'cpu',
    arch: 'arm64',
    os: 'Debian GNU/Linux 12 (bookworm)',
    tempLimitC: 75,
    throttleAtC: 80,
    fullLoadRiseC: 45,
    thermalTauS: 30,
    latencyBudgetMs: 150,
    baseLatencyMs: 70,
    peakIps: 12,
    idlePowerW: 2.7,
    maxPowerW: 8.5,
    memTotalMB: 8048,
    cpuShare: 0.95,
    models: ['classifier@2.0.1'],
  },
  {
    key: 'x86-gateway',
    hardwareModel: 'Intel NUC11TNHi5 (x86 gateway)',
    accelerator: 'cpu',
    arch: 'x64',
    os: 'Ubuntu 22.04.4 LTS',
    tempLimitC: 90,
    throttleAtC: 100,
    fullLoadRiseC: 50,
    thermalTauS: 60,
    latencyBudgetMs: 60,
    baseLatencyMs: 20,
    peakIps: 50,
    idlePowerW: 8,
    maxPowerW: 40,
    memTotalMB: 15_756,
    cpuShare: 0.9,
    models: ['detector@1.5.0', 'segmenter@0.9.3'],
  },
];

/** Fleet mix: mostly Jetsons, then Pis and Corals, a few gateways. Indexed by device number. */
const MIX = ['orin-nano', 'rpi5', 'xavier-nx', 'coral-dev', 'orin-nano', 'rpi5', 'x86-gateway', 'orin-nano'];

export function profileFor(index: number): HardwareProfile {
  const key = MIX[index % MIX.length];
  const p = PROFILES.find((x) => x.key === key);
  if (!p) throw new Error(`no hardware profile ${String(key)}`);
  return p;
}
