import type { WireError } from '../../shared/errors.js';
import type { Durability } from './db.js';
import type { RetentionPolicy } from './types.js';

/** Methods the worker serves: FleetStore's, plus flush. */
export const FLEET_METHODS = [
  'upsertDevice',
  'removeDevice',
  'listEnrolledAgents',
  'setCursor',
  'ingest',
  'markContact',
  'setStatus',
  'addEvent',
  'listDevices',
  'getDevice',
  'healthStates',
  'series',
  'sparklines',
  'events',
  'applyRetention',
  'recordBuild',
  'listBuilds',
  'getBuild',
  'flush',
  'close',
] as const;
export type FleetMethod = (typeof FLEET_METHODS)[number];

export interface WorkerInit {
  dbPath: string;
  retention?: RetentionPolicy;
  durability?: Durability;
  /** How often the worker applies retention (default hourly; 0 = never). */
  retentionIntervalMs?: number;
  /** How often the worker writes open rollup buckets when idle (default 1 s). */
  flushIntervalMs?: number;
}

export interface RpcRequest {
  id: number;
  method: FleetMethod;
  args: unknown[];
}

export type RpcResponse =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

/** First message from the worker: opened (or why not). */
export type WorkerReady = { ready: true } | { ready: false; error: WireError };
