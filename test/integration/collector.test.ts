import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../../devices/agent/agent.js';
import { createCore, type Core } from '../../main/core/app.js';
import { dispatch } from '../../main/core/dispatcher.js';
import { openFleetLog } from '../../main/fleetlog/client.js';
import type { DeviceRow } from '../../shared/fleet.js';

const dir = mkdtempSync(join(tmpdir(), 'edge-collector-'));
const dbPath = join(dir, 'fleet.db');
const TOKEN_A = 'a'.repeat(40);
const TOKEN_B = 'b'.repeat(40);
const agents: RunningAgent[] = [];
let core: Core | null = null;

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startCore(mode: 'pull' | 'stream' = 'pull'): Promise<Core> {
  const store = await openFleetLog({ dbPath });
  return createCore({
    store,
    dataDir: dir,
    transport: 'http',
    collector: {
      mode,
      pollIntervalMs: 150,
      maxBackoffMs: 600,
      requestTimeoutMs: 1_000,
      rules: { unreachableAfterMs: 1_500 },
    },
  });
}

async function list(c: Core): Promise<DeviceRow[]> {
  const r = await dispatch(c.handlers, 'fleet.list', {}, { transport: 'cli' });
  if (!r.ok) throw new Error(r.error.message);
  return (r.value as { devices: DeviceRow[] }).devices;
}

afterAll(async () => {
  await core?.close();
  for (const a of agents) await a.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('real agents → collector → fleet log (worker, file database)', () => {
  it('enrolls agents over loopback and stores their telemetry', async () => {
    agents.push(await startAgent({ token: TOKEN_A, deviceId: 'loop-a', intervalMs: 100 }));
    agents.push(await startAgent({ token: TOKEN_B, deviceId: 'loop-b', intervalMs: 100 }));
    core = await startCore();
    for (const [a, token] of [
      [agents[0]!, TOKEN_A],
      [agents[1]!, TOKEN_B],
    ] as const) {
      const r = await dispatch(core.handlers, 'fleet.enroll', { url: a.url, token }, { transport: 'cli' });
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
    const rows = await waitFor('both devices to report', async () => {
      const rs = await list(core!);
      return rs.length === 2 && rs.every((r) => r.lastSampleTs !== null && r.status !== 'unknown')
        ? rs
        : null;
    });
    expect(rows.map((r) => r.id).sort()).toEqual(['loop-a', 'loop-b']);
    // This machine's real sensors: CPU and memory exist on any Linux box.
    expect(rows[0]!.cpuPct).not.toBeNull();
    expect(rows[0]!.memPct).not.toBeNull();
  });

  it('refuses to enroll with a wrong agent token, saying so', async () => {
    const r = await dispatch(
      core!.handlers,
      'fleet.enroll',
      { url: agents[0]!.url, token: 'x'.repeat(40) },
      { transport: 'cli' },
    );
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('UNAUTHORIZED');
  });

  it('keeps everything across a console restart', async () => {
    const before = await waitFor('a chart series', async () => {
      const r = await dispatch(
        core!.handlers,
        'fleet.series',
        { deviceId: 'loop-a', fromTs: Date.now() - 3_600_000, toTs: Date.now() + 1000 },
        { transport: 'cli' },
      );
      return r.ok && (r.value as { ts: number[] }).ts.length >= 3 ? (r.value as { ts: number[] }) : null;
    });
    await core!.close();
    core = await startCore();
    const rows = await list(core);
    expect(rows.map((r) => r.id).sort()).toEqual(['loop-a', 'loop-b']);
    const r = await dispatch(
      core.handlers,
      'fleet.series',
      { deviceId: 'loop-a', fromTs: Date.now() - 3_600_000, toTs: Date.now() + 1000 },
      { transport: 'cli' },
    );
    if (!r.ok) throw new Error(r.error.message);
    expect((r.value as { ts: number[] }).ts.length).toBeGreaterThanOrEqual(before.ts.length);
    // And the restarted collector picks the agents up again without re-enrolment.
    const last = rows.find((x) => x.id === 'loop-a')!.lastSampleTs!;
    await waitFor(
      'new samples after restart',
      async () => (await list(core!)).find((x) => x.id === 'loop-a')!.lastSampleTs! > last,
    );
  });

  it('marks an agent that goes away unreachable, backs off, and recovers when it returns', async () => {
    const a = agents[0]!;
    const port = a.port;
    await a.close();
    const down = await waitFor('loop-a unreachable', async () =>
      (await list(core!)).find((r) => r.id === 'loop-a' && r.status === 'unreachable'),
    );
    expect(down.statusReasons[0]).toMatch(/no contact/);
    // The other device keeps reporting while loop-a is down.
    const b = (await list(core!)).find((r) => r.id === 'loop-b')!;
    expect(b.status).not.toBe('unreachable');

    agents[0] = await startAgent({ token: TOKEN_A, deviceId: 'loop-a', intervalMs: 100, port });
    await waitFor(
      'loop-a back',
      async () => (await list(core!)).find((r) => r.id === 'loop-a' && r.status !== 'unreachable'),
      15_000,
    );
    const ev = await dispatch(
      core!.handlers,
      'fleet.events',
      { deviceId: 'loop-a', limit: 50 },
      { transport: 'cli' },
    );
    const kinds = ev.ok ? (ev.value as { events: { kind: string }[] }).events.map((e) => e.kind) : [];
    expect(kinds).toContain('agent.unreachable');
    expect(kinds).toContain('agent.reachable');
    expect(kinds).toContain('status.changed');
  });

  it('in stream mode takes samples from the push stream as they are taken', async () => {
    await core!.close();
    // A slow poll interval (first poll within 1 s, the next after 5 s): anything faster is the stream.
    const store = await openFleetLog({ dbPath });
    core = await createCore({
      store,
      dataDir: dir,
      transport: 'http',
      collector: {
        mode: 'stream',
        pollIntervalMs: 5_000,
        requestTimeoutMs: 1_000,
        rules: { unreachableAfterMs: 10_000 },
      },
    });
    const start = (await list(core)).find((r) => r.id === 'loop-b')!.lastSampleTs ?? 0;
    const seen = new Set<number>();
    await waitFor(
      'streamed samples',
      async () => {
        const ts = (await list(core!)).find((r) => r.id === 'loop-b')!.lastSampleTs ?? 0;
        if (ts > start) seen.add(ts);
        // Several distinct latest samples within one poll interval means they were pushed.
        return seen.size >= 3;
      },
      4_500,
    );
  });
});
