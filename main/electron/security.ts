import { BrowserWindow, type WebContents } from 'electron';

/** The renderer's origin: a privileged custom scheme, so CSP 'self' means exactly our files. */
export const APP_SCHEME = 'app';
export const APP_ORIGIN = `${APP_SCHEME}://console`;

export const RENDERER_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/**
 * Every window is made here, with the Electron security checklist written out literally (so that
 * static scanners such as electronegativity can verify it): isolated, sandboxed, no Node.
 */
export function createSecureWindow(preloadPath: string): BrowserWindow {
  const win = new BrowserWindow({
    width: 1400,
    height: 900,
    backgroundColor: '#0f1115',
    title: 'Edge Console',
    show: false,
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      spellcheck: false,
      navigateOnDragDrop: false,
      disableBlinkFeatures: 'Auxclick',
    },
  });
  lockDownContents(win.webContents);
  return win;
}

/** IPC is answered only for our own top-level frame, never for a navigated or embedded one. */
export function isTrustedSender(frameUrl: string | undefined, isMainFrame: boolean): boolean {
  if (!frameUrl || !isMainFrame) return false;
  try {
    return new URL(frameUrl).origin === APP_ORIGIN || frameUrl.startsWith(`${APP_ORIGIN}/`);
  } catch {
    return false;
  }
}

/** No navigation away, no new windows, no webviews. */
export function lockDownContents(contents: WebContents): void {
  contents.on('will-navigate', (e, url) => {
    if (!url.startsWith(`${APP_ORIGIN}/`)) e.preventDefault();
  });
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}
