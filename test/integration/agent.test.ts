import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AgentTelemetryResponse, AgentStreamMessage } from '../../shared/agent-api.js';
import { DeviceIdentity, TelemetrySample } from '../../shared/telemetry.js';
import { startAgent, type RunningAgent } from '../../devices/agent/agent.js';
import { InferenceStats } from '../../devices/agent/inference-stats.js';
import type { SensorReadings, SensorSource } from '../../devices/agent/sensors/types.js';

const TOKEN = 'test-token-0123456789abcdef';

/** Fixed sensors: the agent's behaviour, not this machine's hardware, is under test here. */
function fakeSensors(overrides: Partial<SensorReadings> = {}): SensorSource & { closed: boolean } {
  return {
    closed: false,
    async read() {
      return {
        tempC: 51.5,
        cpuPct: 37,
        memPct: 42,
        diskFreeBytes: 1_000_000,
        uptimeS: 1234,
        throttled: false,
        powerW: 7.25,
        unavailable: {},
        ...overrides,
      };
    },
    async identity() {
      return {
        hostname: 'jetson-test',
        hardwareModel: 'NVIDIA Jetson Orin Nano Developer Kit',
        os: 'Ubuntu 22.04.4 LTS',
        arch: 'arm64',
        machineId: 'abc123',
        serial: null,
        accelerator: 'jetson',
      };
    },
    modelVersion: () => 'detector@1.4.2',
    async close() {
      this.closed = true;
    },
  };
}

const running: RunningAgent[] = [];
async function agent(extra: Partial<Parameters<typeof startAgent>[0]> = {}): Promise<RunningAgent> {
  const a = await startAgent({
    token: TOKEN,
    deviceId: 'dev-1',
    intervalMs: 50,
    sensors: fakeSensors(),
    ...extra,
  });
  running.push(a);
  return a;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((a) => a.close()));
});

const auth = { authorization: `Bearer ${TOKEN}` };
async function get(a: RunningAgent, path: string, headers: Record<string, string> = auth) {
  const res = await fetch(`${a.url}${path}`, { headers });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}

/** Minimal Prometheus text-format parser: enough to prove the output is well-formed. */
function parseProm(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] ?? ''] = l[2] ?? '';
    out.push({ name: m[1] ?? '', labels, value: Number(m[4]) });
  }
  return out;
}

function openWs(a: RunningAgent, headers: Record<string, string> = auth): WebSocket {
  return new WebSocket(`${a.url.replace('http', 'ws')}/v1/stream`, { headers });
}

describe('device agent on loopback', () => {
  it('serves its identity', async () => {
    const a = await agent({ limits: { tempLimitC: 90 } });
    const res = await get(a, '/v1/identity');
    expect(res.status).toBe(200);
    const id = DeviceIdentity.parse(JSON.parse(res.text));
    expect(id).toMatchObject({ deviceId: 'dev-1', accelerator: 'jetson', hostname: 'jetson-test' });
    expect(id.limits).toEqual({ tempLimitC: 90, latencyBudgetMs: 100, errorRateLimit: 0.02 });
    expect(id.bootId).toBe(a.identity.bootId);
  });

  it('serves /healthz without a token', async () => {
    const a = await agent();
    expect(await get(a, '/healthz', {})).toMatchObject({ status: 200, text: '{"ok":true}' });
  });

  it('pulls telemetry with a cursor, oldest first, honouring limit', async () => {
    const a = await agent({ intervalMs: 60_000 });
    for (let i = 0; i < 4; i++) await a.sampleNow();
    const all = AgentTelemetryResponse.parse(JSON.parse((await get(a, '/v1/telemetry?after=0')).text));
    expect(all.latestSeq).toBe(5);
    expect(all.oldestSeq).toBe(1);
    expect(all.bootId).toBe(a.identity.bootId);
    const samples = all.samples.map((s) => TelemetrySample.parse(s));
    expect(samples.map((s) => s.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(samples[0]).toMatchObject({
      deviceId: 'dev-1',
      tempC: 51.5,
      powerW: 7.25,
      modelVersion: 'detector@1.4.2',
    });
    expect(samples[0]?.latencyP50Ms).toBeNull();
    expect(samples[0]?.unavailable.latencyP50Ms).toBe('no model served by this agent');

    const page = AgentTelemetryResponse.parse(
      JSON.parse((await get(a, '/v1/telemetry?after=2&limit=2')).text),
    );
    expect(page.samples.map((s) => TelemetrySample.parse(s).seq)).toEqual([3, 4]);
    const none = AgentTelemetryResponse.parse(JSON.parse((await get(a, '/v1/telemetry?after=5')).text));
    expect(none.samples).toEqual([]);
  });

  it('drops the oldest samples when the ring buffer is full and says so via oldestSeq', async () => {
    const a = await agent({ intervalMs: 60_000, bufferSize: 3 });
    for (let i = 0; i < 5; i++) await a.sampleNow();
    const r = AgentTelemetryResponse.parse(JSON.parse((await get(a, '/v1/telemetry?after=0')).text));
    expect(r.oldestSeq).toBe(4);
    expect(r.latestSeq).toBe(6);
    expect(r.samples.map((s) => TelemetrySample.parse(s).seq)).toEqual([4, 5, 6]);
  });

  it('reports inference latency and nulls impossible sensor values with a reason', async () => {
    let now = 1_800_000_000_000;
    const inference = new InferenceStats({ clock: () => now });
    const a = await agent({
      intervalMs: 60_000,
      inference,
      clock: () => now,
      sensors: fakeSensors({ tempC: 400 }),
    });
    for (let i = 1; i <= 100; i++) inference.record(i, true, now);
    inference.record(0, false, now);
    now += 1000;
    const s = await a.sampleNow();
    expect(s.latencyP50Ms).toBeCloseTo(50.5);
    expect(s.latencyP99Ms).toBeCloseTo(99.01);
    expect(s.inferences).toBe(101);
    expect(s.errors).toBe(1);
    expect(s.tempC).toBeNull();
    expect(s.unavailable.tempC).toMatch(/rejected value 400/);
  });

  it('pushes hello then samples over the WebSocket stream', async () => {
    const a = await agent();
    const ws = openWs(a);
    const msgs: AgentStreamMessage[] = [];
    ws.on('message', (d: Buffer) => msgs.push(AgentStreamMessage.parse(JSON.parse(d.toString('utf8')))));
    await expect.poll(() => msgs.length, { timeout: 5000 }).toBeGreaterThanOrEqual(3);
    expect(msgs[0]?.type).toBe('hello');
    if (msgs[0]?.type === 'hello') expect(msgs[0].identity.deviceId).toBe('dev-1');
    const seqs = msgs.flatMap((m) => (m.type === 'sample' ? [m.sample.seq] : []));
    expect(seqs.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1] ?? 0) + 1);
    ws.close();
    await new Promise((r) => ws.once('close', r));
  });

  it('exports Prometheus metrics, leaving out nulls', async () => {
    let now = 1_800_000_000_000;
    const inference = new InferenceStats({ clock: () => now });
    const a = await agent({
      intervalMs: 60_000,
      inference,
      clock: () => now,
      sensors: fakeSensors({ powerW: null, unavailable: { powerW: 'no sensor' } }),
    });
    for (let i = 1; i <= 10; i++) inference.record(i * 10, true);
    inference.record(0, false);
    now += 2000;
    await a.sampleNow();
    const res = await get(a, '/metrics');
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/text\/plain/);
    const series = parseProm(res.text);
    const find = (name: string, labels: Record<string, string> = {}) =>
      series.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(find('edge_device_temperature_celsius', { device_id: 'dev-1' })?.value).toBe(51.5);
    expect(find('edge_cpu_utilization_ratio')?.value).toBeCloseTo(0.37);
    expect(find('edge_memory_utilization_ratio')?.value).toBeCloseTo(0.42);
    expect(find('edge_throttled')?.value).toBe(0);
    expect(find('edge_inference_latency_seconds', { quantile: '0.5' })?.value).toBeCloseTo(0.055);
    expect(find('edge_inference_latency_seconds', { quantile: '0.99' })).toBeDefined();
    expect(find('edge_inference_throughput')?.value).toBeCloseTo(5.5);
    expect(find('edge_inference_errors_total')?.value).toBe(1);
    expect(
      find('edge_agent_info', { device_id: 'dev-1', model_version: 'detector@1.4.2', accelerator: 'jetson' })
        ?.value,
    ).toBe(1);
    // powerW was null: no series rather than a fake 0.
    expect(find('edge_power_watts')).toBeUndefined();
    expect(res.text).toContain('# TYPE edge_inference_errors_total counter');
  });

  it('rejects missing and wrong tokens with 401 JSON', async () => {
    const a = await agent();
    for (const headers of [
      {},
      { authorization: 'Bearer wrong-token-wrong-token' },
      { authorization: TOKEN },
    ] as Record<string, string>[]) {
      for (const path of ['/v1/identity', '/v1/telemetry', '/metrics', '/nope']) {
        const res = await get(a, path, headers);
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      }
    }
    // A token in the URL is not a credential.
    expect((await get(a, `/v1/identity?token=${TOKEN}`, {})).status).toBe(401);
  });

  it('rejects WebSocket upgrades without the right token', async () => {
    const a = await agent();
    for (const headers of [{}, { authorization: 'Bearer not-the-token-at-all' }] as Record<
      string,
      string
    >[]) {
      const ws = openWs(a, headers);
      const status = await new Promise<number>((resolve, reject) => {
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => reject(new Error('upgrade should have been refused')));
        ws.on('error', () => undefined);
      });
      expect(status).toBe(401);
    }
    const viaQuery = new WebSocket(`${a.url.replace('http', 'ws')}/v1/stream?token=${TOKEN}`);
    const status = await new Promise<number>((resolve) => {
      viaQuery.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      viaQuery.on('error', () => undefined);
    });
    expect(status).toBe(401);
  });

  it('answers 400 to bad query parameters and 404 to unknown paths', async () => {
    const a = await agent();
    for (const q of [
      'after=-1',
      'after=abc',
      'after=1.5',
      'limit=0',
      'limit=1001',
      'limit=x',
      'after=99999999999999999',
    ]) {
      const res = await get(a, `/v1/telemetry?${q}`);
      expect(res.status, q).toBe(400);
      const body = JSON.parse(res.text) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('BAD_INPUT');
      expect(body.error.message).toMatch(/after|limit/);
    }
    expect((await get(a, '/v2/whatever')).status).toBe(404);
  });

  it('refuses to start with a short token', async () => {
    await expect(startAgent({ token: 'short', sensors: fakeSensors() })).rejects.toMatchObject({
      code: 'BAD_INPUT',
    });
  });

  it('close() stops sampling, closes sensors and frees the port', async () => {
    const sensors = fakeSensors();
    const a = await startAgent({ token: TOKEN, deviceId: 'dev-1', intervalMs: 50, sensors });
    const ws = openWs(a);
    await new Promise((r) => ws.once('open', r));
    const closedWs = new Promise((r) => ws.once('close', r));
    await a.close();
    await closedWs;
    expect(sensors.closed).toBe(true);
    await expect(a.sampleNow()).rejects.toMatchObject({ code: 'CANCELLED' });
    // The same port can be bound again right away.
    await new Promise<void>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(a.port, '127.0.0.1', () => s.close(() => resolve()));
    });
  });

  it('drops connections while paused (simulated outage) and comes back', async () => {
    const a = await agent();
    a.pause(60_000);
    await expect(fetch(`${a.url}/healthz`)).rejects.toThrow();
    a.pause(0);
  });

  it('runs on the real Linux sensors of this machine', async () => {
    const a = await startAgent({ token: TOKEN, intervalMs: 50 });
    running.push(a);
    await a.sampleNow();
    const s = await a.sampleNow();
    expect(TelemetrySample.safeParse(s).success).toBe(true);
    expect(s.memPct).not.toBeNull();
    for (const [k, v] of Object.entries(s)) {
      if (v === null) expect(s.unavailable[k], `reason for null ${k}`).toBeTruthy();
    }
  });
});
