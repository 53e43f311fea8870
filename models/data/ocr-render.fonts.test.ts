import { describe, expect, it, vi } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { openSampleSource } from './dataset.js';
import { renderTextLine } from './ocr-render.js';

// As in a packaged app, where devDependencies (the fonts) are not installed.
vi.mock('node:module', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:module')>();
  const createRequire = (from: string | URL) => {
    const real = orig.createRequire(from);
    return Object.assign((id: string): unknown => real(id), real, {
      resolve: (id: string) => {
        if (/dejavu|noto/.test(id))
          throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
        return real.resolve(id);
      },
    });
  };
  return { ...orig, default: { ...orig, createRequire }, createRequire };
});

describe('generated OCR samples without the font packages', () => {
  it('fail with ENVIRONMENT and a hint, before any sample', async () => {
    let err: unknown;
    try {
      renderTextLine(0, 0);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('ENVIRONMENT');
    expect((err as AppError).message).toMatch(/DejaVuSans\.ttf from dejavu-fonts-ttf/);
    expect((err as AppError).hint).toMatch(/devDependencies/);
    const e2 = await openSampleSource('gen:ocr-lines:3', [
      { name: 'x', elemType: 'float32', shape: [1, 3, 48, 320] },
    ]).catch((e: unknown) => e);
    expect((e2 as AppError).code).toBe('ENVIRONMENT');
  });
});
