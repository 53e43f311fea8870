// Ingest benchmark: >= 2M samples (1,000 devices interleaved, each every 10 s) through the real ingest path
// (SqliteFleetLog.ingest: schema validation, batching, rollups, device state) vs plain better-sqlite3
// inserts of the same rows into the same schema with the same batch size, in the same run.
//   node --import tsx test/bench/ingest.ts [--samples N] [--batch N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../main/fleetlog/db.js';
import { RAW_BUCKET_MS } from '../../main/fleetlog/rollup.js';
import { SqliteFleetLog } from '../../main/fleetlog/sqlite-fleetlog.js';
import { fleetStream, registration } from '../../main/fleetlog/testkit.js';
import type { TelemetrySample } from '../../shared/telemetry.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const DEVICES = 1000;
const TOTAL = arg('samples', 2_000_000);
const BATCH = arg('batch', 10_000);
const STEPS = Math.ceil(TOTAL / DEVICES);
const dir = mkdtempSync(join(tmpdir(), 'fleetlog-bench-'));
const log = (s: string): void => void process.stderr.write(`${s}\n`);

/**
 * The fleet's samples, a batch at a time, the way a collector hands them over: generated (untimed)
 * just before each timed insert, identically for both sides. Holding all 2M objects at once would put
 * ~750 MB on the heap and make whichever side allocates more pay for full collections of the
 * benchmark's own data.
 */
function* batches(): Generator<TelemetrySample[]> {
  let batch: TelemetrySample[] = [];
  for (const s of fleetStream({ devices: DEVICES, steps: STEPS }) as Iterable<TelemetrySample>) {
    batch.push(s);
    if (batch.length === BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}
let total = 0;
let lastTs = 0;
let t = performance.now();
for (const b of batches()) {
  total += b.length;
  lastTs = Math.max(lastTs, b[b.length - 1]?.ts ?? 0);
}
log(
  `${total} samples in batches of ${BATCH} (generation ${((performance.now() - t) / 1000).toFixed(1)} s, untimed)`,
);

function rawBaseline(): number {
  const db = openDatabase(join(dir, 'raw.db'));
  const devNo = new Map<string, number>();
  const insDev = db.prepare("INSERT INTO devices (id, name, limits_json, created_ts) VALUES (?, ?, '{}', 0)");
  for (let i = 0; i < DEVICES; i++) {
    const reg = registration(i);
    devNo.set(reg.id, Number(insDev.run(reg.id, reg.id).lastInsertRowid));
  }
  const ins = db.prepare(
    `INSERT OR IGNORE INTO samples (bucket, ts, dev, seq, tempC, cpuPct, memPct, powerW, latencyP50Ms, latencyP95Ms, latencyP99Ms, throughputIps,
       disk_free_bytes, uptime_s, throttled, inferences, errors, model_version, unavailable_json)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertBatch = db.transaction((batch: TelemetrySample[]) => {
    for (const s of batch) {
      const un = s.unavailable;
      ins.run(
        Math.floor(s.ts / RAW_BUCKET_MS),
        s.ts,
        devNo.get(s.deviceId),
        s.seq,
        s.tempC,
        s.cpuPct,
        s.memPct,
        s.powerW,
        s.latencyP50Ms,
        s.latencyP95Ms,
        s.latencyP99Ms,
        s.throughputIps,
        s.diskFreeBytes,
        s.uptimeS,
        s.throttled === null ? null : s.throttled ? 1 : 0,
        s.inferences,
        s.errors,
        s.modelVersion,
        Object.keys(un).length ? JSON.stringify(un) : null,
      );
    }
  });
  let ns = 0n;
  let i = 0;
  for (const b of batches()) {
    i++;
    const t0 = process.hrtime.bigint();
    insertBatch(b);
    ns += process.hrtime.bigint() - t0;
    if (i % 50 === 0) log(`raw: ${i * BATCH} rows`);
  }
  db.close();
  return total / (Number(ns) / 1e9);
}

function realIngest(): number {
  const store = new SqliteFleetLog(join(dir, 'ingest.db'));
  for (let i = 0; i < DEVICES; i++) store.upsertDevice(registration(i));
  let ns = 0n;
  let accepted = 0;
  let i = 0;
  for (const b of batches()) {
    i++;
    const t0 = process.hrtime.bigint();
    const r = store.ingest(b, lastTs);
    ns += process.hrtime.bigint() - t0;
    accepted += r.accepted;
    if (r.rejected.length) throw new Error(`unexpected reject: ${JSON.stringify(r.rejected[0])}`);
    if (i % 50 === 0) log(`ingest: ${i * BATCH} samples`);
  }
  const t0 = process.hrtime.bigint();
  store.flush(); // the final rollup flush counts
  ns += process.hrtime.bigint() - t0;
  store.close(); // the checkpoint on close is outside the comparison for both (raw's db.close() is untimed)
  if (accepted !== total) throw new Error(`accepted ${accepted} of ${total}`);
  return total / (Number(ns) / 1e9);
}

const only = process.argv.includes('--ingest-only')
  ? 'ingest'
  : process.argv.includes('--raw-only')
    ? 'raw'
    : null;
t = performance.now();
const raw = only === 'ingest' ? NaN : rawBaseline();
log(`raw: ${Math.round(raw)} rows/s (${((performance.now() - t) / 1000).toFixed(1)} s)`);
t = performance.now();
const ing = only === 'raw' ? NaN : realIngest();
log(`ingest: ${Math.round(ing)} samples/s (${((performance.now() - t) / 1000).toFixed(1)} s)`);
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    bench: 'ingest',
    samples_per_s: Math.round(ing),
    raw_rows_per_s: Math.round(raw),
    ratio: Number((ing / raw).toFixed(3)),
    batch: BATCH,
    schema:
      'samples WITHOUT ROWID PK(bucket = ts/1min, dev, ts), key-sorted multi-row INSERT (128 rows); rollup_1m PK(hour, dev, bucket_ts) written per device at hour close, rollup_1h PK(30 days, dev, bucket_ts); open hour and latest device state served from memory (the console worker also writes them every 5 s; this in-process run does not); synchronous=NORMAL, wal_autocheckpoint=8192',
  }),
);
