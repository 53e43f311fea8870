/**
 * Starts a build in a worker thread (dist/build.worker.cjs) and turns its messages into a promise, progress
 * callbacks and cancellation. Cancel aborts inside the worker (the build stops at its next check and removes its
 * scratch files; no partial artifact is published); if the worker does not finish within 30 s it is terminated.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AppError, type WireError } from '../../shared/errors.js';
import type { BuildProgress, BuildRequest, BuildResult } from '../../models/build/build.js';
import type { ModelInfo } from '../../shared/contract.js';

export function defaultBuildWorkerPath(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.cjs')) return join(dirname(here), 'build.worker.cjs');
  return join(dirname(here), '..', '..', 'dist', 'build.worker.cjs');
}

export type BuildJobRequest = Omit<BuildRequest, 'signal' | 'onProgress'>;

export function runBuildInWorker(
  req: BuildJobRequest,
  opts: { signal?: AbortSignal; onProgress?: (p: BuildProgress) => void; workerPath?: string } = {},
): Promise<BuildResult> {
  const workerPath = opts.workerPath ?? defaultBuildWorkerPath();
  if (!existsSync(workerPath)) {
    return Promise.reject(
      new AppError('ENVIRONMENT', `build worker missing at ${workerPath}`, {
        hint: 'Run `npm run build` first.',
      }),
    );
  }
  return new Promise<BuildResult>((resolve, reject) => {
    const worker = new Worker(workerPath);
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    const onAbort = (): void => {
      worker.postMessage({ type: 'cancel' });
      killTimer = setTimeout(
        () => finish(() => reject(new AppError('CANCELLED', 'Build cancelled (the worker was stopped).'))),
        30_000,
      );
    };
    worker.on(
      'message',
      (
        m:
          | { type: 'progress'; p: BuildProgress }
          | { type: 'done'; result: BuildResult }
          | { type: 'error'; error: WireError },
      ) => {
        if (m.type === 'progress') opts.onProgress?.(m.p);
        else if (m.type === 'done') finish(() => resolve(m.result));
        else finish(() => reject(AppError.fromWire(m.error)));
      },
    );
    worker.on('error', (err) =>
      finish(() => reject(new AppError('INTERNAL', `build worker crashed: ${err.message}`))),
    );
    worker.on('exit', (code) => {
      if (!settled) finish(() => reject(new AppError('INTERNAL', `build worker exited (code ${code})`)));
    });
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    worker.postMessage({ type: 'start', req });
  });
}

/** Inspects a model in a short-lived worker (decoding a large model would otherwise block the caller's thread). */
export function inspectInWorker(
  file: string,
  nodeLimit: number | undefined,
  workerPath = defaultBuildWorkerPath(),
): Promise<ModelInfo> {
  return new Promise<ModelInfo>((resolve, reject) => {
    const worker = new Worker(workerPath);
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.on('message', (m: { type: 'done'; result: ModelInfo } | { type: 'error'; error: WireError }) => {
      if (m.type === 'done') finish(() => resolve(m.result));
      else finish(() => reject(AppError.fromWire(m.error)));
    });
    worker.on('error', (err) =>
      finish(() => reject(new AppError('INTERNAL', `inspect worker crashed: ${err.message}`))),
    );
    worker.on('exit', (code) => {
      if (!settled) finish(() => reject(new AppError('INTERNAL', `inspect worker exited (code ${code})`)));
    });
    worker.postMessage({ type: 'inspect', file, ...(nodeLimit !== undefined ? { nodeLimit } : {}) });
  });
}
