import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { app, BrowserWindow, ipcMain, protocol, session } from 'electron';
import { IPC_EVENT_CHANNEL, IPC_INVOKE_CHANNEL } from '../../shared/transport.js';
import { createCore, type Core } from '../core/app.js';
import { dispatch } from '../core/dispatcher.js';
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

function serveRenderer(): void {
  const root = join(distDir(), 'renderer');
  protocol.handle(APP_SCHEME, async (req) => {
    const url = new URL(req.url);
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
