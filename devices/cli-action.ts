import { AppError, exitStatusFor, toWireError } from '../shared/errors.js';

/**
 * Error handling for the standalone device programs (edge-agent). It mirrors the console CLI's
 * runAction, which devices/ may not import: one clear line on stderr, the design's exit status.
 */
export function runDeviceAction<A extends unknown[]>(
  program: string,
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const wire = toWireError(err);
      process.stderr.write(`${program}: ${wire.message}\n`);
      if (wire.hint) process.stderr.write(`  hint: ${wire.hint}\n`);
      process.exitCode = err instanceof AppError ? exitStatusFor(err.code) : exitStatusFor(wire.code);
    }
  };
}

/** Resolves on the first SIGINT/SIGTERM, then removes its listeners. */
export function waitForShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}
