import {
  CallResult,
  type CallInput,
  type CallName,
  type CallOutput,
  type EventName,
  type EventPayload,
  contract,
  events as eventSchemas,
  UPLOAD_PATH,
  UploadResult,
} from '../../../shared/contract.js';
import { AppError } from '../../../shared/errors.js';
import { DeviceRow, DeviceStatus } from '../../../shared/fleet.js';
import {
  API_CALL_PATH,
  API_WS_PATH,
  type PreloadBridge,
  WS_PROTOCOL,
  WS_TOKEN_PREFIX,
} from '../../../shared/transport.js';

/** What the rest of the renderer sees. Pages never know which transport is underneath. */
export interface ApiClient {
  readonly transport: 'electron' | 'http';
  call<K extends CallName>(
    name: K,
    input: CallInput<K>,
    opts?: { signal?: AbortSignal },
  ): Promise<CallOutput<K>>;
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
  /** 'open' | 'connecting' | 'closed': for the connection indicator. */
  onConnection(listener: (state: ConnectionState) => void): () => void;
  /** Streams one file to the console's upload folder (same uploadId: same folder). */
  upload(file: Blob, opts: UploadOptions): Promise<UploadResult>;
}
export type ConnectionState = 'open' | 'connecting' | 'closed';

export interface UploadOptions {
  name: string;
  uploadId?: string;
  signal?: AbortSignal;
  /** Bytes sent so far (HTTP transport only: XMLHttpRequest reports upload progress, fetch does not). */
  onProgress?: (sent: number, total: number) => void;
}

export function uploadUrl(base: string, opts: Pick<UploadOptions, 'name' | 'uploadId'>): string {
  const q = new URLSearchParams({ name: opts.name });
  if (opts.uploadId) q.set('uploadId', opts.uploadId);
  return `${base}${UPLOAD_PATH}?${q.toString()}`;
}

/** An upload answer (a CallResult whose value is an UploadResult) or a transport failure, as AppError. */
export function parseUploadResponse(status: number, text: string): UploadResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new AppError('INTERNAL', `The console answered the upload with HTTP ${status} and no result.`);
  }
  const res = CallResult.safeParse(raw);
  if (!res.success) throw new AppError('INTERNAL', 'Malformed response to the upload.');
  if (!res.data.ok) throw AppError.fromWire(res.data.error);
  return UploadResult.parse(res.data.value);
}

type Listener = (payload: unknown) => void;

const FLEET_LIST_FULL_CHECK = 64;
const FLEET_LIST_STRIDE = 97;
const STATUS_SET = new Set<unknown>(DeviceStatus.options);

/**
 * The fleet list is the one large answer (10,000 rows, megabytes): under the page's CSP zod runs
 * without its JIT, and checking every row fully costs more than everything else on first load. So
 * the envelope and counts are checked fully, every row cheaply (an id and a known status), and a
 * deterministic sample of rows (the first 64, then every 97th) against the full row schema, which
 * catches any drift between server and client.
 */
function parseFleetList(value: unknown): CallOutput<'fleet.list'> {
  const shape = contract['fleet.list'].output;
  const envelope = shape.omit({ devices: true }).parse(value);
  const devices = (value as { devices?: unknown }).devices;
  if (!Array.isArray(devices)) throw new AppError('INTERNAL', 'fleet.list answered without a device list.');
  for (let i = 0; i < devices.length; i++) {
    const row = devices[i] as { id?: unknown; status?: unknown } | null;
    if (i < FLEET_LIST_FULL_CHECK || i % FLEET_LIST_STRIDE === 0) DeviceRow.parse(row);
    else if (typeof row?.id !== 'string' || !STATUS_SET.has(row.status)) {
      throw new AppError('INTERNAL', `fleet.list row ${i} is malformed.`);
    }
  }
  return { ...envelope, devices: devices as DeviceRow[] };
}

export function parseResult<K extends CallName>(name: K, raw: unknown): CallOutput<K> {
  const res = CallResult.safeParse(raw);
  if (!res.success) throw new AppError('INTERNAL', `Malformed response to ${name}.`);
  if (!res.data.ok) throw AppError.fromWire(res.data.error);
  if (name === 'fleet.list') return parseFleetList(res.data.value) as CallOutput<K>;
  return contract[name].output.parse(res.data.value) as CallOutput<K>;
}

class Emitter {
  private readonly listeners = new Map<string, Set<Listener>>();
  on(event: string, fn: Listener): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }
  emit(event: string, raw: unknown): void {
    const schema = (
      eventSchemas as Record<string, { safeParse(v: unknown): { success: boolean; data?: unknown } }>
    )[event];
    if (!schema) return;
    const parsed = schema.safeParse(raw);
    if (!parsed.success) return;
    for (const fn of this.listeners.get(event) ?? []) fn(parsed.data);
  }
}

export function createElectronClient(bridge: PreloadBridge): ApiClient {
  const emitter = new Emitter();
  return {
    transport: 'electron',
    async call(name, input) {
      return parseResult(name, await bridge.invoke(name, input));
    },
    on(event, listener) {
      const offLocal = emitter.on(event, listener as Listener);
      const offBridge = bridge.on(event, (payload) => emitter.emit(event, payload));
      return () => {
        offLocal();
        offBridge();
      };
    },
    onConnection(listener) {
      listener('open');
      return () => undefined;
    },
    async upload(file, opts) {
      // Served by the app:// protocol handler in the main process (same origin as the page).
      const res = await fetch(uploadUrl('', opts), {
        method: 'POST',
        body: file,
        signal: opts.signal ?? null,
      });
      return parseUploadResponse(res.status, await res.text());
    },
  };
}

function xhrUpload(url: string, token: string, file: Blob, opts: UploadOptions): Promise<UploadResult> {
  return new Promise<UploadResult>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    if (opts.onProgress) {
      const report = opts.onProgress;
      xhr.upload.onprogress = (e) => report(e.loaded, e.lengthComputable ? e.total : file.size);
    }
    xhr.onload = () => {
      if (xhr.status === 401) {
        reject(
          new AppError('UNAUTHORIZED', 'The console rejected this page’s access token.', {
            hint: 'Open the URL printed by `npm start` (it carries a fresh token).',
          }),
        );
        return;
      }
      try {
        resolve(parseUploadResponse(xhr.status, xhr.responseText));
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
    xhr.onerror = () =>
      reject(
        new AppError('DEVICE_UNREACHABLE', 'The upload did not reach the console server.', {
          hint: 'Is `npm start` still running? Restart it and reload this page.',
        }),
      );
    xhr.onabort = () => reject(new DOMException('Upload cancelled.', 'AbortError'));
    if (opts.signal) {
      if (opts.signal.aborted) {
        reject(new DOMException('Upload cancelled.', 'AbortError'));
        return;
      }
      opts.signal.addEventListener('abort', () => xhr.abort(), { once: true });
    }
    xhr.send(file);
  });
}

export function createHttpClient(opts: {
  baseUrl: string;
  token: string;
  WebSocketImpl?: typeof WebSocket;
}): ApiClient {
  const emitter = new Emitter();
  const connListeners = new Set<(s: ConnectionState) => void>();
  let state: ConnectionState = 'closed';
  let ws: WebSocket | null = null;
  let retryMs = 500;
  let wanted = 0;
  const setState = (s: ConnectionState) => {
    state = s;
    for (const fn of connListeners) fn(s);
  };
  const WS = opts.WebSocketImpl ?? WebSocket;
  const connect = () => {
    if (ws || wanted === 0) return;
    setState('connecting');
    const url = opts.baseUrl.replace(/^http/, 'ws') + API_WS_PATH;
    const sock = new WS(url, [WS_PROTOCOL, WS_TOKEN_PREFIX + opts.token]);
    ws = sock;
    sock.onopen = () => {
      retryMs = 500;
      setState('open');
    };
    sock.onmessage = (ev: MessageEvent) => {
      try {
        const frame = JSON.parse(String(ev.data)) as { event?: unknown; payload?: unknown };
        if (typeof frame.event === 'string') emitter.emit(frame.event, frame.payload);
      } catch {
        /* a malformed frame is dropped; the next one may be fine */
      }
    };
    sock.onclose = () => {
      ws = null;
      setState('closed');
      if (wanted > 0) {
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 10_000);
      }
    };
  };
  return {
    transport: 'http',
    async call(name, input, callOpts) {
      const res = await fetch(opts.baseUrl + API_CALL_PATH + name, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${opts.token}` },
        body: JSON.stringify(input ?? {}),
        signal: callOpts?.signal ?? null,
      }).catch((err: unknown) => {
        if (err instanceof Error && err.name === 'AbortError') throw err;
        throw new AppError('DEVICE_UNREACHABLE', 'The console server is not answering.', {
          hint: 'Is `npm start` still running? Restart it and reload this page.',
        });
      });
      if (res.status === 401) {
        throw new AppError('UNAUTHORIZED', 'The console rejected this page’s access token.', {
          hint: 'Open the URL printed by `npm start` (it carries a fresh token).',
        });
      }
      return parseResult(name, await res.json());
    },
    on(event, listener) {
      const off = emitter.on(event, listener as Listener);
      wanted++;
      connect();
      return () => {
        off();
        wanted--;
        if (wanted === 0 && ws) ws.close();
      };
    },
    onConnection(listener) {
      connListeners.add(listener);
      listener(state);
      return () => connListeners.delete(listener);
    },
    upload(file, uploadOpts) {
      return xhrUpload(uploadUrl(opts.baseUrl, uploadOpts), opts.token, file, uploadOpts);
    },
  };
}

const TOKEN_KEY = 'edge-console.token';

/** Picks the transport: the preload bridge inside Electron, loopback HTTP in a browser. */
export function createDefaultClient(win: Window = window): ApiClient {
  const bridge = (win as unknown as { edgeConsole?: PreloadBridge }).edgeConsole;
  if (bridge) return createElectronClient(bridge);
  const hash = new URLSearchParams(win.location.hash.replace(/^#/, ''));
  const fromHash = hash.get('token');
  if (fromHash) {
    win.sessionStorage.setItem(TOKEN_KEY, fromHash);
    hash.delete('token');
    const rest = hash.toString();
    win.history.replaceState(
      null,
      '',
      win.location.pathname + win.location.search + (rest ? `#${rest}` : ''),
    );
  }
  const token = win.sessionStorage.getItem(TOKEN_KEY) ?? '';
  return createHttpClient({ baseUrl: win.location.origin, token });
}
