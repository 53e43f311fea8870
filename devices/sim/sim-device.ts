import type { InferenceStats } from '../agent/inference-stats.js';
import type { HardwareIdentity, SensorReadings, SensorSource } from '../agent/sensors/types.js';
import type { HardwareProfile } from './profiles.js';
import { normal, uniform, type Rng } from './rng.js';

export interface SimDeviceOptions {
  profile: HardwareProfile;
  rng: Rng;
  clock: () => number;
  /** Fed with synthesized inferences as simulated time passes. */
  inference: InferenceStats;
  hostname: string;
  modelVersion: string;
  /** Multiplier on the load-driven temperature rise: >1 is a cramped enclosure, <1 a good heatsink. */
  cooling?: number;
  ambientC?: number;
  /** Probability that one inference fails while cool (x5 when throttled). */
  errorRate?: number;
}

/** Longest stretch of time simulated in one step; a process that stalled for an hour does not replay it. */
const MAX_STEP_S = 60;
/** Bound on synthesized inferences per step, to keep the simulator cheap on big fleets. */
const MAX_INFERENCES_PER_STEP = 5_000;
/** Throttling releases only this far below the trip point, like real firmware hysteresis. */
const THROTTLE_HYSTERESIS_C = 4;

/**
 * One simulated device: load wanders (mean-reverting random walk with occasional regime changes),
 * temperature follows load through a first-order thermal lag, firmware throttles above a trip
 * point, and the model gets slower and flakier while throttled. Time comes from the injected clock,
 * so tests drive it deterministically.
 */
export class SimDevice {
  readonly profile: HardwareProfile;
  readonly modelVersion: string;
  readonly hostname: string;
  load: number;
  tempC: number;
  throttled = false;
  private meanLoad: number;
  private loadOverride: number | null = null;
  private lastStepMs: number;
  private readonly startedMs: number;
  private readonly bootUptimeS: number;
  private readonly cooling: number;
  private readonly ambientC: number;
  private readonly errorRate: number;
  private readonly memBasePct: number;
  private readonly diskStartBytes: number;
  private inferenceCarry = 0;
  private readonly rng: Rng;
  private readonly clock: () => number;
  private readonly inference: InferenceStats;

  constructor(opts: SimDeviceOptions) {
    this.profile = opts.profile;
    this.modelVersion = opts.modelVersion;
    this.hostname = opts.hostname;
    this.rng = opts.rng;
    this.clock = opts.clock;
    this.inference = opts.inference;
    this.cooling = opts.cooling ?? uniform(this.rng, 0.85, 1.2);
    this.ambientC = opts.ambientC ?? uniform(this.rng, 18, 32);
    this.errorRate = opts.errorRate ?? 0.003;
    this.meanLoad = uniform(this.rng, 0.2, 0.7);
    this.load = this.meanLoad;
    this.tempC = this.steadyStateC(this.load);
    this.memBasePct = uniform(this.rng, 25, 55);
    this.diskStartBytes = Math.round(uniform(this.rng, 4e9, 48e9));
    this.bootUptimeS = Math.round(uniform(this.rng, 600, 30 * 86_400));
    this.startedMs = this.clock();
    this.lastStepMs = this.startedMs;
  }

  /** Pins the load (tests, demos); null returns to the random walk. */
  setLoad(load: number | null): void {
    this.loadOverride = load === null ? null : Math.min(1, Math.max(0, load));
    if (this.loadOverride !== null) this.load = this.loadOverride;
  }

  /** Where temperature settles if this load is held. */
  steadyStateC(load: number): number {
    // Throttling cuts clocks and so heat output; without that the model would never cool down.
    const heat = (0.15 + 0.85 * load) * (this.throttled ? 0.8 : 1);
    return this.ambientC + this.profile.fullLoadRiseC * this.cooling * heat;
  }

  /** Advances the simulation to now. */
  step(now: number = this.clock()): void {
    const dtS = Math.min(MAX_STEP_S, Math.max(0, (now - this.lastStepMs) / 1000));
    const from = this.lastStepMs;
    this.lastStepMs = now;
    if (dtS === 0) return;
    this.stepLoad(dtS);
    const alpha = 1 - Math.exp(-dtS / this.profile.thermalTauS);
    this.tempC += (this.steadyStateC(this.load) - this.tempC) * alpha + normal(this.rng, 0, 0.05);
    if (this.tempC >= this.profile.throttleAtC) this.throttled = true;
    else if (this.tempC < this.profile.throttleAtC - THROTTLE_HYSTERESIS_C) this.throttled = false;
    this.runInferences(Math.max(from, now - dtS * 1000), dtS);
  }

  private stepLoad(dtS: number): void {
    if (this.loadOverride !== null) {
      this.load = this.loadOverride;
      return;
    }
    // Regime change about every two minutes: a shift starts, a camera goes quiet, a batch job runs.
    if (this.rng() < 1 - Math.exp(-dtS / 120)) this.meanLoad = uniform(this.rng, 0.05, 1);
    const theta = 0.1;
    const sigma = 0.08;
    this.load += theta * (this.meanLoad - this.load) * dtS + sigma * Math.sqrt(dtS) * normal(this.rng);
    this.load = Math.min(1, Math.max(0.02, this.load));
  }

  /** Latency of one inference right now, from the thermal state. */
  latencyMs(): number {
    const p = this.profile;
    let ms =
      p.baseLatencyMs *
      (1 + 0.5 * this.load) *
      (this.throttled ? 1.9 : 1) *
      Math.exp(normal(this.rng, 0, 0.15));
    if (this.rng() < 0.01) ms *= uniform(this.rng, 2, 4); // scheduler hiccups, GC, a cold cache
    return ms;
  }

  private runInferences(startMs: number, dtS: number): void {
    const rate = this.profile.peakIps * this.load * (this.throttled ? 0.6 : 1);
    const exact = rate * dtS + this.inferenceCarry;
    const n = Math.min(MAX_INFERENCES_PER_STEP, Math.floor(exact));
    this.inferenceCarry = n === MAX_INFERENCES_PER_STEP ? 0 : exact - n;
    const errP = this.errorRate * (this.throttled ? 5 : 1);
    for (let i = 0; i < n; i++) {
      const at = startMs + ((i + 0.5) / n) * dtS * 1000;
      const ok = this.rng() >= errP;
      this.inference.record(this.latencyMs(), ok, at);
    }
  }

  readings(now: number = this.clock()): SensorReadings {
    const p = this.profile;
    const clampPct = (v: number) => Math.min(100, Math.max(0, v));
    return {
      tempC: Math.round(this.tempC * 10) / 10,
      cpuPct: clampPct(100 * (p.cpuShare * this.load + 0.05) + normal(this.rng, 0, 2)),
      memPct: clampPct(this.memBasePct + 10 * this.load + normal(this.rng, 0, 0.5)),
      // Logs and captured frames eat about 1 kB/s.
      diskFreeBytes: Math.max(0, Math.round(this.diskStartBytes - (now - this.startedMs))),
      uptimeS: this.bootUptimeS + (now - this.startedMs) / 1000,
      throttled: this.throttled,
      powerW: Math.max(
        0,
        p.idlePowerW +
          (p.maxPowerW - p.idlePowerW) * this.load * (this.throttled ? 0.8 : 1) +
          normal(this.rng, 0, 0.1),
      ),
      unavailable: {},
    };
  }
}

/** Adapts a SimDevice to the SensorSource the agent reads, exactly like the Linux sensors. */
export class SimSensors implements SensorSource {
  constructor(
    readonly device: SimDevice,
    private readonly hw: { machineId: string; serial: string },
  ) {}

  async read(): Promise<SensorReadings> {
    this.device.step();
    return this.device.readings();
  }

  async identity(): Promise<HardwareIdentity> {
    const p = this.device.profile;
    return {
      hostname: this.device.hostname,
      hardwareModel: p.hardwareModel,
      os: p.os,
      arch: p.arch,
      machineId: this.hw.machineId,
      serial: this.hw.serial,
      accelerator: p.accelerator,
    };
  }

  modelVersion(): string {
    return this.device.modelVersion;
  }

  async close(): Promise<void> {}
}
