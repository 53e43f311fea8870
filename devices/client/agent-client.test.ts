import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import type { DeviceIdentity, TelemetrySample } from '../../shared/telemetry.js';
import { startAgent, type RunningAgent } from '../agent/agent.js';
import type { SensorSource } from '../agent/sensors/types.js';
import { AgentClient } from './agent-client.js';

const TOKEN = 'client-test-token-0123456789';
const sensors = (): SensorSource => ({
  read: async () => ({
    tempC: 40,
    cpuPct: 10,
    memPct: 20,
    diskFreeBytes: 1,
    uptimeS: 1,
    throttled: false,
    powerW: 3,
    unavailable: {},
  }),
  identity: async () => ({
    hostname: 'h',
    hardwareModel: 'Raspberry Pi 5',
    os: 'Debian 12',
    arch: 'arm64',
    machineId: null,
    serial: null,
    accelerator: 'cpu',
  }),
  close: async () => undefined,
});

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});
async function agent(intervalMs = 50): Promise<RunningAgent> {
  const a = await startAgent({ token: TOKEN, deviceId: 'pi-1', intervalMs, sensors: sensors() });
  cleanup.push(() => a.close());
  return a;
}
/** A port that nothing listens on: bind, note it, close. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}
async function fakeServer(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const s: Server = createServer(handler);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  cleanup.push(
    () =>
      new Promise((r) => {
        s.closeAllConnections();
        s.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}
async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return { code: (err as AppError).code, message: (err as AppError).message };
  }
  throw new Error('expected a rejection');
}

describe('AgentClient', () => {
  it('reads identity and telemetry from a real agent', async () => {
    // Slow timer: the test controls when samples appear, so the cursor checks cannot race it.
    const a = await agent(60_000);
    const c = new AgentClient({ url: `${a.url}/`, token: TOKEN });
    expect((await c.identity()).deviceId).toBe('pi-1');
    await a.sampleNow();
    const t = await c.telemetry(0, 1);
    expect(t.samples).toHaveLength(1);
    expect(t.latestSeq).toBeGreaterThanOrEqual(2);
    expect((await c.telemetry(t.latestSeq)).samples).toEqual([]);
  });

  it('maps a refused connection to DEVICE_UNREACHABLE naming the URL', async () => {
    const url = `http://127.0.0.1:${await deadPort()}`;
    const e = await codeOf(new AgentClient({ url, token: TOKEN }).identity());
    expect(e.code).toBe('DEVICE_UNREACHABLE');
    expect(e.message).toContain(url);
    expect(e.message).toMatch(/connection refused/);
  });

  it('maps a silent agent to DEVICE_UNREACHABLE after the timeout', async () => {
    const url = await fakeServer(() => undefined);
    const e = await codeOf(new AgentClient({ url, token: TOKEN, timeoutMs: 200 }).telemetry(0));
    expect(e).toMatchObject({ code: 'DEVICE_UNREACHABLE' });
    expect(e.message).toMatch(/did not answer within 200 ms/);
  });

  it('maps a wrong token to UNAUTHORIZED with the re-enroll advice', async () => {
    const a = await agent();
    const e = await codeOf(new AgentClient({ url: a.url, token: 'not-the-right-token-at-all' }).identity());
    expect(e.code).toBe('UNAUTHORIZED');
    expect(e.message).toBe(`token rejected by agent at ${a.url}; re-enroll with the agent's current token`);
  });

  it('maps other statuses to DEVICE_REJECTED and junk to TELEMETRY_INVALID', async () => {
    const url = await fakeServer((req, res) => {
      if (req.url?.startsWith('/v1/identity')) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'INTERNAL', message: 'warming up' } }));
      } else if (req.url?.includes('after=1')) {
        res.end('<html>router login</html>');
      } else {
        res.end(JSON.stringify({ deviceId: 'x', bootId: 'b', latestSeq: -1, oldestSeq: 0, samples: [] }));
      }
    });
    const c = new AgentClient({ url, token: TOKEN });
    expect(await codeOf(c.identity())).toMatchObject({
      code: 'DEVICE_REJECTED',
      message: expect.stringMatching(/503.*warming up/) as string,
    });
    expect((await codeOf(c.telemetry(1))).code).toBe('TELEMETRY_INVALID');
    expect(await codeOf(c.telemetry(0))).toMatchObject({
      code: 'TELEMETRY_INVALID',
      message: expect.stringMatching(/latestSeq/) as string,
    });
  });

  it('maps a caller abort to CANCELLED', async () => {
    const url = await fakeServer(() => undefined);
    const ctl = new AbortController();
    const p = new AgentClient({ url, token: TOKEN, timeoutMs: 10_000 }).identity(ctl.signal);
    ctl.abort();
    expect((await codeOf(p)).code).toBe('CANCELLED');
  });

  it('rejects a malformed URL up front', () => {
    expect(() => new AgentClient({ url: 'not a url', token: TOKEN })).toThrow(/not a valid URL/);
  });

  it('streams hello and samples, and reports close once', async () => {
    const a = await agent();
    const samples: TelemetrySample[] = [];
    let hello: DeviceIdentity | null = null;
    const closes: (Error | undefined)[] = [];
    const s = new AgentClient({ url: a.url, token: TOKEN }).stream({
      onSample: (x) => samples.push(x),
      onHello: (i) => (hello = i),
      onClose: (err) => closes.push(err),
    });
    await expect.poll(() => samples.length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    expect((hello as DeviceIdentity | null)?.deviceId).toBe('pi-1');
    s.close();
    s.close();
    expect(closes).toEqual([undefined]);
  });

  it('reports stream failures: wrong token, unreachable, agent gone', async () => {
    const a = await agent();
    const run = (url: string, token: string) =>
      new Promise<Error | undefined>((resolve) => {
        new AgentClient({ url, token }).stream({ onSample: () => undefined, onClose: resolve });
      });
    expect(await run(a.url, 'wrong-token-wrong-token')).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(await run(`http://127.0.0.1:${await deadPort()}`, TOKEN)).toMatchObject({
      code: 'DEVICE_UNREACHABLE',
    });

    const gone = new Promise<Error | undefined>((resolve) => {
      new AgentClient({ url: a.url, token: TOKEN }).stream({
        onSample: () => void a.close(),
        onClose: resolve,
      });
    });
    expect(await gone).toMatchObject({ code: 'DEVICE_UNREACHABLE' });
  });
});
