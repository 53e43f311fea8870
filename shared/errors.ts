import { z } from 'zod';

/** Stable error codes. The CLI maps them to exit statuses; the UI shows message + hint. */
export const ErrorCode = z.enum([
  'BAD_INPUT',
  'NOT_FOUND',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'CONFLICT',
  'CANCELLED',
  'TIMEOUT',
  'DEVICE_UNREACHABLE',
  'DEVICE_REJECTED',
  'TELEMETRY_INVALID',
  'MODEL_MALFORMED',
  'ENVIRONMENT',
  'INTERNAL',
]);
export type ErrorCode = z.infer<typeof ErrorCode>;

export const WireError = z.object({
  code: ErrorCode,
  message: z.string(),
  hint: z.string().optional(),
});
export type WireError = z.infer<typeof WireError>;

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.hint = opts.hint;
  }
  toWire(): WireError {
    return this.hint === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, hint: this.hint };
  }
  static fromWire(w: WireError): AppError {
    return new AppError(w.code, w.message, w.hint === undefined ? {} : { hint: w.hint });
  }
}

/** Turns anything thrown into the one wire form; unknown errors become INTERNAL without leaking stacks. */
export function toWireError(err: unknown): WireError {
  if (err instanceof AppError) return err.toWire();
  if (err instanceof z.ZodError) {
    return { code: 'BAD_INPUT', message: formatZodError(err) };
  }
  if (err instanceof Error && err.name === 'AbortError') return { code: 'CANCELLED', message: 'Cancelled.' };
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'INTERNAL', message };
}

export function formatZodError(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** CLI exit status per the design: 0 ok, 1 failed check, 2 bad input, 3 environment. */
export function exitStatusFor(code: ErrorCode): number {
  switch (code) {
    case 'BAD_INPUT':
    case 'NOT_FOUND':
    case 'MODEL_MALFORMED':
    case 'TELEMETRY_INVALID':
    case 'CONFLICT':
      return 2;
    case 'ENVIRONMENT':
    case 'DEVICE_UNREACHABLE':
    case 'UNAUTHORIZED':
    case 'FORBIDDEN':
    case 'TIMEOUT':
      return 3;
    default:
      return 1;
  }
}
