import {
  type CallName,
  type CallOutput,
  type CallParsedInput,
  type CallResult,
  contract,
  isCallName,
} from '../../shared/contract.js';
import { AppError, toWireError } from '../../shared/errors.js';

export interface CallContext {
  transport: 'electron' | 'http' | 'cli';
  signal?: AbortSignal;
}

export type Handlers = {
  [K in CallName]: (input: CallParsedInput<K>, ctx: CallContext) => Promise<CallOutput<K>>;
};

export interface DispatchOptions {
  /** Validate outputs against the contract too (on in tests and development; catches handler drift). */
  validateOutput?: boolean;
  onError?: (name: string, err: unknown) => void;
}

/**
 * The single entry both transports use: checks the call name, parses the input with the contract,
 * runs the handler and returns the one wire envelope. Never throws.
 */
export async function dispatch(
  handlers: Handlers,
  name: unknown,
  input: unknown,
  ctx: CallContext,
  opts: DispatchOptions = {},
): Promise<CallResult> {
  try {
    if (!isCallName(name)) {
      throw new AppError('NOT_FOUND', `Unknown call ${JSON.stringify(String(name)).slice(0, 80)}.`);
    }
    const spec = contract[name];
    const parsed = spec.input.safeParse(input ?? {});
    if (!parsed.success) throw parsed.error;
    const handler = handlers[name] as (i: unknown, c: CallContext) => Promise<unknown>;
    let value = await handler(parsed.data, ctx);
    if (opts.validateOutput) value = spec.output.parse(value);
    return { ok: true, value };
  } catch (err) {
    const wire = toWireError(err);
    if (wire.code === 'INTERNAL') opts.onError?.(String(name), err);
    return { ok: false, error: wire };
  }
}

/** HTTP status for a wire error: the body is the same CallResult either way. */
export function httpStatusFor(result: CallResult): number {
  if (result.ok) return 200;
  switch (result.error.code) {
    case 'BAD_INPUT':
    case 'TELEMETRY_INVALID':
    case 'MODEL_MALFORMED':
      return 400;
    // 401 belongs to the transport (our own token). A handler's UNAUTHORIZED means a device refused
    // the console's credentials: an upstream failure, like an unreachable device.
    case 'UNAUTHORIZED':
    case 'FORBIDDEN':
      return 502;
    case 'NOT_FOUND':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'DEVICE_UNREACHABLE':
    case 'DEVICE_REJECTED':
      return 502;
    case 'TIMEOUT':
      return 504;
    default:
      return 500;
  }
}
