// Fleet query benchmark: 1,000 devices with one day of samples at 10 s (8.64M raw rows, plus their 1-minute
// and 1-hour rollups) loaded by bulk SQL; then the Fleet overview (listDevices) and one device's 24-hour
// chart (series, resolution auto -> 1-minute rollups) are timed 60 times each.
//   node --import tsx test/bench/fleet-query.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../main/fleetlog/db.js';
import { ROLLUP_COLUMNS } from '../../main/fleetlog/rollup.js';
import { SqliteFleetLog } from '../../main/fleetlog/sqlite-fleetlog.js';
import { registration, T0 } from '../../main/fleetlog/testkit.js';

const DEVICES = 1000;
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
const t = performance.now();
{
  const s = new SqliteFleetLog(dbPath);
  for (let i = 0; i < DEVICES; i++) s.upsertDevice(registration(i));
  s.close();
}
const db = openDatabase(dbPath);
const steps = DAY / 10_000;
// Samples in time order (the order ingest writes them), device d at offset d * 10 ms within each period.
db.exec(`
  WITH RECURSIVE k(step) AS (SELECT 0 UNION ALL SELECT step + 1 FROM k WHERE step + 1 < ${steps})
  INSERT INTO samples (ts, dev, seq, tempC, cpuPct, memPct, powerW, latencyP50Ms, latencyP95Ms, latencyP99Ms, throughputIps,
                       disk_free_bytes, uptime_s, throttled, inferences, errors, model_version, unavailable_json)
  SELECT ${T0} + step * 10000 + (d.dev - 1) * 10, d.dev, step,
         40 + abs(random() % 3000) / 100.0, abs(random() % 10000) / 100.0, 20 + abs(random() % 6000) / 100.0, 5 + abs(random() % 1000) / 100.0,
         5 + abs(random() % 2000) / 100.0, 8 + abs(random() % 3000) / 100.0, 10 + abs(random() % 4000) / 100.0, 10 + abs(random() % 5000) / 100.0,
         1000000000, step * 10, 0, 150, abs(random() % 20) = 0, 'yolo-v8n@1.2.0', NULL
  FROM k CROSS JOIN (SELECT dev FROM devices ORDER BY dev) AS d;
`);
log(`loaded ${steps * DEVICES} raw samples in ${((performance.now() - t) / 1000).toFixed(1)} s`);
const t1 = performance.now();
const rollupInsert = (table: string, step: number): void => {
  const cols = ROLLUP_COLUMNS.slice(2);
  db.exec(`
    WITH RECURSIVE k(b) AS (SELECT ${T0} UNION ALL SELECT b + ${step} FROM k WHERE b + ${step} < ${T0 + DAY})
    INSERT INTO ${table} (${ROLLUP_COLUMNS.join(', ')})
    SELECT b, d.dev, ${step / 10_000}, ${(step / 10_000) * 150}, 1, 0, ${cols
      .slice(4)
      .map(() => 'abs(random() % 10000) / 100.0')
      .join(', ')}
    FROM k CROSS JOIN (SELECT dev FROM devices ORDER BY dev) AS d;
  `);
};
rollupInsert('rollup_1m', 60_000);
rollupInsert('rollup_1h', 3_600_000);
db.exec(`UPDATE devices SET last_sample_ts = ${T0 + DAY - 10_000} + (dev - 1) * 10, last_contact_ts = ${T0 + DAY},
           tempC = 55.5, cpuPct = 40, memPct = 50, powerW = 9, latencyP50Ms = 12, latencyP95Ms = 20, latencyP99Ms = 30,
           throughputIps = 40, throttled = 0, inferences = 150, errors = 1, model_version = 'yolo-v8n@1.2.0',
           status = 'healthy', status_reasons_json = '[]'`);
db.pragma('wal_checkpoint(TRUNCATE)');
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
log(
  `raw 1 h p95 ${p95(raw1h)} ms, raw 6 h p95 ${p95(raw6h)} ms, sparklines (1000 devices x 60 min) p95 ${p95(spark)} ms`,
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
    sparklines_1000x60_p95_ms: p95(spark),
  }),
);
