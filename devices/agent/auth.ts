import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { AppError } from '../../shared/errors.js';

export const MIN_TOKEN_LENGTH = 16;

export function assertUsableToken(token: string): void {
  if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH) {
    throw new AppError('BAD_INPUT', `agent token must be at least ${MIN_TOKEN_LENGTH} characters`, {
      hint: 'Use a random token, e.g. `openssl rand -hex 32`, or let the agent create --token-file.',
    });
  }
  if (/\s/.test(token)) throw new AppError('BAD_INPUT', 'agent token must not contain whitespace');
}

/**
 * Constant-time comparison. Hashing both sides first gives equal-length buffers, so neither the
 * content nor the length of the expected token leaks through timing.
 */
export function tokenMatches(expected: string, presented: string): boolean {
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(presented).digest();
  return timingSafeEqual(a, b);
}

/** Bearer token from the Authorization header only: tokens in URLs end up in logs and histories. */
export function bearerToken(headers: IncomingHttpHeaders): string | null {
  const h = headers.authorization;
  if (typeof h !== 'string') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1] ?? null;
}

export function isAuthorized(expected: string, headers: IncomingHttpHeaders): boolean {
  const presented = bearerToken(headers);
  return presented !== null && tokenMatches(expected, presented);
}
