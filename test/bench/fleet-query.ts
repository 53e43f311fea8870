// Fleet query benchmark: 1,000 devices with one day of samples at 10 s (8.64M raw rows, plus their 1-minute
// and 1-hour rollups) loaded by bulk SQL; then the Fleet overview (listDevices) and one device's 24-hour
// chart (series, resolution auto -> 1-minute rollups) are timed 60 times each.
//   node --import tsx test/bench/fleet-query.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../main/fleetlog/db.js';
import { H1_CHUNK_MS, M1_CHUNK_MS, RAW_BUCKET_MS, ROLLUP_COLUMNS } from '../../main/fleetlog/rollup.js';
import { SqliteFleetLog } from '../../main/fleetlog/sqlite-fleetlog.js';
import { registration, T0 } from '../../main/fleetlog/testkit.js';

const DEVICES = 1000;
const SCHEMA =
  'samples WITHOUT ROWID PK(bucket = ts/1min, dev, ts); rollup_1m PK(hour, dev, bucket_ts), rollup_1h PK(30 days, dev, bucket_ts); open hour from memory';
const DAY = 86_400_000;
const RUNS = 60;
const dir = mkdtempSync(join(tmpdir(), 'fleetlog-query-'));
const dbPath = join(dir, 'fleet.db');
const log = (s: string): void => void process.stderr.write(`${s}\n`);

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[Math.ceil(0.95 * s.length) - 1] ?? NaN).toFixed(2));
}
function time(fn: () => unknown): number[] {
  fn(); // warm
  const out: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    fn();
    out.push(performance.now() - t);
  }
  return out;
}

// ---- load
// Rows are generated directly in primary-key order (pure appends) with the journal off for the load: the
// same rows as time-ordered ingest would write, without the WAL copy and the mid-tree page splits.
const t = performance.now();
{
  const s = new SqliteFleetLog(dbPath);
  for (let i = 0; i < DEVICES; i++) s.upsertDevice(registration(i));
  s.close();
}
const db = openDatabase(dbPath);
db.pragma('journal_mode = DELETE');
db.pragma('journal_mode = OFF');
db.pragma('synchronous = OFF');
const minutes = DAY / 60_000;
const devs = '(SELECT dev FROM devices ORDER BY dev) AS d';
// Device d reports at offset (d - 1) * 10 ms within each 10 s period: 6 samples per device per minute.
db.exec(`
  WITH RECURSIVE k(m) AS (SELECT 0 UNION ALL SELECT m + 1 FROM k WHERE m + 1 < ${minutes}),
    j(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM j WHERE j + 1 < 6)
  INSERT INTO samples (bucket, ts, dev, seq, tempC, cpuPct, memPct, powerW, latencyP50Ms, latencyP95Ms, latencyP99Ms, throughputIps,
                       disk_free_bytes, uptime_s, throttled, inferences, errors, model_version, unavailable_json)
  SELECT (${T0} + m * 60000) / ${RAW_BUCKET_MS}, ${T0} + m * 60000 + j * 10000 + (d.dev - 1) * 10, d.dev, m * 6 + j,
         40 + abs(random() % 3000) / 100.0, abs(random() % 10000) / 100.0, 20 + abs(random() % 6000) / 100.0, 5 + abs(random() % 1000) / 100.0,
         5 + abs(random() % 2000) / 100.0, 8 + abs(random() % 3000) / 100.0, 10 + abs(random() % 4000) / 100.0, 10 + abs(random() % 5000) / 100.0,
         1000000000, (m * 6 + j) * 10, 0, 150, abs(random() % 20) = 0, 'yolo-v8n@1.2.0', NULL
  FROM k CROSS JOIN ${devs} CROSS JOIN j;
`);
log(`loaded ${minutes * 6 * DEVICES} raw samples in ${((performance.now() - t) / 1000).toFixed(1)} s`);
const t1 = performance.now();
const stats = ROLLUP_COLUMNS.slice(6)
  .map(() => 'abs(random() % 10000) / 100.0')
  .join(', ');
// 1-minute rows in (hour chunk, dev, minute) order, hourly rows in (30-day chunk, dev, hour) order.
db.exec(`
  WITH RECURSIVE h(h) AS (SELECT 0 UNION ALL SELECT h + 1 FROM h WHERE h + 1 < 24),
    j(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM j WHERE j + 1 < 60)
  INSERT INTO rollup_1m (chunk, ${ROLLUP_COLUMNS.join(', ')})
  SELECT (${T0} + h * 3600000) / ${M1_CHUNK_MS}, ${T0} + h * 3600000 + j * 60000, d.dev, 6, 900, 1, 0, ${stats}
  FROM h CROSS JOIN ${devs} CROSS JOIN j;
  WITH RECURSIVE h(h) AS (SELECT 0 UNION ALL SELECT h + 1 FROM h WHERE h + 1 < 24)
  INSERT INTO rollup_1h (chunk, ${ROLLUP_COLUMNS.join(', ')})
  SELECT ${T0} / ${H1_CHUNK_MS}, ${T0} + h * 3600000, d.dev, 360, 54000, 18, 0, ${stats}
  FROM ${devs} CROSS JOIN h;
`);
db.exec(`UPDATE devices SET last_sample_ts = ${T0 + DAY - 10_000} + (dev - 1) * 10, last_contact_ts = ${T0 + DAY},
           tempC = 55.5, cpuPct = 40, memPct = 50, powerW = 9, latencyP50Ms = 12, latencyP95Ms = 20, latencyP99Ms = 30,
           throughputIps = 40, throttled = 0, inferences = 150, errors = 1, model_version = 'yolo-v8n@1.2.0',
           status = 'healthy', status_reasons_json = '[]'`);
db.pragma('journal_mode = WAL');
db.close();
log(
  `loaded rollups (${(DAY / 60_000) * DEVICES} 1-minute, ${24 * DEVICES} hourly) in ${((performance.now() - t1) / 1000).toFixed(1)} s; total load ${((performance.now() - t) / 1000).toFixed(1)} s`,
);

// ---- queries
const s = new SqliteFleetLog(dbPath);
const overview = time(() => s.listDevices());
const dev = 'dev-00500';
const deviceDay = time(() => s.series({ deviceId: dev, fromTs: T0, toTs: T0 + DAY, resolution: 'auto' }));
const day = s.series({ deviceId: dev, fromTs: T0, toTs: T0 + DAY, resolution: 'auto' });
log(
  `overview: ${s.listDevices().length} rows, p95 ${p95(overview)} ms; device day: ${day.resolution}, ${day.ts.length} points, p95 ${p95(deviceDay)} ms`,
);
// For information: the raw paths (time-keyed scan filtered by device) and sparklines.
const raw1h = time(() =>
  s.series({ deviceId: dev, fromTs: T0 + DAY - 3_600_000, toTs: T0 + DAY, resolution: 'auto' }),
);
const raw6h = time(() =>
  s.series({ deviceId: dev, fromTs: T0 + DAY - 6 * 3_600_000, toTs: T0 + DAY, resolution: 'auto' }),
);
const ids = Array.from({ length: DEVICES }, (_, i) => registration(i).id);
const spark = time(() => s.sparklines({ deviceIds: ids, metric: 'tempC', minutes: 60 }, T0 + DAY));
// What the Fleet page asks for: the visible rows only.
const visible = ids.slice(475, 525);
const spark50 = time(() => s.sparklines({ deviceIds: visible, metric: 'tempC', minutes: 60 }, T0 + DAY));
log(
  `raw 1 h p95 ${p95(raw1h)} ms, raw 6 h p95 ${p95(raw6h)} ms, sparklines 50 x 60 min p95 ${p95(spark50)} ms, 1000 x 60 min p95 ${p95(spark)} ms`,
);
// 10,000 devices: the overview again.
for (let i = DEVICES; i < 10_000; i++) s.upsertDevice(registration(i));
const overview10k = time(() => s.listDevices());
log(`overview with 10,000 devices p95 ${p95(overview10k)} ms`);
s.close();
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    bench: 'fleet-query',
    overview_p95_ms: p95(overview),
    device_day_p95_ms: p95(deviceDay),
    overview_10k_p95_ms: p95(overview10k),
    raw_6h_p95_ms: p95(raw6h),
    raw_1h_p95_ms: p95(raw1h),
    sparklines_50x60_p95_ms: p95(spark50),
    sparklines_1000x60_p95_ms: p95(spark),
    schema: SCHEMA,
  }),
);
