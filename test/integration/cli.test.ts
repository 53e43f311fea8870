import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoFleet } from '../../main/core/demo-seed.js';
import { openFleetLog } from '../../main/fleetlog/client.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'edgectl.cjs');
const dir = mkdtempSync(join(tmpdir(), 'edge-cli-'));

function edgectl(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, EDGE_CONSOLE_DATA_DIR: dir },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  const store = await openFleetLog({ dbPath: join(dir, 'fleet.db'), inProcess: true });
  await seedDemoFleet(store, { devices: 25, minutes: 5, seed: 7 });
  await store.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('edgectl', () => {
  it('has --help for every command', () => {
    for (const cmd of [
      [],
      ['serve'],
      ['start'],
      ['agent'],
      ['simulate'],
      ['fleet'],
      ['fleet', 'list'],
      ['fleet', 'show'],
      ['fleet', 'export'],
    ]) {
      const r = edgectl(...cmd, '--help');
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: edgectl/);
    }
  });

  it('lists the fleet as a table and as JSON', () => {
    const t = edgectl('fleet', 'list');
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^DEVICE\s+STATUS\s+MODEL/);
    expect(t.stdout).toContain('demo-01');
    expect(t.stdout).toContain('25 devices');
    const j = edgectl('fleet', 'list', '--json', '--search', 'demo-02');
    const rows = JSON.parse(j.stdout) as { id: string }[];
    expect(rows.map((r) => r.id)).toContain('demo-02');
    expect(rows.every((r) => r.id.includes('demo-02'))).toBe(true);
  });

  it('shows one device with its readings and events', () => {
    const r = edgectl('fleet', 'show', 'demo-03');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/temperature\s+[\d.]+ °C \(limit \d+ °C\)/);
    expect(r.stdout).toMatch(/latency\s+P50 [\d.]+ ms/);
  });

  it('exports CSV and JSON with every device', () => {
    const csv = edgectl('fleet', 'export', '--format', 'csv');
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^id,name,status,/);
    expect(lines).toHaveLength(26);
    const out = join(dir, 'fleet.json');
    const js = edgectl('fleet', 'export', '--format', 'json', '--out', out);
    expect(js.code).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toHaveLength(25);
  });

  it('fails clearly on bad input, with the documented exit statuses', () => {
    const unknown = edgectl('fleet', 'show', 'no-such-device');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No device "no-such-device"');
    const fmt = edgectl('fleet', 'export', '--format', 'xml');
    expect(fmt.code).toBe(2);
    expect(fmt.stderr).toContain('Unknown format "xml"');
    const st = edgectl('fleet', 'list', '--status', 'sad');
    expect(st.code).toBe(2);
    const nodb = edgectl('fleet', 'list', '--data-dir', join(dir, 'nowhere'));
    expect(nodb.code).toBe(2);
    expect(nodb.stderr).toContain('No fleet log');
    const port = edgectl('serve', '--port', 'http');
    expect(port.code).toBe(2);
    expect(port.stderr).toContain('--port must be an integer');
    const cmd = edgectl('fleet', 'frobnicate');
    expect(cmd.code).not.toBe(0);
  });

  it('start says plainly that Electron is missing and serves the browser UI instead', async () => {
    const child = spawn(process.execPath, [cli, 'start', '--port', '0', '--data-dir', dir], {
      env: { ...process.env },
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no URL; stderr: ${stderr}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        const m = /(http:\/\/127\.0\.0\.1:\d+)\/#token=([0-9a-f]{64})/.exec(stdout);
        if (m) {
          clearTimeout(t);
          resolve(m[0]);
        }
      });
    });
    try {
      expect(stderr).toMatch(/Electron is not available \(.+\), so Edge Console runs in browser mode/);
      const [base, token] = url.split('/#token=') as [string, string];
      const page = await fetch(base + '/');
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<div id="root">');
      const denied = await fetch(base + '/api/call/fleet.list', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      expect(denied.status).toBe(401);
      const ok = await fetch(base + '/api/call/fleet.list', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: '{}',
      });
      expect(ok.status).toBe(200);
      const body = (await ok.json()) as { ok: boolean; value: { devices: unknown[] } };
      expect(body.value.devices).toHaveLength(25);
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.on('exit', r));
    }
  });
});
