-- v3: device-local keys inside time slices, so one device's window is a few range seeks instead of a scan
-- of the whole fleet's rows (v1/v2 keyed everything (ts, dev) / (bucket_ts, dev)).
--
-- samples: PRIMARY KEY (bucket, dev, ts) with bucket = ts / 60000 (1-minute slice, integer division;
-- timestamps are positive). Arrivals are time-ordered across the fleet, so inserts only touch the newest
-- slice or two (1,000 devices x 6 samples = ~160 pages, cache-resident): nearly as cheap as a pure
-- append, while one device's hour is 60 short range seeks. The key still makes a repeated (deviceId, ts)
-- an idempotent no-op: bucket is derived from ts. (10-minute slices made each commit dirty ~3x more pages.)
CREATE TABLE samples_v3 (
  bucket INTEGER NOT NULL,
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
  PRIMARY KEY (bucket, dev, ts)
) WITHOUT ROWID;
INSERT INTO samples_v3 (bucket, ts, dev, seq, tempC, cpuPct, memPct, powerW, latencyP50Ms, latencyP95Ms, latencyP99Ms,
                        throughputIps, disk_free_bytes, uptime_s, throttled, inferences, errors, model_version, unavailable_json)
  SELECT ts / 60000, ts, dev, seq, tempC, cpuPct, memPct, powerW, latencyP50Ms, latencyP95Ms, latencyP99Ms,
         throughputIps, disk_free_bytes, uptime_s, throttled, inferences, errors, model_version, unavailable_json
  FROM samples ORDER BY ts / 60000, dev, ts;
DROP TABLE samples;
ALTER TABLE samples_v3 RENAME TO samples;

-- Rollups: PRIMARY KEY (chunk, dev, bucket_ts), chunk = bucket_ts / 1 hour for 1-minute rows and
-- bucket_ts / 30 days for hourly rows, so a device's day of 1-minute rollups is 24 short range seeks (v2:
-- 1,440 point lookups). A device's 1-minute rows of an hour are written together when the hour closes
-- (appends in key order); until then they, and the open hour, are served from memory and rebuilt from raw
-- samples after a crash (see sqlite-fleetlog.ts).
CREATE TABLE rollup_1m_v3 (
  chunk INTEGER NOT NULL,
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
  PRIMARY KEY (chunk, dev, bucket_ts)
) WITHOUT ROWID;
INSERT INTO rollup_1m_v3 (chunk, bucket_ts, dev, n, inferences, errors, throttled, tempC_min, tempC_avg, tempC_max, tempC_p95, cpuPct_min, cpuPct_avg, cpuPct_max, cpuPct_p95, memPct_min, memPct_avg, memPct_max, memPct_p95, powerW_min, powerW_avg, powerW_max, powerW_p95, latencyP50Ms_min, latencyP50Ms_avg, latencyP50Ms_max, latencyP50Ms_p95, latencyP95Ms_min, latencyP95Ms_avg, latencyP95Ms_max, latencyP95Ms_p95, latencyP99Ms_min, latencyP99Ms_avg, latencyP99Ms_max, latencyP99Ms_p95, throughputIps_min, throughputIps_avg, throughputIps_max, throughputIps_p95)
  SELECT bucket_ts / 3600000, bucket_ts, dev, n, inferences, errors, throttled, tempC_min, tempC_avg, tempC_max, tempC_p95, cpuPct_min, cpuPct_avg, cpuPct_max, cpuPct_p95, memPct_min, memPct_avg, memPct_max, memPct_p95, powerW_min, powerW_avg, powerW_max, powerW_p95, latencyP50Ms_min, latencyP50Ms_avg, latencyP50Ms_max, latencyP50Ms_p95, latencyP95Ms_min, latencyP95Ms_avg, latencyP95Ms_max, latencyP95Ms_p95, latencyP99Ms_min, latencyP99Ms_avg, latencyP99Ms_max, latencyP99Ms_p95, throughputIps_min, throughputIps_avg, throughputIps_max, throughputIps_p95
  FROM rollup_1m ORDER BY bucket_ts / 3600000, dev, bucket_ts;
DROP TABLE rollup_1m;
ALTER TABLE rollup_1m_v3 RENAME TO rollup_1m;

CREATE TABLE rollup_1h_v3 (
  chunk INTEGER NOT NULL,
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
  PRIMARY KEY (chunk, dev, bucket_ts)
) WITHOUT ROWID;
INSERT INTO rollup_1h_v3 (chunk, bucket_ts, dev, n, inferences, errors, throttled, tempC_min, tempC_avg, tempC_max, tempC_p95, cpuPct_min, cpuPct_avg, cpuPct_max, cpuPct_p95, memPct_min, memPct_avg, memPct_max, memPct_p95, powerW_min, powerW_avg, powerW_max, powerW_p95, latencyP50Ms_min, latencyP50Ms_avg, latencyP50Ms_max, latencyP50Ms_p95, latencyP95Ms_min, latencyP95Ms_avg, latencyP95Ms_max, latencyP95Ms_p95, latencyP99Ms_min, latencyP99Ms_avg, latencyP99Ms_max, latencyP99Ms_p95, throughputIps_min, throughputIps_avg, throughputIps_max, throughputIps_p95)
  SELECT bucket_ts / 2592000000, bucket_ts, dev, n, inferences, errors, throttled, tempC_min, tempC_avg, tempC_max, tempC_p95, cpuPct_min, cpuPct_avg, cpuPct_max, cpuPct_p95, memPct_min, memPct_avg, memPct_max, memPct_p95, powerW_min, powerW_avg, powerW_max, powerW_p95, latencyP50Ms_min, latencyP50Ms_avg, latencyP50Ms_max, latencyP50Ms_p95, latencyP95Ms_min, latencyP95Ms_avg, latencyP95Ms_max, latencyP95Ms_p95, latencyP99Ms_min, latencyP99Ms_avg, latencyP99Ms_max, latencyP99Ms_p95, throughputIps_min, throughputIps_avg, throughputIps_max, throughputIps_p95
  FROM rollup_1h ORDER BY bucket_ts / 2592000000, dev, bucket_ts;
DROP TABLE rollup_1h;
ALTER TABLE rollup_1h_v3 RENAME TO rollup_1h;
