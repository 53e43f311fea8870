/**
 * End-to-end harness: the console in browser mode (`edgectl serve`) as a child process, and a
 * headless Debian Chromium driven by playwright-core. Every test gets a fresh data dir and a fresh
 * browser profile; `stop()` tears down both and removes them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'edgectl.cjs');
export const RESULTS_DIR = join(ROOT, 'test-results');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
const URL_RE = /(http:\/\/127\.0\.0\.1:\d+\/#token=[a-f0-9]+)/;

export interface ConsoleServer {
  /** The URL printed by the server, token included. */
  url: string;
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  token: string;
  dataDir: string;
  proc: ChildProcess;
  /** stdout + stderr so far, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** Whether the e2e prerequisites exist; tests skip with this reason when they do not. */
export function missingPrerequisite(): string | null {
  if (!existsSync(CLI)) return `${CLI} is missing: run \`node scripts/build.mjs\` first`;
  if (!existsSync(join(ROOT, 'dist', 'renderer', 'index.html')))
    return 'dist/renderer is missing: run `node scripts/build.mjs`';
  if (!existsSync(CHROMIUM))
    return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
  return null;
}

/**
 * Why this file's e2e tests are skipped (a prerequisite is missing), or null to run them. In CI a missing
 * prerequisite is a failure, never a silent skip: there the tests always run.
 */
export function e2eSkipReason(): string | null {
  const reason = process.env.CI ? null : missingPrerequisite();
  if (reason) console.warn(`e2e skipped: ${reason}`);
  return reason;
}

export function tmpDir(prefix: string): string {
  const base = join(ROOT, '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(existsSync(base) ? base : tmpdir(), prefix));
}

/** Starts `edgectl serve --data-dir <fresh> --port 0 ...extraArgs` and waits for its URL line. */
export async function startConsole(
  extraArgs: string[],
  opts: { timeoutMs?: number; log?: (line: string) => void } = {},
): Promise<ConsoleServer> {
  const dataDir = tmpDir('e2e-data-');
  const proc = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--port', '0', ...extraArgs], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_ENV: 'production' },
  });
  let out = '';
  const collect = (chunk: Buffer) => {
    const s = chunk.toString('utf8');
    out += s;
    if (opts.log) for (const line of s.split('\n')) if (line.trim()) opts.log(line);
  };
  proc.stdout?.on('data', collect);
  proc.stderr?.on('data', collect);

  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const killTimer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killTimer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  const timeoutMs = opts.timeoutMs ?? 60_000;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`edgectl serve printed no URL within ${timeoutMs} ms:\n${out}`)),
        timeoutMs,
      );
      const check = () => {
        const m = URL_RE.exec(out);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      proc.stdout?.on('data', check);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`edgectl serve exited (${code ?? signal}) before printing its URL:\n${out}`));
      });
    });
    const parsed = new URL(url);
    const token = new URLSearchParams(parsed.hash.slice(1)).get('token') ?? '';
    return { url, baseUrl: parsed.origin, token, dataDir, proc, output: () => out, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Console errors, page errors and CSP violations seen so far. */
  problems: string[];
  close(): Promise<void>;
}

/** A headless Chromium with a fresh profile. */
export async function launchBrowser(opts: { width?: number; height?: number } = {}): Promise<BrowserSession> {
  const profile = tmpDir('e2e-profile-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: opts.width ?? 1440, height: opts.height ?? 900 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  return {
    context,
    page,
    problems,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function screenshotPath(name: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  return join(RESULTS_DIR, `${name}.png`);
}
