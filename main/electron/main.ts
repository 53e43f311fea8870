import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { app, BrowserWindow, ipcMain, protocol, session } from 'electron';
import { UPLOAD_PATH } from '../../shared/contract.js';
import { toWireError } from '../../shared/errors.js';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL } from '../../shared/transport.js';
import { createCore, type Core } from '../core/app.js';
import { UploadTooLargeError } from '../core/builds.js';
import { dispatch, httpStatusFor } from '../core/dispatcher.js';
import { distDir, fleetDbPath } from '../core/paths.js';
import { openFleetLog } from '../fleetlog/client.js';
import {
  APP_ORIGIN,
  APP_SCHEME,
  createSecureWindow,
  isTrustedSender,
  lockDownContents,
  RENDERER_CSP,
} from './security.js';

protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);
app.enableSandbox();

const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

function dataDirFromArgs(): string {
  const arg = process.argv.find((a) => a.startsWith('--data-dir='));
  return arg ? arg.slice('--data-dir='.length) : app.getPath('userData');
}

/**
 * `POST app://console/api/upload?name=…[&uploadId=…]`: the same upload the loopback server takes, for the
 * renderer inside Electron (the body streams from the renderer to the upload folder; it never crosses IPC).
 * Only our own page can reach the app:// origin: navigation away and other windows are locked down.
 */
async function handleUpload(req: Request, url: URL, core: Core | null): Promise<Response> {
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), {
      status,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    });
  if (!core) return json(503, { ok: false, error: { code: 'ENVIRONMENT', message: 'Still starting.' } });
  const origin = req.headers.get('origin');
  if (origin !== null && origin !== APP_ORIGIN) {
    return json(403, { ok: false, error: { code: 'FORBIDDEN', message: 'Cross-origin upload refused.' } });
  }
  if (req.method !== 'POST' || !req.body) {
    return json(405, { ok: false, error: { code: 'BAD_INPUT', message: 'Uploads are POST with a body.' } });
  }
  const length = req.headers.get('content-length');
  try {
    const value = await core.uploads.receive(req.body, {
      name: url.searchParams.get('name'),
      uploadId: url.searchParams.get('uploadId'),
      declaredBytes: length !== null && /^\d+$/.test(length) ? Number(length) : undefined,
    });
    return json(200, { ok: true, value });
  } catch (err) {
    const error = toWireError(err);
    return json(err instanceof UploadTooLargeError ? 413 : httpStatusFor({ ok: false, error }), {
      ok: false,
      error,
    });
  }
}

let runningCore: Core | null = null;

function serveRenderer(): void {
  const root = join(distDir(), 'renderer');
  protocol.handle(APP_SCHEME, async (req) => {
    const url = new URL(req.url);
    if (url.host === 'console' && url.pathname === UPLOAD_PATH) return handleUpload(req, url, runningCore);
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname).replace(/^\/+/, '');
    const file = normalize(join(root, rel));
    if (url.host !== 'console' || !file.startsWith(root + sep))
      return new Response('Forbidden', { status: 403 });
    try {
      const body = await readFile(file);
      return new Response(body, {
        headers: {
          'content-type': MIME[extname(file)] ?? 'application/octet-stream',
          'content-security-policy': RENDERER_CSP,
        },
      });
    } catch {
      return new Response('Not found', { status: 404 });
    }
  });
}

function createWindow(core: Core): BrowserWindow {
  const win = createSecureWindow(join(distDir(), 'preload.cjs'));
  win.once('ready-to-show', () => win.show());
  const off = core.bus.subscribe((event, payload) => {
    if (!win.isDestroyed()) win.webContents.send(IPC_EVENT_CHANNEL, { event, payload });
  });
  win.on('closed', off);
  void win.loadURL(`${APP_ORIGIN}/index.html`);
  return win;
}

async function main(): Promise<void> {
  await app.whenReady();
  session.defaultSession.setPermissionRequestHandler((_wc, _perm, cb) => cb(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  serveRenderer();
  const dataDir = dataDirFromArgs();
  const store = await openFleetLog({ dbPath: fleetDbPath(dataDir) });
  const core = await createCore({ store, dataDir, transport: 'electron' });
  runningCore = core;
  ipcMain.handle(IPC_INVOKE_CHANNEL, async (event, name: unknown, input: unknown) => {
    const frame = event.senderFrame;
    if (!frame || !isTrustedSender(frame.url, frame.parent === null)) {
      return { ok: false, error: { code: 'FORBIDDEN', message: 'IPC from an untrusted frame.' } };
    }
    return dispatch(core.handlers, name, input, { transport: 'electron' });
  });
  app.on('web-contents-created', (_e, contents) => lockDownContents(contents));
  createWindow(core);
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow(core);
  });
  app.on('window-all-closed', () => {
    void core.close().finally(() => app.quit());
  });
}

main().catch((err: unknown) => {
  console.error('Edge Console failed to start:', err);
  app.exit(1);
});
