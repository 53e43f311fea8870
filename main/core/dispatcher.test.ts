import { describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { dispatch, httpStatusFor, type Handlers } from './dispatcher.js';

const handlers = {
  'jobs.cancel': async ({ jobId }: { jobId: string }) => {
    if (jobId === 'boom') throw new Error('kaput');
    if (jobId === 'missing') throw new AppError('NOT_FOUND', 'no such job', { hint: 'list jobs' });
    if (jobId === 'drift') return { cancelled: 'yes' };
    return { cancelled: true };
  },
} as unknown as Handlers;

describe('dispatch', () => {
  it('runs the handler with parsed input', async () => {
    expect(await dispatch(handlers, 'jobs.cancel', { jobId: 'a' }, { transport: 'http' })).toEqual({
      ok: true,
      value: { cancelled: true },
    });
  });
  it('refuses unknown call names, including prototype keys', async () => {
    for (const name of ['nope', '__proto__', 'constructor', 42]) {
      const r = await dispatch(handlers, name, {}, { transport: 'http' });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('NOT_FOUND');
    }
  });
  it('answers bad input with BAD_INPUT naming the field, before the handler runs', async () => {
    const r = await dispatch(handlers, 'jobs.cancel', { jobId: 5 }, { transport: 'http' });
    expect(r).toMatchObject({ ok: false, error: { code: 'BAD_INPUT' } });
    if (!r.ok) expect(r.error.message).toContain('jobId');
    expect(httpStatusFor(r)).toBe(400);
  });
  it('keeps AppError code and hint on the wire', async () => {
    const r = await dispatch(handlers, 'jobs.cancel', { jobId: 'missing' }, { transport: 'http' });
    expect(r).toEqual({ ok: false, error: { code: 'NOT_FOUND', message: 'no such job', hint: 'list jobs' } });
    expect(httpStatusFor(r)).toBe(404);
  });
  it('turns unexpected errors into INTERNAL and reports them', async () => {
    const seen: string[] = [];
    const r = await dispatch(
      handlers,
      'jobs.cancel',
      { jobId: 'boom' },
      { transport: 'http' },
      { onError: (n) => seen.push(n) },
    );
    expect(r).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
    expect(seen).toEqual(['jobs.cancel']);
  });
  it('catches a handler whose output drifts from the contract when output validation is on', async () => {
    const r = await dispatch(
      handlers,
      'jobs.cancel',
      { jobId: 'drift' },
      { transport: 'http' },
      { validateOutput: true },
    );
    expect(r.ok).toBe(false);
  });
});
