import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { AppError } from '../../shared/errors.js';
import { DeviceId, DeviceIdentity, DeviceLimits, type TelemetrySample } from '../../shared/telemetry.js';
import { assertUsableToken } from './auth.js';
import type { InferenceStats } from './inference-stats.js';
import { AgentMetrics } from './metrics.js';
import { SeqRingBuffer } from './ring-buffer.js';
import { buildSample } from './sample.js';
import { createAgentServer } from './server.js';
import { createLinuxSensors } from './sensors/linux.js';
import type { HardwareIdentity, SensorSource } from './sensors/types.js';
import { AGENT_VERSION } from './version.js';

export interface AgentOptions {
  /** Bearer token clients must present; at least 16 characters. */
  token: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  deviceId?: string;
  intervalMs?: number;
  /** Samples kept for pull (8640 = 24 h at 10 s). */
  bufferSize?: number;
  sensors?: SensorSource;
  inference?: InferenceStats;
  /** Version of the served model; defaults to what the sensor source reports, else null. */
  modelVersion?: string | null;
  identityOverrides?: Partial<DeviceIdentity>;
  clock?: () => number;
  limits?: Partial<DeviceLimits>;
  log?: (message: string) => void;
}

export interface RunningAgent {
  url: string;
  port: number;
  token: string;
  identity: DeviceIdentity;
  /** Takes a sample right now (serialised with the timer, so seq stays contiguous). */
  sampleNow(): Promise<TelemetrySample>;
  /** Simulated network outage: the server drops and refuses every connection for ms. */
  pause(ms: number): void;
  isPaused(): boolean;
  close(): Promise<void>;
}

export const DEFAULT_INTERVAL_MS = 10_000;
export const DEFAULT_BUFFER_SIZE = 8640;

function badInput(message: string): AppError {
  return new AppError('BAD_INPUT', message);
}

function validateOptions(opts: AgentOptions): {
  host: string;
  port: number;
  intervalMs: number;
  bufferSize: number;
} {
  assertUsableToken(opts.token);
  const host = opts.host ?? '127.0.0.1';
  const port = opts.port ?? 0;
  const intervalMs = opts.intervalMs ?? DEFAULT_INTERVAL_MS;
  const bufferSize = opts.bufferSize ?? DEFAULT_BUFFER_SIZE;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw badInput(`port must be 0..65535, got ${port}`);
  if (!Number.isFinite(intervalMs) || intervalMs < 10 || intervalMs > 24 * 3600_000) {
    throw badInput(`intervalMs must be between 10 ms and 24 h, got ${intervalMs}`);
  }
  if (!Number.isInteger(bufferSize) || bufferSize < 1 || bufferSize > 1_000_000) {
    throw badInput(`bufferSize must be an integer 1..1000000, got ${bufferSize}`);
  }
  return { host, port, intervalMs, bufferSize };
}

/** Hostnames are usually valid ids; when not, make them so rather than refuse to start. */
export function defaultDeviceId(hw: HardwareIdentity): string {
  const fromHost = hw.hostname
    .replace(/[^A-Za-z0-9._:-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  if (DeviceId.safeParse(fromHost).success) return fromHost;
  if (hw.machineId) return `edge-${hw.machineId.replace(/[^A-Za-z0-9]/g, '').slice(0, 12)}`;
  return 'edge-device';
}

function buildIdentity(hw: HardwareIdentity, opts: AgentOptions): DeviceIdentity {
  const parsed = DeviceIdentity.safeParse({
    ...hw,
    deviceId: opts.deviceId ?? opts.identityOverrides?.deviceId ?? defaultDeviceId(hw),
    agentVersion: AGENT_VERSION,
    bootId: randomUUID(),
    ...opts.identityOverrides,
    ...(opts.deviceId === undefined ? {} : { deviceId: opts.deviceId }),
    limits: DeviceLimits.parse({ ...opts.identityOverrides?.limits, ...opts.limits }),
  });
  if (!parsed.success) {
    throw badInput(
      `agent identity invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

function formatUrl(host: string, port: number): string {
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

export async function startAgent(opts: AgentOptions): Promise<RunningAgent> {
  const { host, port, intervalMs, bufferSize } = validateOptions(opts);
  const clock = opts.clock ?? Date.now;
  const log = opts.log ?? ((m: string) => console.error(`[agent] ${m}`));
  const sensors = opts.sensors ?? createLinuxSensors({ intervalMs, clock });
  const inference = opts.inference ?? null;

  let identity: DeviceIdentity;
  try {
    identity = buildIdentity(await sensors.identity(), opts);
  } catch (err) {
    await sensors.close();
    throw err;
  }

  const buffer = new SeqRingBuffer<TelemetrySample>(bufferSize);
  const metrics = new AgentMetrics(identity);
  let lastSeq = 0;

  const srv = createAgentServer({
    token: opts.token,
    identity,
    buffer,
    metrics,
    latestSeq: () => lastSeq,
    log,
  });

  const takeSample = async (): Promise<TelemetrySample> => {
    const readings = await sensors.read();
    // InferenceStats keeps its own clock: it is the one that timestamped the recordings.
    const snapshot = inference ? inference.snapshot() : null;
    const modelVersion =
      opts.modelVersion !== undefined ? opts.modelVersion : (sensors.modelVersion?.() ?? null);
    const sample = buildSample(readings, snapshot, {
      deviceId: identity.deviceId,
      seq: lastSeq + 1,
      ts: clock(),
      modelVersion,
    });
    lastSeq = sample.seq;
    buffer.push(sample);
    metrics.update(sample);
    srv.broadcast(sample);
    return sample;
  };

  // Samples are serialised through one promise chain: a manual sampleNow() racing the timer would
  // otherwise read seq concurrently and push out of order.
  let chain: Promise<unknown> = Promise.resolve();
  let busy = false;
  const sampleNow = (): Promise<TelemetrySample> => {
    const next = chain.then(takeSample);
    chain = next.catch(() => undefined);
    return next;
  };

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new AppError('ENVIRONMENT', `port ${port} on ${host} is already in use`, {
              hint: 'Stop the other process or pick another port with --port.',
              cause: err,
            })
          : new AppError('ENVIRONMENT', `agent could not listen on ${host}:${port}: ${err.message}`, {
              cause: err,
            }),
      );
    };
    srv.server.once('error', onError);
    srv.server.listen(port, host, () => {
      srv.server.off('error', onError);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await srv.close().catch(() => undefined);
    await sensors.close();
    throw err;
  });
  srv.server.on('error', (err) => log(`server error: ${err.message}`));
  const actualPort = (srv.server.address() as AddressInfo).port;

  let closed = false;
  // The first sample primes delta-based readers (CPU, throttle counters) and means a collector that
  // connects right away already has something to pull.
  await sampleNow().catch((err: unknown) => log(`first sample failed: ${String(err)}`));

  const timer = setInterval(() => {
    // Never pile up: if a slow sensor read is still running, skip this tick.
    if (busy || closed) return;
    busy = true;
    sampleNow()
      .catch((err: unknown) => log(`sample failed: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();

  return {
    url: formatUrl(host, actualPort),
    port: actualPort,
    token: opts.token,
    identity,
    sampleNow: () => (closed ? Promise.reject(new AppError('CANCELLED', 'agent is closed')) : sampleNow()),
    pause: (ms) => srv.pause(ms),
    isPaused: () => srv.isPaused(),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await chain;
      await srv.close();
      await sensors.close();
    },
  };
}
