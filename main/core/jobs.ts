import { randomUUID } from 'node:crypto';
import { toWireError } from '../../shared/errors.js';
import type { EventBus } from './events.js';

export type Progress = (fraction: number, message: string) => void;

/**
 * Long work as jobs: an id, progress events, cancel through an AbortSignal, a final result or error.
 * Progress events are throttled so a tight loop cannot flood the transports.
 */
export class JobRegistry {
  private readonly running = new Map<string, AbortController>();
  constructor(private readonly bus: EventBus) {}

  start<T>(
    kind: string,
    work: (signal: AbortSignal, progress: Progress) => Promise<T>,
  ): { jobId: string; done: Promise<T> } {
    const jobId = randomUUID();
    const ac = new AbortController();
    this.running.set(jobId, ac);
    let lastEmit = 0;
    const progress: Progress = (fraction, message) => {
      const now = Date.now();
      if (now - lastEmit < 100 && fraction < 1) return;
      lastEmit = now;
      this.bus.emit('job.progress', { jobId, kind, fraction: Math.max(0, Math.min(1, fraction)), message });
    };
    const done = (async () => {
      try {
        const result = await work(ac.signal, progress);
        this.bus.emit('job.done', { jobId, kind, ok: true });
        return result;
      } catch (err) {
        this.bus.emit('job.done', { jobId, kind, ok: false, error: toWireError(err) });
        throw err;
      } finally {
        this.running.delete(jobId);
      }
    })();
    done.catch(() => undefined);
    return { jobId, done };
  }

  cancel(jobId: string): boolean {
    const ac = this.running.get(jobId);
    if (!ac) return false;
    ac.abort();
    return true;
  }

  cancelAll(): void {
    for (const ac of this.running.values()) ac.abort();
  }
}
