import { randomBytes } from 'node:crypto';
import { AppError } from '../../shared/errors.js';
import { startAgent, type RunningAgent } from '../agent/agent.js';
import { InferenceStats } from '../agent/inference-stats.js';
import { profileFor } from './profiles.js';
import { childSeed, mulberry32, pick, uniform, type Rng } from './rng.js';
import { SimDevice, SimSensors } from './sim-device.js';

export interface SimulatedFleetOptions {
  devices: number;
  intervalMs?: number;
  seed?: number;
  host?: string;
  /** First port; device i listens on basePort + i. 0 (default) picks free ports. */
  basePort?: number;
  /** Chance per device per sample interval that its agent drops off the network for a while. */
  disconnectProbability?: number;
  /** How long a simulated outage lasts, [min, max] ms. */
  disconnectMs?: [number, number];
  clock?: () => number;
  /** Progress while agents start: (started, total). */
  onProgress?: (started: number, total: number) => void;
  log?: (message: string) => void;
}

export interface EnrollmentEntry {
  url: string;
  token: string;
  name: string;
}

export interface SimulatedFleet {
  agents: RunningAgent[];
  /** The SimDevice behind each agent (same order), for tests and demos that steer load. */
  devices: SimDevice[];
  enrollment: EnrollmentEntry[];
  close(): Promise<void>;
}

export const MAX_SIM_DEVICES = 5000;
/** At 10 s sampling this is an outage roughly every 5–6 hours per device: rare, but a big fleet sees some. */
export const DEFAULT_DISCONNECT_PROBABILITY = 0.0005;
const START_BATCH = 50;

export function simDeviceId(index: number): string {
  return `sim-${String(index + 1).padStart(4, '0')}`;
}

function hex(rng: Rng, chars: number): string {
  let s = '';
  while (s.length < chars)
    s += Math.floor(rng() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return s.slice(0, chars);
}

/**
 * N real agents (the same startAgent a device runs) in one process, each on its own port with its
 * own identity and token, driven by simulated sensors. Everything random is seeded except the
 * tokens: those are secrets even in a demo, since the ports are reachable.
 */
export async function startSimulatedFleet(opts: SimulatedFleetOptions): Promise<SimulatedFleet> {
  const n = opts.devices;
  if (!Number.isInteger(n) || n < 1 || n > MAX_SIM_DEVICES) {
    throw new AppError('BAD_INPUT', `devices must be an integer from 1 to ${MAX_SIM_DEVICES}, got ${n}`);
  }
  const basePort = opts.basePort ?? 0;
  if (!Number.isInteger(basePort) || basePort < 0 || basePort + n - 1 > 65535) {
    throw new AppError('BAD_INPUT', `basePort ${basePort} + ${n} devices does not fit in the port range`);
  }
  const seed = opts.seed ?? 1;
  const clock = opts.clock ?? Date.now;
  const intervalMs = opts.intervalMs ?? 10_000;
  const pDisconnect = opts.disconnectProbability ?? DEFAULT_DISCONNECT_PROBABILITY;
  const [minOutage, maxOutage] = opts.disconnectMs ?? [5_000, 30_000];
  const log = opts.log ?? ((m: string) => console.error(`[sim] ${m}`));

  const agents: RunningAgent[] = new Array<RunningAgent>(n);
  const devices: SimDevice[] = new Array<SimDevice>(n);
  const startOne = async (i: number): Promise<void> => {
    const rng = mulberry32(childSeed(seed, i));
    const profile = profileFor(i);
    const deviceId = simDeviceId(i);
    // A few thousand latencies give stable percentiles; more only costs sort time across a big fleet.
    const inference = new InferenceStats({ clock, maxSamples: 2000 });
    const device = new SimDevice({
      profile,
      rng,
      clock,
      inference,
      hostname: deviceId,
      modelVersion: pick(rng, profile.models),
      // About one device in eight sits in a cramped, hot enclosure and will throttle under load.
      cooling: rng() < 0.125 ? uniform(rng, 1.35, 1.6) : uniform(rng, 0.85, 1.15),
    });
    const sensors = new SimSensors(device, { machineId: hex(rng, 32), serial: hex(rng, 13) });
    devices[i] = device;
    agents[i] = await startAgent({
      token: randomBytes(24).toString('hex'),
      host: opts.host ?? '127.0.0.1',
      port: basePort === 0 ? 0 : basePort + i,
      deviceId,
      intervalMs,
      sensors,
      inference,
      clock,
      limits: { tempLimitC: profile.tempLimitC, latencyBudgetMs: profile.latencyBudgetMs },
      log: (m) => log(`${deviceId}: ${m}`),
    });
  };

  const started = (): RunningAgent[] => agents.filter((a): a is RunningAgent => a !== undefined);
  try {
    for (let from = 0; from < n; from += START_BATCH) {
      const batch: Promise<void>[] = [];
      for (let i = from; i < Math.min(n, from + START_BATCH); i++) batch.push(startOne(i));
      await Promise.all(batch);
      opts.onProgress?.(Math.min(n, from + START_BATCH), n);
    }
  } catch (err) {
    await Promise.all(started().map((a) => a.close().catch(() => undefined)));
    throw err;
  }

  // Outages are decided on their own seeded stream so turning them on does not change the physics.
  const outageRng = mulberry32(childSeed(seed ^ 0x5eed, n));
  const outageTimer =
    pDisconnect > 0
      ? setInterval(() => {
          for (const a of agents) {
            if (!a.isPaused() && outageRng() < pDisconnect) a.pause(uniform(outageRng, minOutage, maxOutage));
          }
        }, intervalMs)
      : null;
  outageTimer?.unref();

  let closed = false;
  return {
    agents,
    devices,
    enrollment: agents.map((a, i) => ({
      url: a.url,
      token: a.token,
      name: `${a.identity.deviceId} (${devices[i]?.profile.hardwareModel ?? 'simulated'})`,
    })),
    async close() {
      if (closed) return;
      closed = true;
      if (outageTimer) clearInterval(outageTimer);
      await Promise.all(agents.map((a) => a.close()));
    },
  };
}
