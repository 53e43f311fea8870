import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { WS_PROTOCOL, WS_TOKEN_PREFIX } from '../../shared/transport.js';
import type { Handlers } from '../core/dispatcher.js';
import { EventBus } from '../core/events.js';
import { startHttpServer, type RunningHttpServer } from './server.js';

const handlers = {
  'jobs.cancel': async ({ jobId }: { jobId: string }) => ({ cancelled: jobId === 'j1' }),
} as unknown as Handlers;

let srv: RunningHttpServer;
const bus = new EventBus();

function raw(opts: { method?: string; path: string; headers?: Record<string, string>; body?: string }) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: srv.port,
          method: opts.method ?? 'GET',
          path: opts.path,
          headers: opts.headers,
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end(opts.body);
    },
  );
}

const call = (headers: Record<string, string>, body = '{"jobId":"j1"}') =>
  raw({
    method: 'POST',
    path: '/api/call/jobs.cancel',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-static-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>Edge Console</title>');
  srv = await startHttpServer({ handlers, bus, staticDir: dir });
});
afterAll(() => srv.close());

describe('loopback HTTP transport', () => {
  it('binds to 127.0.0.1 with a random port and a long random token', () => {
    expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(srv.token).toMatch(/^[0-9a-f]{64}$/);
    expect(srv.openUrl).toBe(`${srv.url}/#token=${srv.token}`);
  });

  it('serves the UI with a strict CSP and no token needed', async () => {
    const r = await raw({ path: '/', headers: { host: `127.0.0.1:${srv.port}` } });
    expect(r.status).toBe(200);
    expect(r.body).toContain('Edge Console');
    expect(String(r.headers['content-security-policy'])).toContain("script-src 'self'");
    expect(String(r.headers['content-security-policy'])).not.toContain('unsafe-eval');
    expect(r.headers['x-frame-options']).toBe('DENY');
  });

  it('answers the call with the right token', async () => {
    const r = await call({ authorization: `Bearer ${srv.token}` });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ ok: true, value: { cancelled: true } });
  });

  it.each([
    ['no token', {}],
    ['a wrong token', { authorization: 'Bearer ' + 'f'.repeat(64) }],
    ['a token of another length', { authorization: 'Bearer abc' }],
    ['a token in the wrong scheme', { authorization: `Basic ${Buffer.from('x').toString('base64')}` }],
  ])('refuses every /api/ request with %s (401)', async (_what, headers) => {
    const r = await call(headers);
    expect(r.status).toBe(401);
    expect((JSON.parse(r.body) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    const other = await raw({ path: '/api/anything', headers });
    expect(other.status).toBe(401);
  });

  it('refuses a foreign Origin even with the token (CSRF)', async () => {
    const r = await call({ authorization: `Bearer ${srv.token}`, origin: 'https://evil.example' });
    expect(r.status).toBe(403);
  });

  it('accepts its own Origin', async () => {
    const r = await call({ authorization: `Bearer ${srv.token}`, origin: srv.url });
    expect(r.status).toBe(200);
  });

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    const r = await call({ authorization: `Bearer ${srv.token}`, host: `evil.example:${srv.port}` });
    expect(r.status).toBe(421);
  });

  it('answers malformed JSON and wrong methods clearly', async () => {
    const bad = await call({ authorization: `Bearer ${srv.token}` }, '{not json');
    expect(bad.status).toBe(400);
    expect((JSON.parse(bad.body) as { error: { message: string } }).error.message).toContain(
      'not valid JSON',
    );
    const get = await raw({
      path: '/api/call/jobs.cancel',
      headers: { authorization: `Bearer ${srv.token}` },
    });
    expect(get.status).toBe(405);
    const unknown = await raw({
      method: 'POST',
      path: '/api/call/nope',
      headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(unknown.status).toBe(404);
  });

  it('refuses oversized bodies', async () => {
    const r = await call(
      { authorization: `Bearer ${srv.token}` },
      JSON.stringify({ jobId: 'x'.repeat(2 << 20) }),
    );
    expect(r.status).toBe(413);
  });

  it('never serves files outside the UI folder', async () => {
    for (const path of ['/../package.json', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd']) {
      const r = await raw({ path });
      expect([403, 404]).toContain(r.status);
      expect(r.body).not.toContain('root:');
    }
  });

  it('pushes events over WebSocket only to clients with the token', async () => {
    const wsUrl = srv.url.replace('http', 'ws') + '/api/ws';
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(wsUrl, [WS_PROTOCOL, WS_TOKEN_PREFIX + 'wrong']);
      ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
      ws.on('open', () => resolve('open'));
      ws.on('error', () => undefined);
    });
    expect(refused).toBe('401');

    const foreign = await new Promise<string>((resolve) => {
      const ws = new WebSocket(wsUrl, [WS_PROTOCOL, WS_TOKEN_PREFIX + srv.token], {
        origin: 'https://evil.example',
      });
      ws.on('unexpected-response', (_req, res) => resolve(String(res.statusCode)));
      ws.on('open', () => resolve('open'));
      ws.on('error', () => undefined);
    });
    expect(foreign).toBe('403');

    const ws = new WebSocket(wsUrl, [WS_PROTOCOL, WS_TOKEN_PREFIX + srv.token]);
    await new Promise<void>((resolve, reject) => {
      ws.on('open', () => resolve());
      ws.on('error', reject);
    });
    const got = new Promise<unknown>((resolve) =>
      ws.on('message', (d: Buffer) => resolve(JSON.parse(d.toString()))),
    );
    bus.emit('job.progress', { jobId: 'j', kind: 'demo', fraction: 0.5, message: 'half way' });
    expect(await got).toEqual({
      event: 'job.progress',
      payload: { jobId: 'j', kind: 'demo', fraction: 0.5, message: 'half way' },
    });
    ws.close();
  });
});
