import WebSocket from 'ws';
import type { z } from 'zod';
import { AgentIdentityResponse, AgentStreamMessage, AgentTelemetryResponse } from '../../shared/agent-api.js';
import { AppError, formatZodError } from '../../shared/errors.js';
import type { DeviceIdentity, TelemetrySample } from '../../shared/telemetry.js';

export interface AgentClientOptions {
  url: string;
  token: string;
  timeoutMs?: number;
}

export interface StreamHandlers {
  onSample(s: TelemetrySample): void;
  onHello?(i: DeviceIdentity): void;
  /** Called exactly once: without an error when close() was called, with an AppError otherwise. */
  onClose?(err?: Error): void;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const CHECK_HINT =
  'Check that the device is powered and on the network, that the agent is running (`edgectl agent` or edge-agent), and that the URL and port are right and not blocked by a firewall.';

function errorCode(err: unknown): string | undefined {
  // fetch wraps the socket error: TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }).
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * The console's side of the agent API (shared/agent-api.ts). Every failure becomes an AppError
 * whose code tells the collector what happened: nobody answered (DEVICE_UNREACHABLE), our token was
 * refused (UNAUTHORIZED), the agent said no (DEVICE_REJECTED), or it answered nonsense
 * (TELEMETRY_INVALID).
 */
export class AgentClient {
  readonly url: string;
  private readonly token: string;
  private readonly timeoutMs: number;

  constructor(opts: AgentClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(opts.url);
    } catch {
      throw new AppError('BAD_INPUT', `agent URL ${JSON.stringify(opts.url)} is not a valid URL`, {
        hint: 'Use the form http://<device-address>:7070',
      });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new AppError('BAD_INPUT', `agent URL ${opts.url} must start with http:// or https://`);
    }
    this.url = opts.url.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async identity(signal?: AbortSignal): Promise<DeviceIdentity> {
    return this.getJson('/v1/identity', AgentIdentityResponse, signal);
  }

  /** Samples with seq > after. Samples stay `unknown[]`: the ingest validates each one and logs rejects. */
  async telemetry(after: number, limit?: number, signal?: AbortSignal): Promise<AgentTelemetryResponse> {
    const q = new URLSearchParams({ after: String(Math.max(0, Math.floor(after))) });
    if (limit !== undefined) q.set('limit', String(Math.floor(limit)));
    return this.getJson(`/v1/telemetry?${q.toString()}`, AgentTelemetryResponse, signal);
  }

  private async getJson<S extends z.ZodType>(
    path: string,
    schema: S,
    signal?: AbortSignal,
  ): Promise<z.infer<S>> {
    const target = `${this.url}${path}`;
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await fetch(target, {
        headers: { authorization: `Bearer ${this.token}`, accept: 'application/json' },
        signal: combined,
        redirect: 'error',
      });
      text = await res.text();
    } catch (err) {
      throw this.transportError(err, signal);
    }
    if (res.status === 401) throw this.unauthorized();
    if (!res.ok) {
      throw new AppError(
        'DEVICE_REJECTED',
        `agent at ${this.url} answered ${res.status} ${res.statusText} to ${path}${agentMessage(text)}`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new AppError(
        'TELEMETRY_INVALID',
        `agent at ${this.url} sent non-JSON for ${path}: ${text.slice(0, 80)}`,
        {
          hint: 'Is something other than the Edge agent listening on that port?',
        },
      );
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new AppError(
        'TELEMETRY_INVALID',
        `agent at ${this.url} sent an invalid ${path} response: ${formatZodError(parsed.error)}`,
        {
          hint: 'The agent may be a different version; upgrade it to match the console.',
        },
      );
    }
    return parsed.data;
  }

  private unauthorized(): AppError {
    return new AppError(
      'UNAUTHORIZED',
      `token rejected by agent at ${this.url}; re-enroll with the agent's current token`,
      {
        hint: "The agent's token is in its --token-file (or EDGE_AGENT_TOKEN).",
      },
    );
  }

  private transportError(err: unknown, userSignal?: AbortSignal): AppError {
    if (userSignal?.aborted)
      return new AppError('CANCELLED', `request to ${this.url} cancelled`, { cause: err });
    const name = err instanceof Error ? err.name : '';
    if (name === 'TimeoutError' || name === 'AbortError') {
      return new AppError(
        'DEVICE_UNREACHABLE',
        `agent at ${this.url} did not answer within ${this.timeoutMs} ms`,
        {
          hint: CHECK_HINT,
          cause: err,
        },
      );
    }
    // Anything else fetch throws before a response (refused, reset, DNS, TLS) means nobody usable answered.
    const code = errorCode(err);
    const what =
      code === 'ECONNREFUSED'
        ? 'connection refused'
        : (code ?? (err instanceof Error ? err.message : String(err)));
    return new AppError('DEVICE_UNREACHABLE', `cannot reach agent at ${this.url} (${what})`, {
      hint: CHECK_HINT,
      cause: err,
    });
  }

  /** Push stream over WebSocket; the token travels in the Authorization header, never the URL. */
  stream(handlers: StreamHandlers): { close(): void } {
    const wsUrl = `${this.url.replace(/^http/, 'ws')}/v1/stream`;
    const ws = new WebSocket(wsUrl, {
      headers: { authorization: `Bearer ${this.token}` },
      handshakeTimeout: this.timeoutMs,
      maxPayload: 4 * 1024 * 1024,
    });
    let finished = false;
    const finish = (err?: Error) => {
      if (finished) return;
      finished = true;
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.terminate();
      handlers.onClose?.(err);
    };

    ws.on('unexpected-response', (_req, res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      finish(
        status === 401
          ? this.unauthorized()
          : new AppError('DEVICE_REJECTED', `agent at ${this.url} refused the stream with HTTP ${status}`),
      );
    });
    ws.on('error', (err) => {
      const code = errorCode(err);
      const what = code === 'ECONNREFUSED' ? 'connection refused' : err.message;
      finish(
        new AppError('DEVICE_UNREACHABLE', `stream from agent at ${this.url} failed (${what})`, {
          hint: CHECK_HINT,
          cause: err,
        }),
      );
    });
    ws.on('close', (code, reason) => {
      finish(
        new AppError(
          'DEVICE_UNREACHABLE',
          `agent at ${this.url} closed the stream (code ${code}${reason.length ? `: ${reason.toString()}` : ''})`,
          {
            hint: CHECK_HINT,
          },
        ),
      );
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: unknown;
      try {
        msg = JSON.parse(rawDataToString(data));
      } catch {
        finish(new AppError('TELEMETRY_INVALID', `agent at ${this.url} sent a non-JSON stream message`));
        return;
      }
      const parsed = AgentStreamMessage.safeParse(msg);
      if (!parsed.success) {
        finish(
          new AppError(
            'TELEMETRY_INVALID',
            `agent at ${this.url} sent an invalid stream message: ${formatZodError(parsed.error)}`,
          ),
        );
        return;
      }
      if (parsed.data.type === 'hello') handlers.onHello?.(parsed.data.identity);
      else handlers.onSample(parsed.data.sample);
    });

    return { close: () => finish() };
  }
}

function rawDataToString(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function agentMessage(body: string): string {
  try {
    const j = JSON.parse(body) as { error?: { message?: unknown } };
    return typeof j.error?.message === 'string' ? `: ${j.error.message}` : '';
  } catch {
    return '';
  }
}
