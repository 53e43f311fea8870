import type { DeviceRow, DeviceStatus, FleetEvent, Series, SeriesQuery, SparklineQuery } from '../../shared/fleet.js';
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
 * thread (FleetLogClient proxies every method there), so every method is async.
 */
export interface FleetStore {
  upsertDevice(reg: DeviceRegistration): Promise<DeviceRow>;
  removeDevice(id: string): Promise<boolean>;
  listEnrolledAgents(): Promise<EnrolledAgent[]>;
  setCursor(c: CollectorCursor): Promise<void>;
  /** Validates every sample with the contract schema, stores the good ones in one transaction. */
  ingest(samples: unknown[], receivedTs: number): Promise<IngestResult>;
  markContact(deviceId: string, ts: number): Promise<void>;
  setStatus(deviceId: string, status: DeviceStatus, reasons: string[], ts: number): Promise<boolean>;
  addEvent(e: NewEvent): Promise<FleetEvent>;
  listDevices(filter?: { search?: string; status?: DeviceStatus[] }): Promise<DeviceRow[]>;
  getDevice(id: string): Promise<{ row: DeviceRow; identity: DeviceIdentity | null } | null>;
  /** Latest counters needed by the health rules (inferences/errors of the latest sample). */
  series(q: SeriesQuery): Promise<Series>;
  sparklines(q: SparklineQuery, nowTs: number): Promise<{ fromTs: number; stepMs: number; series: Record<string, (number | null)[]> }>;
  events(q: { deviceId?: string; limit: number; beforeId?: number }): Promise<FleetEvent[]>;
  applyRetention(nowTs: number, policy?: RetentionPolicy): Promise<{ deleted: number }>;
  close(): Promise<void>;
}
