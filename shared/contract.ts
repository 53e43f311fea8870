import { z } from 'zod';
import { WireError } from './errors.js';
import { DeviceRow, DeviceStatus, FleetEvent, Series, SeriesQuery, SparklineQuery } from './fleet.js';
import { DeviceId, DeviceIdentity } from './telemetry.js';

/**
 * The one API contract. Every call: name -> { input, output }. Both transports (Electron IPC and
 * loopback HTTP/WebSocket) dispatch into one handler table typed from this object, and validate
 * input before a handler sees it and output before it leaves.
 */
export const contract = {
  'app.info': {
    input: z.object({}).strict(),
    output: z.object({
      name: z.string(),
      version: z.string(),
      transport: z.enum(['electron', 'http']),
      dataDir: z.string(),
      deviceCount: z.number().int(),
      startedTs: z.number().int(),
    }),
  },
  'fleet.list': {
    input: z
      .object({
        search: z.string().max(200).optional(),
        status: z.array(DeviceStatus).optional(),
      })
      .strict(),
    output: z.object({
      devices: z.array(DeviceRow),
      counts: z.record(z.string(), z.number().int()),
      asOfTs: z.number().int(),
    }),
  },
  'fleet.get': {
    input: z.object({ deviceId: DeviceId }).strict(),
    output: z.object({
      device: DeviceRow,
      identity: DeviceIdentity.nullable(),
      events: z.array(FleetEvent),
    }),
  },
  'fleet.series': {
    input: SeriesQuery,
    output: Series,
  },
  'fleet.sparklines': {
    input: SparklineQuery,
    output: z.object({
      metric: z.string(),
      fromTs: z.number().int(),
      stepMs: z.number().int(),
      series: z.record(z.string(), z.array(z.number().nullable())),
    }),
  },
  'fleet.events': {
    input: z
      .object({
        deviceId: DeviceId.optional(),
        limit: z.number().int().min(1).max(1000).default(200),
        beforeId: z.number().int().optional(),
      })
      .strict(),
    output: z.object({ events: z.array(FleetEvent) }),
  },
  'fleet.enroll': {
    input: z
      .object({
        url: z
          .string()
          .url()
          .refine((u) => /^https?:\/\//.test(u), 'agent URL must be http:// or https://'),
        token: z.string().min(16).max(512),
        name: z.string().max(128).optional(),
      })
      .strict(),
    output: z.object({ device: DeviceRow }),
  },
  'fleet.remove': {
    input: z.object({ deviceId: DeviceId }).strict(),
    output: z.object({ removed: z.boolean() }),
  },
  'jobs.cancel': {
    input: z.object({ jobId: z.string() }).strict(),
    output: z.object({ cancelled: z.boolean() }),
  },
} as const;

export type Contract = typeof contract;
export type CallName = keyof Contract;
export type CallInput<K extends CallName> = z.input<Contract[K]['input']>;
export type CallParsedInput<K extends CallName> = z.output<Contract[K]['input']>;
export type CallOutput<K extends CallName> = z.output<Contract[K]['output']>;

export const CALL_NAMES = Object.keys(contract) as CallName[];
export function isCallName(name: unknown): name is CallName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(contract, name);
}

/** Push events from the core to every client. */
export const events = {
  /** Rows whose state changed since the last push (coalesced, at most a few per second). */
  'fleet.updated': z.object({ devices: z.array(DeviceRow), asOfTs: z.number().int() }),
  'fleet.event': FleetEvent,
  'job.progress': z.object({
    jobId: z.string(),
    kind: z.string(),
    fraction: z.number().min(0).max(1),
    message: z.string(),
  }),
  'job.done': z.object({
    jobId: z.string(),
    kind: z.string(),
    ok: z.boolean(),
    error: WireError.optional(),
  }),
} as const;

export type Events = typeof events;
export type EventName = keyof Events;
export type EventPayload<K extends EventName> = z.output<Events[K]>;
export const EVENT_NAMES = Object.keys(events) as EventName[];
export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(events, name);
}

/** Wire envelopes shared by both transports. */
export const CallResult = z.union([
  z.object({ ok: z.literal(true), value: z.unknown() }),
  z.object({ ok: z.literal(false), error: WireError }),
]);
export type CallResult = z.infer<typeof CallResult>;

/** WebSocket frames server -> client. */
export const WsServerFrame = z.object({ event: z.string(), payload: z.unknown() });
