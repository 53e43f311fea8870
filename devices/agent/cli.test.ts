import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentClient } from '../client/agent-client.js';
import { addAgentOptions, resolveAgentToken, runAgentCommand, type AgentCliOptions } from './cli.js';
import { loadOrCreateTokenFile } from './token-file.js';
import { addSimulateOptions, runSimulateCommand, type SimulateCliOptions } from '../sim/cli.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('token file', () => {
  it('creates a random 0600 token once, then reuses it', async () => {
    const path = join(dir, 'sub', 'token');
    const first = await loadOrCreateTokenFile(path);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateTokenFile(path);
    expect(again).toEqual({ token: first.token, created: false });
  });

  it('warns about loose permissions and refuses short tokens', async () => {
    const path = join(dir, 'token');
    writeFileSync(path, 'a'.repeat(40), { mode: 0o644 });
    expect((await loadOrCreateTokenFile(path)).warning).toMatch(/chmod 600/);
    writeFileSync(path, 'short');
    await expect(loadOrCreateTokenFile(path)).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('prefers --token-file, else EDGE_AGENT_TOKEN, and prints a created token once', async () => {
    const lines: string[] = [];
    const env = { EDGE_AGENT_TOKEN: 'e'.repeat(32), XDG_CONFIG_HOME: dir };
    expect(await resolveAgentToken({}, env, (l) => lines.push(l))).toBe('e'.repeat(32));
    const fromFile = await resolveAgentToken({ tokenFile: join(dir, 't') }, env, (l) => lines.push(l));
    expect(lines.join('\n')).toContain(fromFile);
    lines.length = 0;
    await resolveAgentToken({ tokenFile: join(dir, 't') }, env, (l) => lines.push(l));
    expect(lines).toEqual([]);
    await expect(resolveAgentToken({}, { EDGE_AGENT_TOKEN: 'short' }, () => undefined)).rejects.toMatchObject(
      { code: 'BAD_INPUT' },
    );
  });
});

describe('agent and simulate commands', () => {
  it('parses options with defaults and rejects bad ports', () => {
    const cmd = addAgentOptions(new Command('edge-agent'))
      .exitOverride()
      .configureOutput({ writeErr: () => undefined });
    cmd.parse(['--port', '0', '--device-id', 'cam-1'], { from: 'user' });
    expect(cmd.opts()).toMatchObject({ host: '127.0.0.1', port: 0, interval: 10_000, deviceId: 'cam-1' });
    const bad = addAgentOptions(new Command('edge-agent'))
      .exitOverride()
      .configureOutput({ writeErr: () => undefined });
    expect(() => bad.parse(['--port', '70000'], { from: 'user' })).toThrow(/--port must be an integer/);
    expect(addAgentOptions(new Command('edge-agent')).helpInformation()).toMatch(
      /--interval <ms>[\s\S]*--token-file <path>/,
    );
  });

  it('runs the agent until stopped and serves with the token from the file', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const lines: string[] = [];
    const opts: AgentCliOptions = {
      host: '127.0.0.1',
      port: 0,
      interval: 100,
      deviceId: 'cli-dev',
      tokenFile: join(dir, 'token'),
    };
    const running = runAgentCommand(opts, {
      out: (l) => lines.push(l),
      env: {},
      untilStopped: () => stopped,
    });
    await expect.poll(() => lines.some((l) => l.includes('listening on')), { timeout: 5000 }).toBe(true);
    const url = /listening on (\S+)/.exec(lines.join('\n'))?.[1] ?? '';
    const token = readFileSync(join(dir, 'token'), 'utf8').trim();
    expect((await new AgentClient({ url, token }).identity()).deviceId).toBe('cli-dev');
    stop();
    await running;
    expect(lines.at(-1)).toMatch(/Stopping/);
  });

  it('simulate writes a 0600 enrollment file that works', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const file = join(dir, 'enroll.json');
    const cmd = addSimulateOptions(new Command('simulate')).exitOverride();
    cmd.parse(['--devices', '3', '--interval', '100', '--enroll-file', file], { from: 'user' });
    const opts = cmd.opts<SimulateCliOptions>();
    expect(opts).toMatchObject({ devices: 3, interval: 100, seed: 1, basePort: 0 });
    const errs: string[] = [];
    const running = runSimulateCommand(opts, { err: (l) => errs.push(l), untilStopped: () => stopped });
    await expect.poll(() => errs.some((l) => l.includes('Wrote enrollment')), { timeout: 10_000 }).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const entries = JSON.parse(readFileSync(file, 'utf8')) as { url: string; token: string; name: string }[];
    expect(entries).toHaveLength(3);
    const e = entries[1];
    if (!e) throw new Error('no entry');
    expect((await new AgentClient(e).identity()).deviceId).toBe('sim-0002');
    expect(errs.join('\n')).toMatch(/started 3\/3/);
    stop();
    await running;
  });
});
