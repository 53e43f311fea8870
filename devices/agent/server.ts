import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AgentStreamMessage, AgentTelemetryResponse } from '../../shared/agent-api.js';
import type { ErrorCode } from '../../shared/errors.js';
import type { DeviceIdentity, TelemetrySample } from '../../shared/telemetry.js';
import { isAuthorized } from './auth.js';
import type { AgentMetrics } from './metrics.js';
import type { SeqRingBuffer } from './ring-buffer.js';

export const DEFAULT_TELEMETRY_LIMIT = 1000;
export const MAX_TELEMETRY_LIMIT = 1000;
/** A stream client this far behind is not reading; drop it rather than buffer without bound. */
const MAX_WS_BUFFERED_BYTES = 4 * 1024 * 1024;
const WS_PING_INTERVAL_MS = 30_000;

export interface AgentServerDeps {
  token: string;
  identity: DeviceIdentity;
  buffer: SeqRingBuffer<TelemetrySample>;
  metrics: AgentMetrics;
  /** Highest seq produced so far (0 before the first sample). */
  latestSeq(): number;
  log(message: string): void;
}

export interface AgentServer {
  server: Server;
  broadcast(sample: TelemetrySample): void;
  /** Simulated outage: refuse and drop every connection for ms. */
  pause(ms: number): void;
  isPaused(): boolean;
  close(): Promise<void>;
}

function errorBody(code: ErrorCode, message: string, hint?: string): string {
  return JSON.stringify({ error: hint === undefined ? { code, message } : { code, message, hint } });
}

const UNAUTHORIZED_MESSAGE =
  'missing or wrong agent token: send `Authorization: Bearer <token>` (tokens in the URL are not accepted)';

function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

/** Strict non-negative integer query parameter; returns a message on bad input. */
function intParam(
  params: URLSearchParams,
  name: string,
  def: number,
  min: number,
  max: number,
): { value: number } | { error: string } {
  const raw = params.get(name);
  if (raw === null) return { value: def };
  if (!/^\d{1,16}$/.test(raw))
    return { error: `query parameter ${name}=${JSON.stringify(raw)} must be an integer` };
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    return { error: `query parameter ${name}=${raw} must be between ${min} and ${max}` };
  }
  return { value: n };
}

export function createAgentServer(deps: AgentServerDeps): AgentServer {
  const clients = new Set<WebSocket>();
  const alive = new WeakMap<WebSocket, boolean>();
  let pausedUntil = 0;
  const isPaused = () => Date.now() < pausedUntil;

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });

  const telemetry = (url: URL, res: ServerResponse) => {
    const after = intParam(url.searchParams, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
    if ('error' in after) return sendJson(res, 400, errorBody('BAD_INPUT', after.error));
    const limit = intParam(url.searchParams, 'limit', DEFAULT_TELEMETRY_LIMIT, 1, MAX_TELEMETRY_LIMIT);
    if ('error' in limit) return sendJson(res, 400, errorBody('BAD_INPUT', limit.error));
    const latestSeq = deps.latestSeq();
    const body: AgentTelemetryResponse = {
      deviceId: deps.identity.deviceId,
      bootId: deps.identity.bootId,
      latestSeq,
      oldestSeq: deps.buffer.oldest()?.seq ?? latestSeq + 1,
      samples: deps.buffer.after(after.value, limit.value),
    };
    sendJson(res, 200, JSON.stringify(body));
  };

  const metrics = async (res: ServerResponse) => {
    const text = await deps.metrics.text();
    res.writeHead(200, { 'content-type': deps.metrics.contentType, 'cache-control': 'no-store' });
    res.end(text);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://agent.invalid');
    if (url.pathname === '/healthz') return sendJson(res, 200, JSON.stringify({ ok: true }));
    if (!isAuthorized(deps.token, req.headers)) {
      res.setHeader('www-authenticate', 'Bearer');
      return sendJson(res, 401, errorBody('UNAUTHORIZED', UNAUTHORIZED_MESSAGE));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET');
      return sendJson(
        res,
        405,
        errorBody('BAD_INPUT', `method ${req.method ?? '?'} not allowed; the agent API is read-only`),
      );
    }
    switch (url.pathname) {
      case '/v1/identity':
        return sendJson(res, 200, JSON.stringify(deps.identity));
      case '/v1/telemetry':
        return telemetry(url, res);
      case '/metrics':
        metrics(res).catch((err: unknown) => {
          deps.log(`metrics failed: ${String(err)}`);
          if (!res.headersSent) sendJson(res, 500, errorBody('INTERNAL', 'metrics unavailable'));
        });
        return;
      case '/v1/stream':
        return sendJson(
          res,
          426,
          errorBody('BAD_INPUT', '/v1/stream is a WebSocket endpoint: connect with a WebSocket client'),
        );
      default:
        return sendJson(res, 404, errorBody('NOT_FOUND', `no such endpoint: ${url.pathname}`));
    }
  };

  const server = createServer((req, res) => {
    if (isPaused()) {
      req.socket.destroy();
      return;
    }
    try {
      handle(req, res);
    } catch (err) {
      deps.log(`request failed: ${String(err)}`);
      if (!res.headersSent) sendJson(res, 500, errorBody('INTERNAL', 'internal agent error'));
    }
  });
  server.on('connection', (socket) => {
    if (isPaused()) socket.destroy();
  });

  const rejectUpgrade = (socket: Duplex, status: number, statusText: string, body: string) => {
    socket.end(
      `HTTP/1.1 ${status} ${statusText}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.destroy();
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (isPaused()) {
      socket.destroy();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://agent.invalid');
    if (url.pathname !== '/v1/stream') {
      rejectUpgrade(
        socket,
        404,
        'Not Found',
        errorBody('NOT_FOUND', `no WebSocket endpoint at ${url.pathname}`),
      );
      return;
    }
    if (!isAuthorized(deps.token, req.headers)) {
      rejectUpgrade(socket, 401, 'Unauthorized', errorBody('UNAUTHORIZED', UNAUTHORIZED_MESSAGE));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      alive.set(ws, true);
      ws.on('pong', () => alive.set(ws, true));
      ws.on('close', () => clients.delete(ws));
      ws.on('error', () => {
        clients.delete(ws);
        ws.terminate();
      });
      // Clients only listen; anything they send is ignored.
      const hello: AgentStreamMessage = { type: 'hello', identity: deps.identity };
      ws.send(JSON.stringify(hello));
    });
  });

  // Half-open TCP connections (device lost Wi-Fi) never close by themselves; ping to find them.
  const pinger = setInterval(() => {
    for (const ws of clients) {
      if (alive.get(ws) === false) {
        ws.terminate();
        clients.delete(ws);
        continue;
      }
      alive.set(ws, false);
      ws.ping();
    }
  }, WS_PING_INTERVAL_MS);
  pinger.unref();

  const dropAllClients = () => {
    for (const ws of clients) ws.terminate();
    clients.clear();
  };

  return {
    server,
    isPaused,
    broadcast(sample) {
      if (clients.size === 0 || isPaused()) return;
      const msg: AgentStreamMessage = { type: 'sample', sample };
      const data = JSON.stringify(msg);
      for (const ws of clients) {
        if (ws.readyState !== ws.OPEN) continue;
        if (ws.bufferedAmount > MAX_WS_BUFFERED_BYTES) {
          deps.log('dropping a stream client that stopped reading');
          ws.terminate();
          clients.delete(ws);
          continue;
        }
        ws.send(data);
      }
    },
    pause(ms) {
      pausedUntil = Math.max(pausedUntil, Date.now() + Math.max(0, ms));
      dropAllClients();
      server.closeAllConnections();
    },
    async close() {
      clearInterval(pinger);
      dropAllClients();
      await new Promise<void>((resolve) => {
        wss.close(() => resolve());
      });
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
