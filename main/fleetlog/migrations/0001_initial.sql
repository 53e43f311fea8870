-- Edge Console fleet log, schema v1.
-- Timestamps are integer ms UTC. Metric columns carry the contract's names (tempC, cpuPct, ...) so the
-- Series columns map 1:1 onto SQL columns.

-- `dev` is a compact integer key used by the big tables (8 bytes vs a 64-char id per row).
-- AUTOINCREMENT: a removed device's number is never reused, so a re-enrolled id cannot inherit the
-- old device's raw samples and rollups (those age out by retention).
CREATE TABLE devices (
  dev INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  hardware_model TEXT NOT NULL DEFAULT '',
  accelerator TEXT NOT NULL DEFAULT 'unknown',
  arch TEXT NOT NULL DEFAULT '',
  os TEXT NOT NULL DEFAULT '',
  url TEXT,
  token TEXT,
  identity_json TEXT,
  limits_json TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'unknown',
  status_reasons_json TEXT NOT NULL DEFAULT '["never contacted"]',
  boot_id TEXT,
  last_seq INTEGER NOT NULL DEFAULT -1,
  last_contact_ts INTEGER,
  last_sample_ts INTEGER,
  tempC REAL,
  cpuPct REAL,
  memPct REAL,
  powerW REAL,
  latencyP50Ms REAL,
  latencyP95Ms REAL,
  latencyP99Ms REAL,
  throughputIps REAL,
  disk_free_bytes INTEGER,
  uptime_s REAL,
  throttled INTEGER,
  inferences INTEGER,
  errors INTEGER,
  model_version TEXT,
  created_ts INTEGER NOT NULL
);

-- Raw samples keyed (ts, dev): arrivals are time-ordered across the fleet, so every insert lands at the
-- right edge of the B-tree (append), which is >10x faster than a device-major key once the table is large.
-- The primary key also makes a repeated (deviceId, ts) an idempotent no-op (INSERT OR IGNORE).
CREATE TABLE samples (
  ts INTEGER NOT NULL,
  dev INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  tempC REAL,
  cpuPct REAL,
  memPct REAL,
  powerW REAL,
  latencyP50Ms REAL,
  latencyP95Ms REAL,
  latencyP99Ms REAL,
  throughputIps REAL,
  disk_free_bytes INTEGER,
  uptime_s REAL,
  throttled INTEGER,
  inferences INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  model_version TEXT,
  unavailable_json TEXT,
  PRIMARY KEY (ts, dev)
) WITHOUT ROWID;

-- Rollups keyed (bucket_ts, dev): closed buckets are written in time order too (append). A device's chart
-- reads them by point lookups on (bucket_ts, dev) over the bucket grid, which is as fast as a device-major
-- range scan for the 1,440 buckets of a day.
CREATE TABLE rollup_1m (
  bucket_ts INTEGER NOT NULL,
  dev INTEGER NOT NULL,
  n INTEGER NOT NULL,
  inferences INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  throttled INTEGER NOT NULL,
  tempC_min REAL, tempC_avg REAL, tempC_max REAL, tempC_p95 REAL,
  cpuPct_min REAL, cpuPct_avg REAL, cpuPct_max REAL, cpuPct_p95 REAL,
  memPct_min REAL, memPct_avg REAL, memPct_max REAL, memPct_p95 REAL,
  powerW_min REAL, powerW_avg REAL, powerW_max REAL, powerW_p95 REAL,
  latencyP50Ms_min REAL, latencyP50Ms_avg REAL, latencyP50Ms_max REAL, latencyP50Ms_p95 REAL,
  latencyP95Ms_min REAL, latencyP95Ms_avg REAL, latencyP95Ms_max REAL, latencyP95Ms_p95 REAL,
  latencyP99Ms_min REAL, latencyP99Ms_avg REAL, latencyP99Ms_max REAL, latencyP99Ms_p95 REAL,
  throughputIps_min REAL, throughputIps_avg REAL, throughputIps_max REAL, throughputIps_p95 REAL,
  PRIMARY KEY (bucket_ts, dev)
) WITHOUT ROWID;

CREATE TABLE rollup_1h (
  bucket_ts INTEGER NOT NULL,
  dev INTEGER NOT NULL,
  n INTEGER NOT NULL,
  inferences INTEGER NOT NULL,
  errors INTEGER NOT NULL,
  throttled INTEGER NOT NULL,
  tempC_min REAL, tempC_avg REAL, tempC_max REAL, tempC_p95 REAL,
  cpuPct_min REAL, cpuPct_avg REAL, cpuPct_max REAL, cpuPct_p95 REAL,
  memPct_min REAL, memPct_avg REAL, memPct_max REAL, memPct_p95 REAL,
  powerW_min REAL, powerW_avg REAL, powerW_max REAL, powerW_p95 REAL,
  latencyP50Ms_min REAL, latencyP50Ms_avg REAL, latencyP50Ms_max REAL, latencyP50Ms_p95 REAL,
  latencyP95Ms_min REAL, latencyP95Ms_avg REAL, latencyP95Ms_max REAL, latencyP95Ms_p95 REAL,
  latencyP99Ms_min REAL, latencyP99Ms_avg REAL, latencyP99Ms_max REAL, latencyP99Ms_p95 REAL,
  throughputIps_min REAL, throughputIps_avg REAL, throughputIps_max REAL, throughputIps_p95 REAL,
  PRIMARY KEY (bucket_ts, dev)
) WITHOUT ROWID;

-- AUTOINCREMENT keeps event ids monotonic (paging by beforeId) even after retention deletes the newest.
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device_id TEXT,
  ts INTEGER NOT NULL,
  kind TEXT NOT NULL,
  severity TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX events_device ON events (device_id, id);
CREATE INDEX events_ts ON events (ts);
