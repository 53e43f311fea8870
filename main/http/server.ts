import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { UPLOAD_PATH, type CallResult } from '../../shared/contract.js';
import { toWireError } from '../../shared/errors.js';
import {
  API_CALL_PATH,
  API_PREFIX,
  API_WS_PATH,
  WS_PROTOCOL,
  WS_TOKEN_PREFIX,
} from '../../shared/transport.js';
import { uploadsOf, UploadTooLargeError, type UploadStore } from '../core/builds.js';
import { dispatch, httpStatusFor, type DispatchOptions, type Handlers } from '../core/dispatcher.js';
import type { EventBus } from '../core/events.js';

export interface HttpServerOptions {
  handlers: Handlers;
  bus: EventBus;
  /** Directory with the built renderer (index.html + assets). */
  staticDir: string;
  port?: number;
  /** Fixed token (tests); otherwise a fresh random one per launch. */
  token?: string;
  dispatch?: DispatchOptions;
  maxBodyBytes?: number;
  /** Where `POST /api/upload` streams files; default: the store the core attached to `handlers`. */
  uploads?: UploadStore;
}

export interface RunningHttpServer {
  url: string;
  /** URL to open in a browser: carries the token in the fragment (never sent to the server or logged). */
  openUrl: string;
  port: number;
  token: string;
  server: Server;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

function securityHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(data);
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { ok: false, error: { code, message } });
}

function tokenMatches(expected: Buffer, given: string | undefined): boolean {
  if (!given) return false;
  const g = Buffer.from(given);
  return g.length === expected.length && timingSafeEqual(g, expected);
}

/**
 * Browser mode: the same handlers as Electron IPC, over HTTP + WebSocket bound to 127.0.0.1 only.
 * Defences: per-launch bearer token on every /api/ request and the WebSocket; Host must be our own
 * loopback address (DNS rebinding); Origin, when sent, must be our own origin (CSRF / other sites).
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<RunningHttpServer> {
  const token = opts.token ?? randomBytes(32).toString('hex');
  const tokenBuf = Buffer.from(token);
  const staticRoot = resolve(opts.staticDir);
  const maxBody = opts.maxBodyBytes ?? 1 << 20;
  let port = 0;

  const allowedHosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const allowedOrigins = () => new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);
  const hostOk = (req: IncomingMessage) => allowedHosts().has(req.headers.host ?? '');
  const originOk = (req: IncomingMessage) => {
    const origin = req.headers.origin;
    return origin === undefined || allowedOrigins().has(origin);
  };

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolveBody, reject) => {
      let size = 0;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBody) {
          // Answer now and discard the rest, so the client reads a 413 rather than a reset.
          reject(new Error('too large'));
          req.removeAllListeners('data');
          req.resume();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });

  const handleApi = async (req: IncomingMessage, res: ServerResponse, pathname: string) => {
    const auth = req.headers.authorization;
    const given = auth?.startsWith('Bearer ') ? auth.slice(7) : undefined;
    if (!tokenMatches(tokenBuf, given)) {
      fail(
        res,
        401,
        'UNAUTHORIZED',
        'Missing or wrong access token. Open the URL that `edgectl serve` printed.',
      );
      return;
    }
    if (pathname === UPLOAD_PATH) {
      await handleUpload(req, res);
      return;
    }
    if (!pathname.startsWith(API_CALL_PATH)) {
      fail(res, 404, 'NOT_FOUND', `No API route ${pathname}.`);
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      fail(res, 405, 'BAD_INPUT', 'API calls are POST with a JSON body.');
      return;
    }
    const ctype = req.headers['content-type'] ?? '';
    if (!ctype.startsWith('application/json')) {
      fail(res, 415, 'BAD_INPUT', 'Content-Type must be application/json.');
      return;
    }
    if (Number(req.headers['content-length'] ?? 0) > maxBody) {
      res.setHeader('connection', 'close');
      fail(res, 413, 'BAD_INPUT', `Request body over ${maxBody} bytes.`);
      req.resume();
      return;
    }
    let body: string;
    try {
      body = await readBody(req);
    } catch {
      fail(res, 413, 'BAD_INPUT', `Request body over ${maxBody} bytes.`);
      return;
    }
    let input: unknown;
    try {
      input = body.length ? JSON.parse(body) : {};
    } catch {
      fail(res, 400, 'BAD_INPUT', 'Request body is not valid JSON.');
      return;
    }
    const name = decodeURIComponent(pathname.slice(API_CALL_PATH.length));
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) ac.abort();
    });
    const result: CallResult = await dispatch(
      opts.handlers,
      name,
      input,
      { transport: 'http', signal: ac.signal },
      opts.dispatch,
    );
    sendJson(res, httpStatusFor(result), result);
  };

  /**
   * `POST /api/upload?name=<file>[&uploadId=<id>]`: the body is the file's raw bytes, streamed to disk (never
   * buffered), hashed on the way. Over the size limit: 413, before reading when Content-Length says so.
   */
  const handleUpload = async (req: IncomingMessage, res: ServerResponse) => {
    const uploads = opts.uploads ?? uploadsOf(opts.handlers);
    if (!uploads) {
      fail(res, 404, 'NOT_FOUND', 'This console takes no uploads.');
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      fail(res, 405, 'BAD_INPUT', 'Uploads are POST with the file as the body.');
      return;
    }
    const query = new URL(req.url ?? '/', 'http://x').searchParams;
    const lengthHeader = req.headers['content-length'];
    const declared = lengthHeader === undefined ? undefined : Number(lengthHeader);
    if (declared !== undefined && !(Number.isSafeInteger(declared) && declared >= 0)) {
      fail(res, 400, 'BAD_INPUT', 'Content-Length is not a byte count.');
      return;
    }
    try {
      const value = await uploads.receive(req, {
        name: query.get('name'),
        uploadId: query.get('uploadId'),
        declaredBytes: declared,
      });
      sendJson(res, 200, { ok: true, value } satisfies CallResult);
    } catch (err) {
      const error = toWireError(err);
      const tooLarge = err instanceof UploadTooLargeError;
      if (!req.complete) {
        // Answer now and discard the rest, so the client reads the error rather than a reset.
        res.setHeader('connection', 'close');
        req.resume();
      }
      sendJson(res, tooLarge ? 413 : httpStatusFor({ ok: false, error }), { ok: false, error });
    }
  };

  const handleStatic = async (req: IncomingMessage, res: ServerResponse, pathname: string) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
      return;
    }
    const rel = pathname === '/' ? 'index.html' : decodeURIComponent(pathname).replace(/^\/+/, '');
    const file = normalize(join(staticRoot, rel));
    if (file !== staticRoot && !file.startsWith(staticRoot + sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const st = await stat(file);
      if (!st.isFile()) throw new Error('not a file');
      res.writeHead(200, {
        'content-type': MIME[extname(file)] ?? 'application/octet-stream',
        'content-length': st.size,
        'cache-control': rel === 'index.html' ? 'no-store' : 'public, max-age=31536000, immutable',
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res
        .writeHead(404, { 'content-type': 'text/plain' })
        .end(rel === 'index.html' ? 'The console UI is not built. Run `npm run build`.' : 'Not found');
    }
  };

  const server = createServer((req, res) => {
    securityHeaders(res);
    if (!hostOk(req)) {
      fail(res, 421, 'FORBIDDEN', 'Unexpected Host header.');
      return;
    }
    if (!originOk(req)) {
      fail(res, 403, 'FORBIDDEN', 'Cross-origin requests are refused.');
      return;
    }
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    const work = pathname.startsWith(API_PREFIX)
      ? handleApi(req, res, pathname)
      : handleStatic(req, res, pathname);
    work.catch(() => {
      if (!res.headersSent) fail(res, 500, 'INTERNAL', 'Internal error.');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 64 * 1024,
    handleProtocols: (protocols) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
  });
  const sockets = new Set<WebSocket>();
  const unsubscribe = opts.bus.subscribe((event, payload) => {
    if (sockets.size === 0) return;
    const frame = JSON.stringify({ event, payload });
    for (const ws of sockets) {
      // A client that cannot keep up gets dropped rather than buffering without bound.
      if (ws.bufferedAmount > 8 << 20) ws.terminate();
      else ws.send(frame);
    }
  });

  server.on('upgrade', (req, socket, head) => {
    const reject = (status: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    if (pathname !== API_WS_PATH) return reject('404 Not Found');
    if (!hostOk(req) || !originOk(req)) return reject('403 Forbidden');
    const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    const tokenProto = protocols.find((p) => p.startsWith(WS_TOKEN_PREFIX));
    if (
      !protocols.includes(WS_PROTOCOL) ||
      !tokenMatches(tokenBuf, tokenProto?.slice(WS_TOKEN_PREFIX.length))
    ) {
      return reject('401 Unauthorized');
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('error', () => sockets.delete(ws));
      // The socket is push-only; anything the client sends is ignored.
    });
  });

  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(opts.port ?? 0, '127.0.0.1', () => res());
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    openUrl: `${url}/#token=${token}`,
    port,
    token,
    server,
    async close() {
      unsubscribe();
      for (const ws of sockets) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
