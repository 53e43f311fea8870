import { InvalidArgumentError } from 'commander';
import { AppError, exitStatusFor, toWireError } from '../../shared/errors.js';

/** Runs a command body; an error becomes one clear line on stderr and the design's exit status. */
export function runAction<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const wire = toWireError(err);
      process.stderr.write(`edgectl: ${wire.message}\n`);
      if (wire.hint) process.stderr.write(`  hint: ${wire.hint}\n`);
      if (wire.code === 'INTERNAL' && process.env.EDGECTL_DEBUG && err instanceof Error) {
        process.stderr.write(`${err.stack ?? ''}\n`);
      }
      process.exitCode = err instanceof AppError ? exitStatusFor(err.code) : exitStatusFor(wire.code);
    }
  };
}

export function parseIntOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      // Commander reports this as a usage error (exit 2) naming the option.
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got "${value}".`);
    }
    return n;
  };
}
