import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTool, requireTool, runTool, type Stream } from './tools.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compile-tools-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntilDead(pid: number, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

describe('findTool', () => {
  it('finds executables in extra dirs first, then on PATH; skips files that are not executable', async () => {
    const exe = path.join(dir, 'my-fake-tool');
    await writeFile(exe, '#!/bin/sh\necho hi\n');
    await chmod(exe, 0o755);
    const plain = path.join(dir, 'not-executable-tool');
    await writeFile(plain, 'data');
    await chmod(plain, 0o644);

    expect(await findTool('my-fake-tool', [dir])).toBe(exe);
    expect(await findTool('not-executable-tool', [dir])).toBeUndefined();
    expect(await findTool('my-fake-tool')).toBeUndefined();
    expect(await findTool('edge-console-no-such-tool-xyz', [dir])).toBeUndefined();
    // Something every Linux/macOS PATH has.
    expect(await findTool('sh')).toMatch(/\/sh$/);
    // A path is checked as a path.
    expect(await findTool(exe)).toBe(exe);
    expect(await findTool(plain)).toBeUndefined();
  });

  it('requireTool: ENVIRONMENT error naming where it looked, with the hint given', async () => {
    const err = await requireTool('edge-console-no-such-tool-xyz', {
      extraDirs: [dir],
      purpose: 'it does things',
      hint: 'Install it or run the command on the device.',
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ENVIRONMENT', hint: 'Install it or run the command on the device.' });
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toContain('PATH');
  });
});

describe('runTool', () => {
  it('captures stdout, stderr and the exit code, and streams lines as they come', async () => {
    const lines: [string, Stream][] = [];
    const r = await runTool(
      process.execPath,
      [
        '-e',
        'console.log("one"); console.error("warn"); process.stdout.write("two\\nthree"); process.exit(3)',
      ],
      { onLine: (l, s) => lines.push([l, s]) },
    );
    expect(r.exitCode).toBe(3);
    expect(r.signal).toBeNull();
    expect(r.stdout).toBe('one\ntwo\nthree');
    expect(r.stderr).toBe('warn\n');
    expect(lines.filter(([, s]) => s === 'stdout').map(([l]) => l)).toEqual(['one', 'two', 'three']);
    expect(lines.filter(([, s]) => s === 'stderr').map(([l]) => l)).toEqual(['warn']);
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('passes arguments without a shell: nothing is expanded or executed', async () => {
    const marker = path.join(dir, 'must-not-exist');
    const arg = `$(touch ${marker}); echo $HOME \`id\` *`;
    const r = await runTool(process.execPath, ['-e', 'process.stdout.write(process.argv[1])', arg]);
    expect(r.stdout).toBe(arg);
    expect(await findTool(marker)).toBeUndefined();
  });

  it('keeps only the end of very long output', async () => {
    const r = await runTool(process.execPath, ['-e', 'process.stdout.write("x".repeat(5000) + "END")'], {
      maxOutputChars: 100,
    });
    expect(r.truncated).toBe(true);
    expect(r.stdout).toHaveLength(100);
    expect(r.stdout.endsWith('END')).toBe(true);
  });

  it('a missing executable is an ENVIRONMENT error', async () => {
    await expect(runTool(path.join(dir, 'no-such-binary'), [])).rejects.toMatchObject({
      code: 'ENVIRONMENT',
    });
  });

  it('aborting kills a long-running tool (sleep 30) promptly: CANCELLED', async () => {
    const ac = new AbortController();
    let pid = 0;
    const started = Date.now();
    const run = runTool('sleep', ['30'], {
      signal: ac.signal,
      onStart: (p) => {
        pid = p;
        setTimeout(() => ac.abort(), 150);
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(pid).toBeGreaterThan(0);
    expect(await waitUntilDead(pid)).toBe(true);
  });

  it('a tool that ignores SIGTERM is killed after the grace period', async () => {
    const ac = new AbortController();
    let pid = 0;
    const started = Date.now();
    const run = runTool(
      process.execPath,
      ['-e', 'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)'],
      {
        signal: ac.signal,
        killGraceMs: 300,
        onStart: (p) => {
          pid = p;
        },
        onLine: (l) => {
          if (l === 'ready') ac.abort();
        },
      },
    );
    await expect(run).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await waitUntilDead(pid)).toBe(true);
  });

  it('an already-aborted signal starts nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    let started = false;
    await expect(
      runTool('sleep', ['30'], { signal: ac.signal, onStart: () => (started = true) }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(started).toBe(false);
  });
});
