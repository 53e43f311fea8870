import { z } from 'zod';

/** Device ids travel in URLs, file names and SQL: keep them boring. */
export const DeviceId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, 'device id: 1-64 chars of letters, digits, . _ : -');
export type DeviceId = z.infer<typeof DeviceId>;

/** Timestamps are integer ms UTC; reject anything outside 2000..2100 as a broken clock. */
export const TimestampMs = z
  .number()
  .int()
  .min(946_684_800_000, 'timestamp before 2000: broken clock?')
  .max(4_102_444_800_000, 'timestamp after 2100: broken clock?');

const nullableRange = (min: number, max: number) => z.number().finite().min(min).max(max).nullable();

/** Metrics a sample may carry. Null means "not available"; the reason sits in `unavailable`. */
export const METRICS = [
  'tempC',
  'cpuPct',
  'memPct',
  'powerW',
  'latencyP50Ms',
  'latencyP95Ms',
  'latencyP99Ms',
  'throughputIps',
] as const;
export type Metric = (typeof METRICS)[number];
export const MetricName = z.enum(METRICS);

export const TelemetrySample = z.object({
  deviceId: DeviceId,
  /** Monotonic per agent boot; with bootId it is the pull cursor. */
  seq: z.number().int().nonnegative(),
  ts: TimestampMs,
  /** Hottest valid sensor. Powered-down / broken readings are null, never a number. */
  tempC: nullableRange(-40, 150),
  cpuPct: nullableRange(0, 100),
  memPct: nullableRange(0, 100),
  diskFreeBytes: z.number().int().nonnegative().nullable(),
  uptimeS: z.number().nonnegative().nullable(),
  throttled: z.boolean().nullable(),
  powerW: nullableRange(0, 2000),
  latencyP50Ms: nullableRange(0, 600_000),
  latencyP95Ms: nullableRange(0, 600_000),
  latencyP99Ms: nullableRange(0, 600_000),
  throughputIps: nullableRange(0, 10_000_000),
  /** Inferences and errors since the previous sample. */
  inferences: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  modelVersion: z.string().max(128).nullable(),
  /** metric name -> why it is null (e.g. "no thermal zones", "sensor powered down (-256 °C)"). */
  unavailable: z.record(z.string(), z.string().max(200)).default({}),
});
export type TelemetrySample = z.infer<typeof TelemetrySample>;
export type TelemetrySampleInput = z.input<typeof TelemetrySample>;

export const Accelerator = z.enum(['cpu', 'jetson', 'coral', 'gpu', 'npu', 'unknown']);
export type Accelerator = z.infer<typeof Accelerator>;

export const DeviceLimits = z.object({
  tempLimitC: z.number().min(20).max(150).default(85),
  latencyBudgetMs: z.number().positive().max(600_000).default(100),
  /** errors / inferences above this fraction is degraded. */
  errorRateLimit: z.number().min(0).max(1).default(0.02),
});
export type DeviceLimits = z.infer<typeof DeviceLimits>;

export const DeviceIdentity = z.object({
  deviceId: DeviceId,
  hostname: z.string().max(255),
  hardwareModel: z.string().max(255),
  os: z.string().max(255),
  arch: z.string().max(32),
  machineId: z.string().max(128).nullable(),
  serial: z.string().max(128).nullable(),
  accelerator: Accelerator,
  agentVersion: z.string().max(64),
  bootId: z.string().max(64),
  limits: DeviceLimits,
});
export type DeviceIdentity = z.infer<typeof DeviceIdentity>;
