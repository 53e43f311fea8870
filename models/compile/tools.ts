/**
 * Finding and running the external compilers (trtexec, edgetpu_compiler): a PATH and known-directory lookup, and a
 * spawn wrapper (no shell) that streams output lines, keeps what was printed, and kills the tool when the caller
 * aborts.
 */
import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';

/** Where installers put the tools when they are not on PATH. */
export const KNOWN_TOOL_DIRS: Readonly<Record<string, readonly string[]>> = {
  // JetPack installs trtexec as a sample binary outside PATH; TensorRT tarballs unpack to /usr/local or /opt.
  trtexec: [
    '/usr/src/tensorrt/bin',
    '/usr/local/TensorRT/bin',
    '/opt/tensorrt/bin',
    '/usr/local/tensorrt/bin',
  ],
  // The edgetpu-compiler Debian package installs to /usr/bin.
  edgetpu_compiler: ['/usr/bin', '/usr/local/bin'],
};

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    const s = await stat(file);
    if (!s.isFile()) return false;
    await access(file, process.platform === 'win32' ? fsConstants.F_OK : fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The absolute path of an executable named `name`, looked up in `extraDirs` first, then PATH, then the tool's known
 * install directories; undefined when none has it. A `name` with a slash is checked as a path.
 */
export async function findTool(name: string, extraDirs: readonly string[] = []): Promise<string | undefined> {
  if (name.includes('/') || name.includes(path.sep)) {
    const p = path.resolve(name);
    return (await isExecutableFile(p)) ? p : undefined;
  }
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d);
  const dirs = [...extraDirs, ...pathDirs, ...(KNOWN_TOOL_DIRS[name] ?? [])];
  const exts = process.platform === 'win32' ? ['', '.exe', '.cmd', '.bat'] : [''];
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = path.resolve(dir, name + ext);
      if (await isExecutableFile(candidate)) return candidate;
    }
  }
  return undefined;
}

/** findTool, or an ENVIRONMENT error saying what was searched and what the user can do instead. */
export async function requireTool(
  name: string,
  opts: { extraDirs?: readonly string[]; purpose: string; hint: string },
): Promise<string> {
  const found = await findTool(name, opts.extraDirs ?? []);
  if (found) return found;
  const searched = [...(opts.extraDirs ?? []), 'PATH', ...(KNOWN_TOOL_DIRS[name] ?? [])].join(', ');
  throw new AppError('ENVIRONMENT', `${name} was not found (${opts.purpose}); searched ${searched}.`, {
    hint: opts.hint,
  });
}

export type Stream = 'stdout' | 'stderr';

export interface RunOptions {
  signal?: AbortSignal;
  /** Each complete output line, as it arrives (without the line break). */
  onLine?: (line: string, stream: Stream) => void;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Milliseconds between SIGTERM and SIGKILL when aborting (default 2000). */
  killGraceMs?: number;
  /** Characters of stdout / stderr kept (the end is kept). Default 8 MiB each. */
  maxOutputChars?: number;
  /** Called with the process id once the tool has started. */
  onStart?: (pid: number) => void;
}

export interface RunResult {
  command: string;
  args: string[];
  /** null when the process ended by a signal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when stdout or stderr was longer than maxOutputChars and its beginning was dropped. */
  truncated: boolean;
  durationMs: number;
}

class OutputBuffer {
  private text = '';
  private partial = '';
  truncated = false;
  constructor(
    private readonly max: number,
    private readonly onLine: ((line: string) => void) | undefined,
  ) {}
  push(chunk: string): void {
    this.text += chunk;
    if (this.text.length > this.max) {
      this.text = this.text.slice(this.text.length - this.max);
      this.truncated = true;
    }
    if (!this.onLine) return;
    const parts = (this.partial + chunk).split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.onLine(line);
  }
  end(): string {
    if (this.onLine && this.partial) this.onLine(this.partial);
    this.partial = '';
    return this.text;
  }
}

/**
 * Runs `command` with `args` (no shell: arguments are passed as they are). Resolves when the process exits, whatever
 * its exit code; rejects with ENVIRONMENT when it cannot be started and with CANCELLED when `signal` aborts (the
 * process is sent SIGTERM, then SIGKILL after the grace period).
 */
export function runTool(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const started = Date.now();
  const max = opts.maxOutputChars ?? 8 * 1024 * 1024;
  const cancelled = (): AppError =>
    new AppError('CANCELLED', `${path.basename(command)} was cancelled.`, {
      hint: 'Nothing was kept from the cancelled run; start it again when ready.',
    });
  if (opts.signal?.aborted) return Promise.reject(cancelled());

  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(command, [...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    child.once('spawn', () => {
      if (child.pid !== undefined) opts.onStart?.(child.pid);
    });
    const out = new OutputBuffer(max, opts.onLine ? (l) => opts.onLine!(l, 'stdout') : undefined);
    const err = new OutputBuffer(max, opts.onLine ? (l) => opts.onLine!(l, 'stderr') : undefined);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (c: string) => out.push(c));
    child.stderr.on('data', (c: string) => err.push(c));

    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      aborted = true;
      child.kill('SIGTERM');
      // trtexec ignores SIGTERM while it is timing tactics: make sure it goes.
      killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killGraceMs ?? 2000);
      killTimer.unref();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    let spawnError: Error | undefined;
    child.on('error', (e) => {
      spawnError = e;
    });
    child.on('close', (exitCode, signal) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      const stdout = out.end();
      const stderr = err.end();
      if (aborted) {
        reject(cancelled());
        return;
      }
      if (spawnError) {
        const code = (spawnError as NodeJS.ErrnoException).code;
        reject(
          new AppError(
            'ENVIRONMENT',
            `Cannot run ${command}: ${code === 'ENOENT' ? 'no such executable' : code === 'EACCES' ? 'permission denied' : spawnError.message}.`,
            { hint: 'Check that the tool is installed and executable, or give its path.', cause: spawnError },
          ),
        );
        return;
      }
      resolve({
        command,
        args: [...args],
        exitCode,
        signal,
        stdout,
        stderr,
        truncated: out.truncated || err.truncated,
        durationMs: Date.now() - started,
      });
    });
  });
}
