import type { BuildListQuery, BuildRecord } from '../../shared/artifact.js';
import type {
  DeviceRow,
  DeviceStatus,
  FleetEvent,
  Series,
  SeriesQuery,
  SparklineQuery,
} from '../../shared/fleet.js';
import type { HealthInput } from '../../shared/health.js';
import type { DeviceIdentity, DeviceLimits } from '../../shared/telemetry.js';

export interface IngestResult {
  /** Samples newly stored. */
  accepted: number;
  /** Samples already present (same deviceId + ts): ignored, idempotent. */
  duplicates: number;
  /** Rejected samples with the reason; they are logged as events and never stored. */
  rejected: { index: number; deviceId: string | null; reason: string }[];
}

export interface DeviceRegistration {
  identity: DeviceIdentity | null;
  /** For enrolment before the agent has been reached. */
  id: string;
  name?: string;
  url: string | null;
  /** Agent bearer token; stored so the collector can reconnect after restart. */
  token: string | null;
  limits?: DeviceLimits;
}

export interface CollectorCursor {
  deviceId: string;
  bootId: string | null;
  lastSeq: number;
}

export interface NewEvent {
  deviceId: string | null;
  ts: number;
  kind: string;
  severity: 'info' | 'warning' | 'error';
  message: string;
}

export interface RetentionPolicy {
  rawDays: number;
  minuteDays: number;
  hourDays: number;
  /** Events (status changes, rejected telemetry, ...); default: hourDays. */
  eventDays?: number;
}

/** What the health monitor needs per device: stored status plus the inputs of evaluateHealth (minus nowTs). */
export interface DeviceHealthState {
  deviceId: string;
  status: DeviceStatus;
  reasons: string[];
  input: Omit<HealthInput, 'nowTs'>;
}

export interface SparklineResult {
  fromTs: number;
  stepMs: number;
  /** deviceId -> one value per step from fromTs (null where no rollup exists). */
  series: Record<string, (number | null)[]>;
}

export interface EnrolledAgent {
  id: string;
  url: string;
  token: string;
  bootId: string | null;
  lastSeq: number;
}

/**
 * The fleet log, as the rest of the console sees it. The SQLite implementation runs in a worker
 * thread (client.ts proxies every method there), so every method is async.
 */
export interface FleetStore {
  upsertDevice(reg: DeviceRegistration): Promise<DeviceRow>;
  removeDevice(id: string): Promise<boolean>;
  listEnrolledAgents(): Promise<EnrolledAgent[]>;
  /** No-op for an unknown device (the collector may race a removal). */
  setCursor(c: CollectorCursor): Promise<void>;
  /** Validates every sample with the contract schema, stores the good ones in one transaction. */
  ingest(samples: unknown[], receivedTs: number): Promise<IngestResult>;
  /** last_contact_ts = max(stored, ts). No-op for an unknown device. */
  markContact(deviceId: string, ts: number): Promise<void>;
  /** Stores status + reasons; true (and a 'status.changed' event) only when the status changed. False for unknown. */
  setStatus(deviceId: string, status: DeviceStatus, reasons: string[], ts: number): Promise<boolean>;
  addEvent(e: NewEvent): Promise<FleetEvent>;
  /** Search: substring of id, name, hardware model or model version (case-insensitive). Ordered by id. */
  listDevices(filter?: { search?: string; status?: DeviceStatus[] }): Promise<DeviceRow[]>;
  getDevice(id: string): Promise<{ row: DeviceRow; identity: DeviceIdentity | null } | null>;
  /** Latest counters needed by the health rules (inferences/errors of the latest sample), per device. */
  healthStates(): Promise<DeviceHealthState[]>;
  /** auto: raw up to 6 h, 1-minute rollups up to 3 days, hourly beyond. NOT_FOUND for an unknown device. */
  series(q: SeriesQuery): Promise<Series>;
  sparklines(q: SparklineQuery, nowTs: number): Promise<SparklineResult>;
  /** Newest first; page with beforeId = the last id seen. */
  events(q: { deviceId?: string; limit: number; beforeId?: number }): Promise<FleetEvent[]>;
  applyRetention(nowTs: number, policy?: RetentionPolicy): Promise<{ deleted: number }>;
  /**
   * Stores one build (BAD_INPUT when it does not match the BuildRecord schema). CONFLICT for an id already
   * recorded, and for a second succeeded build of the same name + version + target + precision (versions are
   * immutable; failed and cancelled builds do not count).
   */
  recordBuild(b: BuildRecord): Promise<void>;
  /** Newest first; optionally one artifact name's builds; limit default 100, at most 1000. */
  listBuilds(q?: BuildListQuery): Promise<BuildRecord[]>;
  getBuild(id: string): Promise<BuildRecord | null>;
  /** Writes open rollup buckets, checkpoints the WAL and closes (and stops the worker). */
  close(): Promise<void>;
}
