import { z } from 'zod';
import { Accelerator, DeviceId, DeviceLimits, MetricName, TimestampMs } from './telemetry.js';

export const DeviceStatus = z.enum(['healthy', 'degraded', 'unreachable', 'unknown']);
export type DeviceStatus = z.infer<typeof DeviceStatus>;

/** One row of the Fleet table: identity plus the latest sample, denormalised for speed. */
export const DeviceRow = z.object({
  id: DeviceId,
  name: z.string(),
  hardwareModel: z.string(),
  accelerator: Accelerator,
  arch: z.string(),
  os: z.string(),
  url: z.string().nullable(),
  status: DeviceStatus,
  statusReasons: z.array(z.string()),
  lastContactTs: z.number().int().nullable(),
  lastSampleTs: z.number().int().nullable(),
  tempC: z.number().nullable(),
  cpuPct: z.number().nullable(),
  memPct: z.number().nullable(),
  powerW: z.number().nullable(),
  latencyP50Ms: z.number().nullable(),
  latencyP95Ms: z.number().nullable(),
  latencyP99Ms: z.number().nullable(),
  throughputIps: z.number().nullable(),
  throttled: z.boolean().nullable(),
  /** errors / inferences over the latest sample window; null when no inferences. */
  errorRate: z.number().nullable(),
  modelVersion: z.string().nullable(),
  limits: DeviceLimits,
});
export type DeviceRow = z.infer<typeof DeviceRow>;

export const EventSeverity = z.enum(['info', 'warning', 'error']);
export const FleetEvent = z.object({
  id: z.number().int(),
  deviceId: z.string().nullable(),
  ts: z.number().int(),
  kind: z.string(),
  severity: EventSeverity,
  message: z.string(),
});
export type FleetEvent = z.infer<typeof FleetEvent>;

export const Resolution = z.enum(['raw', '1m', '1h']);
export type Resolution = z.infer<typeof Resolution>;

/**
 * Columnar series for charts (uPlot's native shape): ts[] and one array per column.
 * Column names are `<metric>` for raw, `<metric>_min|avg|max|p95` for rollups.
 */
export const Series = z.object({
  deviceId: z.string(),
  resolution: Resolution,
  fromTs: z.number().int(),
  toTs: z.number().int(),
  ts: z.array(z.number()),
  columns: z.record(z.string(), z.array(z.number().nullable())),
});
export type Series = z.infer<typeof Series>;

export const SeriesQuery = z.object({
  deviceId: DeviceId,
  fromTs: TimestampMs,
  toTs: TimestampMs,
  /** auto: raw up to 6 h, 1-minute rollups up to 3 days, hourly beyond. */
  resolution: z.union([Resolution, z.literal('auto')]).default('auto'),
});
export type SeriesQuery = z.infer<typeof SeriesQuery>;

export const SparklineQuery = z.object({
  deviceIds: z.array(DeviceId).max(1000),
  metric: MetricName,
  minutes: z
    .number()
    .int()
    .min(5)
    .max(24 * 60)
    .default(60),
});
export type SparklineQuery = z.infer<typeof SparklineQuery>;

export const StatusCounts = z.record(DeviceStatus, z.number().int());
