// Storage layout and write path (measured with test/bench/ingest.ts and fleet-query.ts; see migration 0003):
//  - samples WITHOUT ROWID PRIMARY KEY (bucket = floor(ts / 1 min), dev, ts). Time-ordered arrivals only
//    touch the newest one or two slices (cache-resident pages), while one device's raw window is one short
//    range seek per minute: 6 h went from ~670 ms (scan of every device's rows) to ~10 ms. 10-minute slices
//    were ~25% slower to ingest (each commit dirtied ~3x more pages) for no query gain that matters.
//  - Samples newer than anything stored for their device cannot be duplicates and go through a 128-row
//    multi-row INSERT (one statement step per 128 rows; the changes count must match or the batch is redone
//    row by row), sorted by key (bucket, dev; arrival order within a device) so a batch's rows of a slice
//    are one ascending pass over the tree instead of 1,000 interleaved insertion points per step (~10%);
//    late or repeated samples go one by one after them. Idempotency still comes from the primary key.
//  - rollup_1m PRIMARY KEY (hour, dev, bucket_ts), rollup_1h PRIMARY KEY (30-day chunk, dev, bucket_ts): a
//    device's day of 1-minute rows is 24 range seeks (was 1,440 point lookups). Writing each closed minute
//    at once into a device-local key dirtied ~1,000 pages per commit (ingest got slower, not faster), so a
//    device's closed minutes of the open hour stay in memory (DevState.pend, one Float64Array per device:
//    as JS arrays they were promoted garbage that cost ~1 s of GC per 1M samples) and are written together
//    when the hour closes - appends in key order. Open buckets are never rewritten periodically (v2 rewrote
//    every open bucket every 2 s); reads merge the in-memory rows (series, sparklines), flush()/close()
//    write them.
//  - One accumulator pass per sample: the open minute (m1) takes it; its values move into the open hour
//    (h1) when the minute closes (h1 + m1 is the open hour). Values live in reused Float64Arrays; a p95
//    over fewer than 20 values (a minute at 10 s) is the maximum.
//  - Devices' latest state (devices row) is not written every batch (1,000 UPDATEs per batch): it stays in
//    memory (rows are patched in the overview cache; reads that go to the file call syncLatest first) and
//    is written when a device turns dirty (first batch after a flush), when its hour moves, and on flush.
//  - Crash safety: devices.rollup_dirty is set in the same transaction as the samples and cleared when the
//    in-memory rows are written. While dirty, the stored last_sample_ts is in the same hour as the device's
//    newest raw sample (the row is rewritten whenever the hour moves). On open, dirty devices' newest raw
//    sample of that hour becomes their latest state (last_contact_ts is raised to at least its ts: the
//    contact times of lost in-memory updates are gone), and their open hour (hour row, closed minutes, open
//    minute) is rebuilt from raw samples and written, so rollups equal what a clean run would have stored.
import type Database from 'better-sqlite3';
import { BuildListQuery, BuildRecord } from '../../shared/artifact.js';
import { AppError, formatZodError } from '../../shared/errors.js';
import type {
  DeviceRow,
  DeviceStatus,
  FleetEvent,
  Series,
  SeriesQuery,
  SparklineQuery,
} from '../../shared/fleet.js';
import type { HealthInput } from '../../shared/health.js';
import { DeviceId, DeviceIdentity, DeviceLimits, METRICS } from '../../shared/telemetry.js';
import { openDatabase, type Db, type Durability } from './db.js';
import {
  BucketAcc,
  DAY_MS,
  floorTo,
  H1_CHUNK_MS,
  HOUR_MS,
  M1_CHUNK_MS,
  MINUTE_MS,
  RAW_BUCKET_MS,
  ROLLUP_COLUMNS,
  ROLLUP_METRIC_COLUMNS,
  type RollupInput,
} from './rollup.js';
import type {
  CollectorCursor,
  DeviceHealthState,
  DeviceRegistration,
  EnrolledAgent,
  IngestResult,
  NewEvent,
  RetentionPolicy,
  SparklineResult,
} from './types.js';
import { DEVICE_ID_RE, fastCheckSample, validateSample, type ValidSample } from './validate.js';

const RAW_MAX_SPAN_MS = 6 * HOUR_MS;
const MINUTE_MAX_SPAN_MS = 3 * DAY_MS;
const MAX_BUCKETS = 50_000;

export const DEFAULT_RETENTION: RetentionPolicy = {
  rawDays: 7,
  minuteDays: 30,
  hourDays: 400,
  eventDays: 90,
};

export interface RejectLogPolicy {
  /** Window over which the limits below apply. */
  windowMs: number;
  /** telemetry.rejected events per sender (device id, or one key for samples without a valid id) per window. */
  perSender: number;
  /** telemetry.rejected events in all per window, however many senders misbehave. */
  total: number;
}

export interface SqliteFleetLogOptions {
  retention?: RetentionPolicy;
  durability?: Durability;
  /**
   * Open (current) rollup buckets are also written at most this often during ingest (0 = every batch).
   * Default: never - closed buckets are written in the batch that closes them, open ones on flush() and
   * close(), and reads take the open buckets from memory. A crash loses nothing: open buckets are rebuilt
   * from raw samples on the next open.
   */
  rollupFlushMs?: number;
  /** Samples stamped further ahead of receivedTs than this are rejected (a device clock in the future). */
  maxClockSkewMs?: number;
  rejectLog?: RejectLogPolicy;
  cacheMiB?: number;
  /** Monotonic clock for the flush interval (tests). */
  monotonicNow?: () => number;
}

interface DevState {
  dev: number;
  id: string;
  lastSampleTs: number | null;
  lastContactTs: number | null;
  /** Accumulators of the open 1-minute and 1-hour buckets (the ones holding lastSampleTs). */
  m1: BucketAcc | null;
  h1: BucketAcc | null;
  /**
   * Closed 1-minute rows of the open hour not yet written (rollup insert order: chunk, bucket_ts, dev, ...),
   * sorted by bucket_ts. Written with the hour's row when the hour closes, or by flush().
   */
  pend: PendRows;
  /** m1/h1 hold every stored sample of their buckets (after a restart they are rebuilt on first touch). */
  loaded: boolean;
  /** Scratch for one ingest batch. */
  batchNo: number;
  /** Newest ts stored or being inserted in this batch: a sample above it cannot be a duplicate. */
  maxTs: number;
  batchLatest: ValidSample | null;
  batchAccepted: boolean;
  /** This batch opened a new hour for the device (its latest state is then written in the batch). */
  hourMoved: boolean;
  /** Latest sample not yet written to the devices row (null: the row is up to date). */
  latest: LatestState | null;
  /** lastContactTs not yet written to the devices row. */
  contactPending: boolean;
  /** devices.rollup_dirty is 1 in the file (set in the first batch after a flush, cleared by the flush). */
  dbDirty: boolean;
}

/** The fields of a sample kept in a devices row (a ValidSample is one): the rollup's, and a few more. */
interface LatestState extends RollupInput {
  diskFreeBytes: number | null;
  uptimeS: number | null;
  throttled: boolean | null;
  modelVersion: string | null;
}

type RawRow = [number, number, ...(number | null)[]];
type Param = number | string | null;

const PEND_WIDTH = ROLLUP_COLUMNS.length + 1;
const pendScratch = new Array<Param>(PEND_WIDTH).fill(null);

/**
 * A device's closed 1-minute rows of the open hour (rollup insert order: chunk, bucket_ts, dev, ...), sorted
 * by bucket_ts, in one reused Float64Array (NaN for NULL: stored values are finite). Kept as JS arrays they
 * were ~170k arrays of boxed numbers per 1M samples that lived for an hour - promoted, then garbage.
 */
class PendRows {
  private buf = new Float64Array(0);
  length = 0;

  private reserve(rows: number): void {
    if (this.buf.length >= rows * PEND_WIDTH) return;
    const next = new Float64Array(Math.max(rows, 8, this.length * 2) * PEND_WIDTH);
    next.set(this.buf.subarray(0, this.length * PEND_WIDTH));
    this.buf = next;
  }

  private writeAt(row: number, acc: BucketAcc, dev: number): void {
    acc.writeRow(pendScratch, 0, Math.floor(acc.start / M1_CHUNK_MS), dev);
    const b = this.buf;
    const o = row * PEND_WIDTH;
    for (let k = 0; k < PEND_WIDTH; k++) {
      const v = pendScratch[k];
      b[o + k] = typeof v === 'number' ? v : NaN;
    }
  }

  /** Appends the bucket's row (its bucket_ts is after every row held). */
  add(acc: BucketAcc, dev: number): void {
    this.reserve(this.length + 1);
    this.writeAt(this.length++, acc, dev);
  }

  /** Inserts the bucket's row in bucket_ts order, replacing a row of the same bucket. */
  put(acc: BucketAcc, dev: number): void {
    const b = this.buf;
    let i = this.length;
    while (i > 0 && (b[(i - 1) * PEND_WIDTH + 1] as number) >= acc.start) i--;
    if (i < this.length && b[i * PEND_WIDTH + 1] === acc.start) {
      this.writeAt(i, acc, dev);
      return;
    }
    this.reserve(this.length + 1);
    this.buf.copyWithin((i + 1) * PEND_WIDTH, i * PEND_WIDTH, this.length * PEND_WIDTH);
    this.length++;
    this.writeAt(i, acc, dev);
  }

  /** Copies row r into out[pos..] (NaN back to null). */
  copyRow(r: number, out: Param[], pos: number): void {
    const b = this.buf;
    const o = r * PEND_WIDTH;
    for (let k = 0; k < PEND_WIDTH; k++) {
      const v = b[o + k] as number;
      out[pos + k] = v === v ? v : null;
    }
  }

  rows(): Param[][] {
    const out: Param[][] = [];
    for (let r = 0; r < this.length; r++) {
      const row = new Array<Param>(PEND_WIDTH);
      this.copyRow(r, row, 0);
      out.push(row);
    }
    return out;
  }

  clear(): void {
    this.length = 0;
  }
}

/** unavailable_json of a sample: null when it has no unavailable metrics. */
function unavailableJson(s: ValidSample): string | null {
  const un = s.unavailable;
  if (un !== undefined) for (const _k in un) return JSON.stringify(un);
  return null;
}

/** Raised inside the ingest transaction when a multi-row insert met a row it did not expect (rolls back). */
class FreshConflict extends Error {}

/**
 * Multi-row INSERT: rows are appended to one flat parameter array and written `rows` at a time by a single
 * prepared `INSERT ... VALUES (...), (...), ...` (one statement step per `rows` rows instead of per row:
 * in better-sqlite3 the per-call overhead is most of the cost of a small insert). A partial tail uses a
 * statement prepared for its size (cached).
 */
class MultiInsert {
  readonly buf: Param[];
  /** Next free position in buf; callers write `width` values at buf[pos..] and call added(). */
  pos = 0;
  private readonly full: Database.Statement;
  private readonly tails = new Map<number, Database.Statement>();

  constructor(
    private readonly db: Db,
    private readonly head: string,
    readonly width: number,
    readonly rows: number,
  ) {
    this.buf = new Array<Param>(width * rows).fill(null);
    this.full = db.prepare(this.sql(rows));
  }

  private sql(rows: number): string {
    const tuple = `(${Array.from({ length: this.width }, () => '?').join(', ')})`;
    return `${this.head} VALUES ${Array.from({ length: rows }, () => tuple).join(', ')}`;
  }

  /** After writing one row at buf[pos..]: writes the buffer when full; returns rows changed by that write. */
  added(): number {
    this.pos += this.width;
    return this.pos === this.buf.length ? this.flush() : 0;
  }

  /** Writes what is buffered; returns the number of rows changed. */
  flush(): number {
    const n = this.pos / this.width;
    if (n === 0) return 0;
    let changes: number;
    if (n === this.rows) changes = this.full.run(this.buf).changes;
    else {
      let st = this.tails.get(n);
      if (st === undefined) this.tails.set(n, (st = this.db.prepare(this.sql(n))));
      changes = st.run(this.buf.slice(0, this.pos)).changes;
    }
    this.pos = 0;
    return changes;
  }
}

const SAMPLE_METRIC_SQL = METRICS.join(', ');
const SAMPLE_INSERT_COLUMNS = `bucket, ts, dev, seq, ${SAMPLE_METRIC_SQL}, disk_free_bytes, uptime_s, throttled, inferences, errors, model_version, unavailable_json`;
const SAMPLE_WIDTH = 19;
/** Rows per multi-row statement (19 and 39 parameters a row). Samples: 128 measured ~4% faster than 48. */
const SAMPLE_ROWS = 128;
const ROLLUP_ROWS = 24;
const ROLLUP_WIDTH = ROLLUP_COLUMNS.length + 1;
const ROLLUP_INPUT_SQL = `ts, dev, ${SAMPLE_METRIC_SQL}, inferences, errors, throttled`;

const DEVICE_COLUMNS =
  'id, name, hardware_model, accelerator, arch, os, url, status, status_reasons_json, last_contact_ts, last_sample_ts, ' +
  `${SAMPLE_METRIC_SQL}, throttled, inferences, errors, model_version, limits_json`;

interface DeviceDbRow {
  id: string;
  name: string;
  hardware_model: string;
  accelerator: DeviceRow['accelerator'];
  arch: string;
  os: string;
  url: string | null;
  status: DeviceStatus;
  status_reasons_json: string;
  last_contact_ts: number | null;
  last_sample_ts: number | null;
  tempC: number | null;
  cpuPct: number | null;
  memPct: number | null;
  powerW: number | null;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  latencyP99Ms: number | null;
  throughputIps: number | null;
  throttled: number | null;
  inferences: number | null;
  errors: number | null;
  model_version: string | null;
  limits_json: string;
}

interface EventDbRow {
  id: number;
  device_id: string | null;
  ts: number;
  kind: string;
  severity: FleetEvent['severity'];
  message: string;
}

function rowToRollupInput(r: RawRow): RollupInput {
  // Column order of ROLLUP_INPUT_SQL: ts, dev, 8 metrics, inferences, errors, throttled.
  const thr = r[12];
  return {
    ts: r[0],
    tempC: r[2] ?? null,
    cpuPct: r[3] ?? null,
    memPct: r[4] ?? null,
    powerW: r[5] ?? null,
    latencyP50Ms: r[6] ?? null,
    latencyP95Ms: r[7] ?? null,
    latencyP99Ms: r[8] ?? null,
    throughputIps: r[9] ?? null,
    inferences: r[10] ?? 0,
    errors: r[11] ?? 0,
    throttled: thr === null || thr === undefined ? null : thr === 1,
  };
}

/** A bucket's row in rollup insert order (chunk, bucket_ts, dev, n, inferences, errors, throttled, stats). */
function rollupRow(acc: BucketAcc, dev: number, chunkMs: number): Param[] {
  const row = new Array<Param>(ROLLUP_WIDTH);
  acc.writeRow(row, 0, Math.floor(acc.start / chunkMs), dev);
  return row;
}

/** A rollup-insert-order row as a series row: bucket_ts, the metric stats, n, inferences, errors, throttled. */
function seriesRow(r: Param[]): (number | null)[] {
  const out = r.slice(7) as (number | null)[];
  out.unshift(r[1] as number);
  out.push(r[3] as number, r[4] as number, r[5] as number, r[6] as number);
  return out;
}

/** Merges rows sorted by [0]; on equal keys the `mem` row wins (open buckets in memory beat stored rows). */
function mergeRows(db: (number | null)[][], mem: (number | null)[][]): (number | null)[][] {
  if (mem.length === 0) return db;
  const out: (number | null)[][] = [];
  let i = 0;
  let j = 0;
  while (i < db.length || j < mem.length) {
    const a = db[i];
    const b = mem[j];
    if (b === undefined || (a !== undefined && (a[0] as number) < (b[0] as number))) {
      out.push(a as (number | null)[]);
      i++;
    } else {
      if (a !== undefined && a[0] === b[0]) i++;
      out.push(b);
      j++;
    }
  }
  return out;
}

/** Mirrors updateLatest / updateContact on a cached DeviceRow. */
function patchRow(row: DeviceRow, s: LatestState | null, lastContactTs: number | null): void {
  row.lastContactTs = lastContactTs;
  if (s === null) return;
  row.lastSampleTs = s.ts;
  row.tempC = s.tempC;
  row.cpuPct = s.cpuPct;
  row.memPct = s.memPct;
  row.powerW = s.powerW;
  row.latencyP50Ms = s.latencyP50Ms;
  row.latencyP95Ms = s.latencyP95Ms;
  row.latencyP99Ms = s.latencyP99Ms;
  row.throughputIps = s.throughputIps;
  row.throttled = s.throttled;
  row.errorRate = s.inferences === 0 ? null : s.errors / s.inferences;
  row.modelVersion = s.modelVersion;
}

const BUILD_COLUMNS =
  'id, name, version, target, precision, mode, status, created_at, duration_ms, source_sha256, source_name, artifact_dir, manifest_sha256, key_id, summary_json, error_text';

interface BuildDbRow {
  id: string;
  name: string;
  version: string;
  target: string;
  precision: BuildRecord['precision'];
  mode: string | null;
  status: BuildRecord['status'];
  created_at: number;
  duration_ms: number | null;
  source_sha256: string | null;
  source_name: string | null;
  artifact_dir: string | null;
  manifest_sha256: string | null;
  key_id: string | null;
  summary_json: string;
  error_text: string | null;
}

function toBuildRecord(r: BuildDbRow): BuildRecord {
  let summary: BuildRecord['summary'] = {};
  try {
    const v = JSON.parse(r.summary_json) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) summary = v as BuildRecord['summary'];
  } catch {
    // Written by recordBuild as JSON; a hand-edited file may not be. The build is still listed.
  }
  return {
    id: r.id,
    name: r.name,
    version: r.version,
    target: r.target,
    precision: r.precision,
    mode: r.mode,
    status: r.status,
    createdAt: r.created_at,
    durationMs: r.duration_ms,
    sourceSha256: r.source_sha256,
    sourceName: r.source_name,
    artifactDir: r.artifact_dir,
    manifestSha256: r.manifest_sha256,
    keyId: r.key_id,
    summary,
    error: r.error_text,
  };
}

/**
 * The fleet log on SQLite, synchronous. Runs inside the fleet log worker (see client.ts); tests and
 * benchmarks may use it directly.
 */
export class SqliteFleetLog {
  readonly db: Db;
  private readonly retention: RetentionPolicy;
  private readonly rollupFlushMs: number;
  private readonly maxClockSkewMs: number;
  private readonly rejectPolicy: RejectLogPolicy;
  private readonly monotonicNow: () => number;

  private readonly byId = new Map<string, DevState>();
  private readonly byDev = new Map<number, DevState>();
  /** Ids of byId that match DEVICE_ID_RE (the sample check skips the regex for them). */
  private readonly checkedIds = new Set<string>();
  private readonly dirtyDevs = new Set<DevState>();
  /** Devices whose row lags their in-memory latest state or contact time (written by syncLatest / flush). */
  private readonly latestPending = new Set<DevState>();
  private lastFlush: number;
  private batchNo = 0;
  private closed = false;

  private readonly rejectBySender = new Map<
    string,
    { windowStart: number; logged: number; suppressed: number }
  >();
  private rejectWindow = { start: -Infinity, logged: 0 };
  private readonly jsonCache = new Map<string, unknown>();
  /**
   * The Fleet overview in memory: DeviceRow per device id, mirrored from the devices table. Ingest patches
   * rows in place; other writes drop the row and it is re-read on the next listDevices.
   */
  private rowCache: Map<string, DeviceRow> | null = null;
  private readonly staleRows = new Set<string>();

  private readonly st: {
    insertSample: Database.Statement;
    updateLatest: Database.Statement;
    updateContact: Database.Statement;
    clearDirty: Database.Statement;
    lastRawSample: Database.Statement;
    insertEvent: Database.Statement;
    devSamples: Database.Statement;
    rangeSamples: Database.Statement;
    deviceRow: Database.Statement;
  };
  private readonly samplesMulti: MultiInsert;
  private readonly rollup1m: MultiInsert;
  private readonly rollup1h: MultiInsert;

  constructor(dbPath: string, opts: SqliteFleetLogOptions = {}) {
    this.db = openDatabase(dbPath, {
      ...(opts.durability === undefined ? {} : { durability: opts.durability }),
      ...(opts.cacheMiB === undefined ? {} : { cacheMiB: opts.cacheMiB }),
    });
    this.retention = opts.retention ?? DEFAULT_RETENTION;
    this.rollupFlushMs = opts.rollupFlushMs ?? Infinity;
    this.maxClockSkewMs = opts.maxClockSkewMs ?? 10 * MINUTE_MS;
    this.rejectPolicy = opts.rejectLog ?? { windowMs: MINUTE_MS, perSender: 3, total: 30 };
    this.monotonicNow = opts.monotonicNow ?? (() => performance.now());
    this.lastFlush = this.monotonicNow();

    const db = this.db;
    this.samplesMulti = new MultiInsert(
      db,
      `INSERT OR IGNORE INTO samples (${SAMPLE_INSERT_COLUMNS})`,
      SAMPLE_WIDTH,
      SAMPLE_ROWS,
    );
    const rollupCols = ['chunk', ...ROLLUP_COLUMNS].join(', ');
    this.rollup1m = new MultiInsert(
      db,
      `INSERT OR REPLACE INTO rollup_1m (${rollupCols})`,
      ROLLUP_WIDTH,
      ROLLUP_ROWS,
    );
    this.rollup1h = new MultiInsert(
      db,
      `INSERT OR REPLACE INTO rollup_1h (${rollupCols})`,
      ROLLUP_WIDTH,
      ROLLUP_ROWS,
    );
    this.st = {
      insertSample: db.prepare(
        `INSERT OR IGNORE INTO samples (${SAMPLE_INSERT_COLUMNS})
         VALUES (${Array.from({ length: SAMPLE_WIDTH }, () => '?').join(', ')})`,
      ),
      updateLatest: db.prepare(
        `UPDATE devices SET last_sample_ts = ?, last_contact_ts = MAX(COALESCE(last_contact_ts, 0), ?),
           tempC = ?, cpuPct = ?, memPct = ?, powerW = ?, latencyP50Ms = ?, latencyP95Ms = ?, latencyP99Ms = ?,
           throughputIps = ?, disk_free_bytes = ?, uptime_s = ?, throttled = ?, inferences = ?, errors = ?,
           model_version = ?, rollup_dirty = ?
         WHERE dev = ?`,
      ),
      updateContact: db.prepare(
        'UPDATE devices SET last_contact_ts = MAX(COALESCE(last_contact_ts, 0), ?), rollup_dirty = ? WHERE dev = ?',
      ),
      clearDirty: db.prepare('UPDATE devices SET rollup_dirty = ? WHERE dev = ?'),
      lastRawSample: db.prepare(
        `SELECT ts, ${SAMPLE_METRIC_SQL}, disk_free_bytes, uptime_s, throttled, inferences, errors, model_version
         FROM samples WHERE bucket = ? AND dev = ? ORDER BY ts DESC LIMIT 1`,
      ),
      insertEvent: db.prepare(
        'INSERT INTO events (device_id, ts, kind, severity, message) VALUES (?, ?, ?, ?, ?)',
      ),
      // One device's samples in [from, to): one range seek per 10-minute slice.
      devSamples: db
        .prepare(
          `WITH RECURSIVE g(b) AS (SELECT @b0 UNION ALL SELECT b + 1 FROM g WHERE b < @b1)
           SELECT ${ROLLUP_INPUT_SQL.replace('ts, dev', 's.ts, s.dev')} FROM g CROSS JOIN samples AS s
           ON s.bucket = g.b AND s.dev = @dev AND s.ts >= @from AND s.ts < @to`,
        )
        .raw(),
      // Every device's samples in the slices [b0, b1).
      rangeSamples: db
        .prepare(`SELECT ${ROLLUP_INPUT_SQL} FROM samples WHERE bucket >= ? AND bucket < ?`)
        .raw(),
      deviceRow: db.prepare(`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ?`),
    };

    const rows = db
      .prepare('SELECT dev, id, last_sample_ts, last_contact_ts, rollup_dirty FROM devices')
      .all() as {
      dev: number;
      id: string;
      last_sample_ts: number | null;
      last_contact_ts: number | null;
      rollup_dirty: number;
    }[];
    const crashDirty: DevState[] = [];
    for (const r of rows) {
      const st = this.addState(r.dev, r.id, r.last_sample_ts, r.last_contact_ts);
      if (r.rollup_dirty === 1) {
        st.dbDirty = true;
        if (r.last_sample_ts !== null) crashDirty.push(st);
      }
    }
    // After a crash, the latest state and the open buckets of these devices may lag their raw samples:
    // find the newest raw sample (in the hour of the stored last_sample_ts: the row is rewritten whenever
    // a device's hour moves), then rebuild and rewrite the open buckets and the devices row.
    if (crashDirty.length > 0) {
      db.transaction(() => {
        for (const st of crashDirty) this.recoverLatest(st);
        this.loadAccumulators(crashDirty);
        this.flushOpenBuckets();
      })();
    }
  }

  private addState(
    dev: number,
    id: string,
    lastSampleTs: number | null,
    lastContactTs: number | null,
  ): DevState {
    const st: DevState = {
      dev,
      id,
      lastSampleTs,
      lastContactTs,
      m1: null,
      h1: null,
      pend: new PendRows(),
      loaded: lastSampleTs === null,
      batchNo: 0,
      maxTs: -Infinity,
      batchLatest: null,
      batchAccepted: false,
      hourMoved: false,
      latest: null,
      contactPending: false,
      dbDirty: false,
    };
    this.byId.set(id, st);
    this.byDev.set(dev, st);
    if (id.length <= 64 && DEVICE_ID_RE.test(id)) this.checkedIds.add(id);
    return st;
  }

  // ---------------------------------------------------------------- devices

  upsertDevice(reg: DeviceRegistration): DeviceRow {
    this.assertOpen();
    const idCheck = DeviceId.safeParse(reg.id);
    if (!idCheck.success)
      throw new AppError(
        'BAD_INPUT',
        `device id ${JSON.stringify(reg.id)}: ${idCheck.error.issues[0]?.message ?? 'invalid'}`,
      );
    let identity: DeviceIdentity | null = null;
    if (reg.identity !== null) {
      const parsed = DeviceIdentity.safeParse(reg.identity);
      if (!parsed.success)
        throw new AppError(
          'BAD_INPUT',
          `identity of ${reg.id}: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
        );
      identity = parsed.data;
      if (identity.deviceId !== reg.id) {
        throw new AppError(
          'CONFLICT',
          `agent reports device id ${identity.deviceId}, enrolled as ${reg.id}`,
          {
            hint: 'remove the device and enrol it again, or check the agent URL',
          },
        );
      }
    }
    const limitsIn = reg.limits ?? identity?.limits;
    const limits = limitsIn === undefined ? undefined : DeviceLimits.parse(limitsIn);
    const existing = this.byId.get(reg.id);
    const now = Date.now();
    if (existing === undefined) {
      const info = this.db
        .prepare(
          `INSERT INTO devices (id, name, hardware_model, accelerator, arch, os, url, token, identity_json, limits_json, created_ts)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          reg.id,
          reg.name ?? identity?.hostname ?? reg.id,
          identity?.hardwareModel ?? '',
          identity?.accelerator ?? 'unknown',
          identity?.arch ?? '',
          identity?.os ?? '',
          reg.url,
          reg.token,
          identity === null ? null : JSON.stringify(identity),
          JSON.stringify(limits ?? DeviceLimits.parse({})),
          now,
        );
      this.addState(Number(info.lastInsertRowid), reg.id, null, null);
    } else {
      // Fields the caller does not know (null / undefined) keep their stored values.
      this.db
        .prepare(
          `UPDATE devices SET
             name = COALESCE(?, name),
             hardware_model = COALESCE(?, hardware_model), accelerator = COALESCE(?, accelerator),
             arch = COALESCE(?, arch), os = COALESCE(?, os),
             url = COALESCE(?, url), token = COALESCE(?, token),
             identity_json = COALESCE(?, identity_json), limits_json = COALESCE(?, limits_json)
           WHERE id = ?`,
        )
        .run(
          reg.name ?? null,
          identity?.hardwareModel ?? null,
          identity?.accelerator ?? null,
          identity?.arch ?? null,
          identity?.os ?? null,
          reg.url,
          reg.token,
          identity === null ? null : JSON.stringify(identity),
          limits === undefined ? null : JSON.stringify(limits),
          reg.id,
        );
    }
    this.invalidateRow(reg.id);
    const row = this.getDevice(reg.id);
    if (row === null) throw new AppError('INTERNAL', `device ${reg.id} vanished after upsert`);
    return row.row;
  }

  removeDevice(id: string): boolean {
    this.assertOpen();
    const st = this.byId.get(id);
    if (st === undefined) return false;
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM devices WHERE dev = ?').run(st.dev);
      // Raw samples and rollups of the removed device are left to retention: deleting them now would scan
      // the time-keyed tables, and the AUTOINCREMENT key guarantees nobody inherits them.
      this.insertEvent({
        deviceId: id,
        ts: Date.now(),
        kind: 'device.removed',
        severity: 'info',
        message: `device ${id} removed`,
      });
    })();
    this.invalidateRow(id);
    this.byId.delete(id);
    this.checkedIds.delete(id);
    this.byDev.delete(st.dev);
    this.dirtyDevs.delete(st);
    this.latestPending.delete(st);
    return true;
  }

  listEnrolledAgents(): EnrolledAgent[] {
    this.assertOpen();
    const rows = this.db
      .prepare(
        'SELECT id, url, token, boot_id, last_seq FROM devices WHERE url IS NOT NULL AND token IS NOT NULL ORDER BY id',
      )
      .all() as { id: string; url: string; token: string; boot_id: string | null; last_seq: number }[];
    return rows.map((r) => ({
      id: r.id,
      url: r.url,
      token: r.token,
      bootId: r.boot_id,
      lastSeq: r.last_seq,
    }));
  }

  /** Unknown devices are ignored (the collector may race a removal). */
  setCursor(c: CollectorCursor): void {
    this.assertOpen();
    this.db
      .prepare('UPDATE devices SET boot_id = ?, last_seq = ? WHERE id = ?')
      .run(c.bootId, c.lastSeq, c.deviceId);
  }

  /** Unknown devices are ignored (the collector may race a removal). */
  markContact(deviceId: string, ts: number): void {
    this.assertOpen();
    const st = this.byId.get(deviceId);
    if (st === undefined) return;
    this.st.updateContact.run(ts, st.dbDirty ? 1 : 0, st.dev);
    if (st.lastContactTs === null || ts > st.lastContactTs) st.lastContactTs = ts;
    this.invalidateRow(deviceId);
  }

  /** Stores status and reasons; returns true (and logs 'status.changed') only when the status changed. */
  setStatus(deviceId: string, status: DeviceStatus, reasons: string[], ts: number): boolean {
    this.assertOpen();
    const cur = this.db
      .prepare('SELECT status, status_reasons_json FROM devices WHERE id = ?')
      .get(deviceId) as { status: DeviceStatus; status_reasons_json: string } | undefined;
    if (cur === undefined) return false;
    const reasonsJson = JSON.stringify(reasons);
    if (cur.status === status && cur.status_reasons_json === reasonsJson) return false;
    const changed = cur.status !== status;
    this.db.transaction(() => {
      this.db
        .prepare('UPDATE devices SET status = ?, status_reasons_json = ? WHERE id = ?')
        .run(status, reasonsJson, deviceId);
      this.invalidateRow(deviceId);
      if (changed) {
        this.insertEvent({
          deviceId,
          ts,
          kind: 'status.changed',
          severity: status === 'unreachable' ? 'error' : status === 'degraded' ? 'warning' : 'info',
          message: `${deviceId}: ${cur.status} → ${status}${reasons.length ? `: ${reasons.join('; ')}` : ''}`,
        });
      }
    })();
    return changed;
  }

  addEvent(e: NewEvent): FleetEvent {
    this.assertOpen();
    return this.insertEvent(e);
  }

  private insertEvent(e: NewEvent): FleetEvent {
    const info = this.st.insertEvent.run(e.deviceId, e.ts, e.kind, e.severity, e.message);
    return { id: Number(info.lastInsertRowid), ...e };
  }

  // ---------------------------------------------------------------- ingest

  /**
   * Validates every sample (contract schema), stores the good ones in one transaction with their rollups
   * and the devices' latest state. Duplicates (same deviceId + ts) are no-ops; rejects are logged as
   * rate-limited 'telemetry.rejected' events and never stored.
   */
  ingest(samples: unknown[], receivedTs: number): IngestResult {
    this.assertOpen();
    try {
      return this.ingestBatch(samples, receivedTs, true);
    } catch (err) {
      // A "fresh" sample was already stored (a file whose devices.last_sample_ts lags its samples, e.g. one
      // written by another tool): the transaction rolled back; redo the batch row by row.
      if (!(err instanceof FreshConflict)) throw err;
      return this.ingestBatch(samples, receivedTs, false);
    }
  }

  private ingestBatch(samples: unknown[], receivedTs: number, multiRow: boolean): IngestResult {
    const result: IngestResult = { accepted: 0, duplicates: 0, rejected: [] };
    const batchNo = ++this.batchNo;
    const valid: ValidSample[] = [];
    const states: DevState[] = [];
    const touched: DevState[] = [];
    const needLoad: DevState[] = [];
    const maxTs = receivedTs + this.maxClockSkewMs;
    for (let i = 0; i < samples.length; i++) {
      const raw = samples[i];
      let s: ValidSample;
      if (fastCheckSample(raw, this.checkedIds)) s = raw;
      else {
        const v = validateSample(raw);
        if (!v.ok) {
          result.rejected.push({ index: i, deviceId: v.deviceId, reason: v.reason });
          continue;
        }
        s = v.sample;
      }
      const st = this.byId.get(s.deviceId);
      if (st === undefined) {
        result.rejected.push({ index: i, deviceId: s.deviceId, reason: 'unknown device' });
        continue;
      }
      if (s.ts > maxTs) {
        result.rejected.push({
          index: i,
          deviceId: s.deviceId,
          reason: `ts: ${new Date(s.ts).toISOString()} is ${Math.round((s.ts - receivedTs) / 1000)} s ahead of the console clock (device clock wrong?)`,
        });
        continue;
      }
      valid.push(s);
      states.push(st);
      if (st.batchNo !== batchNo) {
        st.batchNo = batchNo;
        st.batchLatest = null;
        st.batchAccepted = false;
        st.hourMoved = false;
        st.maxTs = st.lastSampleTs ?? -Infinity;
        touched.push(st);
        if (!st.loaded && st.lastSampleTs !== null) needLoad.push(st);
      }
    }

    this.db.transaction(() => {
      // Open buckets of devices not touched since the file was opened: rebuilt from raw before they are
      // extended or closed (their stored rows are exact, but the accumulators must hold every value).
      if (needLoad.length > 0) this.loadAccumulators(needLoad);
      for (const st of touched) st.loaded = true;

      // Phase 1: store the samples. A sample newer than everything stored for its device cannot be a
      // duplicate: those go through the multi-row insert, which must then change exactly as many rows, in
      // key order (bucket, dev; arrival order - ascending ts - within a device): the batch's rows of a slice
      // are then one ascending pass over the samples tree instead of 1,000 interleaved insertion points
      // per step. The rest (late or repeated samples, rare) go one by one after them and report whether
      // they were new.
      const n = valid.length;
      const stored = new Uint8Array(n);
      const bucketOf = new Float64Array(n);
      const fresh: number[] = [];
      const rest: number[] = [];
      for (let i = 0; i < n; i++) {
        const ts = (valid[i] as ValidSample).ts;
        const st = states[i] as DevState;
        bucketOf[i] = Math.floor(ts / RAW_BUCKET_MS);
        if (multiRow && ts > st.maxTs) {
          st.maxTs = ts;
          stored[i] = 1;
          fresh.push(i);
        } else rest.push(i);
      }
      // Stable (TimSort): a device's rows keep their ascending ts order.
      fresh.sort(
        (a, b) =>
          (bucketOf[a] as number) - (bucketOf[b] as number) ||
          (states[a] as DevState).dev - (states[b] as DevState).dev,
      );
      const multi = this.samplesMulti;
      const buf = multi.buf;
      let pending = 0;
      for (const i of fresh) {
        const s = valid[i] as ValidSample;
        let p = multi.pos;
        buf[p++] = bucketOf[i] as number;
        buf[p++] = s.ts;
        buf[p++] = (states[i] as DevState).dev;
        buf[p++] = s.seq;
        buf[p++] = s.tempC;
        buf[p++] = s.cpuPct;
        buf[p++] = s.memPct;
        buf[p++] = s.powerW;
        buf[p++] = s.latencyP50Ms;
        buf[p++] = s.latencyP95Ms;
        buf[p++] = s.latencyP99Ms;
        buf[p++] = s.throughputIps;
        buf[p++] = s.diskFreeBytes;
        buf[p++] = s.uptimeS;
        buf[p++] = s.throttled === null ? null : s.throttled ? 1 : 0;
        buf[p++] = s.inferences;
        buf[p++] = s.errors;
        buf[p++] = s.modelVersion;
        buf[p] = unavailableJson(s);
        pending++;
        if (multi.pos + SAMPLE_WIDTH === buf.length) {
          if (multi.added() !== pending) throw new FreshConflict();
          pending = 0;
        } else multi.added();
      }
      if (pending > 0 && multi.flush() !== pending) throw new FreshConflict();
      for (const i of rest) {
        const s = valid[i] as ValidSample;
        const st = states[i] as DevState;
        const ts = s.ts;
        const r = this.st.insertSample.run(
          bucketOf[i],
          ts,
          st.dev,
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
          unavailableJson(s),
        );
        if (r.changes !== 0) {
          stored[i] = 1;
          if (ts > st.maxTs) st.maxTs = ts;
        }
      }

      // Phase 2: rollups and latest state of what was stored.
      const late = new Map<string, { table: '1m' | '1h'; start: number; st: DevState }>();
      for (let i = 0; i < n; i++) {
        if (stored[i] === 0) {
          result.duplicates++;
          continue;
        }
        const s = valid[i] as ValidSample;
        const st = states[i] as DevState;
        result.accepted++;
        st.batchAccepted = true;
        const ts = s.ts;
        // 1-minute bucket
        const m = floorTo(ts, MINUTE_MS);
        // One accumulator pass per sample: the open minute (m1) takes it, and its values move into the
        // open hour (h1) when the minute closes; h1 itself only takes late samples of closed minutes.
        const m1 = st.m1;
        let inM1 = true;
        if (m1 !== null && m === m1.start) m1.add(s);
        else if (
          m1 === null ? st.lastSampleTs === null || m > floorTo(st.lastSampleTs, MINUTE_MS) : m > m1.start
        ) {
          if (m1 === null) st.m1 = new BucketAcc(m);
          else {
            if (m1.dirty) st.pend.add(m1, st.dev);
            if (st.h1 !== null) st.h1.merge(m1);
            m1.reset(m);
          }
          (st.m1 as BucketAcc).add(s);
        } else {
          inM1 = false;
          late.set(`m${st.dev}:${m}`, { table: '1m', start: m, st });
        }
        // 1-hour bucket
        const h = floorTo(ts, HOUR_MS);
        const h1 = st.h1;
        if (h1 !== null && h === h1.start) {
          if (inM1) h1.dirty = true;
          else h1.add(s);
        } else if (
          h1 === null ? st.lastSampleTs === null || h > floorTo(st.lastSampleTs, HOUR_MS) : h > h1.start
        ) {
          this.writePending(st);
          st.hourMoved = true;
          if (h1 === null) st.h1 = new BucketAcc(h);
          else {
            if (h1.dirty) this.writeRollup('1h', h1, st.dev);
            h1.reset(h);
          }
          if (inM1) (st.h1 as BucketAcc).dirty = true;
          else (st.h1 as BucketAcc).add(s);
        } else late.set(`h${st.dev}:${h}`, { table: '1h', start: h, st });
        if (st.lastSampleTs === null || ts >= st.lastSampleTs) {
          st.lastSampleTs = ts;
          st.batchLatest = s;
        }
      }
      // Closed buckets buffered above go out before any late bucket is recomputed (that one must win).
      this.rollup1m.flush();
      this.rollup1h.flush();
      // Samples older than a device's open bucket: recompute those closed buckets from raw (rare).
      for (const l of late.values()) {
        const step = l.table === '1m' ? MINUTE_MS : HOUR_MS;
        const acc = new BucketAcc(l.start);
        for (const row of this.devSamples(l.st.dev, l.start, l.start + step)) acc.add(rowToRollupInput(row));
        const h1 = l.st.h1;
        if (l.table === '1m' && h1 !== null && l.start >= h1.start) {
          // A closed minute of the open hour: it belongs with the pending rows (replace or insert, sorted).
          l.st.pend.put(acc, l.st.dev);
          this.dirtyDevs.add(l.st);
        } else this.writeRollup(l.table, acc, l.st.dev);
      }
      // Devices rows: written when a device turns dirty (first batch after a flush) or its hour moves, so
      // that after a crash the newest raw sample is in the hour of the stored last_sample_ts; otherwise the
      // latest state stays in memory (reads take it from there or call syncLatest; flush writes it).
      for (const st of touched) {
        const s = st.batchLatest;
        if (s !== null) st.latest = s;
        if (st.lastContactTs === null || receivedTs > st.lastContactTs) st.lastContactTs = receivedTs;
        st.contactPending = true;
        if (st.batchAccepted) {
          this.dirtyDevs.add(st);
          if (!st.dbDirty || st.hourMoved) this.writeLatest(st, 1);
          else this.latestPending.add(st);
        } else this.latestPending.add(st);
        const cached = this.rowCache?.get(st.id);
        if (cached !== undefined) patchRow(cached, s, st.lastContactTs);
        st.batchLatest = null;
      }
      for (const r of result.rejected) this.logRejected(r.deviceId, r.reason, receivedTs);
      if (this.rollupFlushMs !== Infinity && this.monotonicNow() - this.lastFlush >= this.rollupFlushMs)
        this.flushOpenBuckets();
      this.rollup1m.flush();
      this.rollup1h.flush();
    })();
    return result;
  }

  /** Writes the device's row (latest state, contact time, rollup_dirty) if it lags or the flag changes. */
  private writeLatest(st: DevState, dirty: 0 | 1): void {
    const s = st.latest;
    if (s !== null) {
      this.st.updateLatest.run(
        s.ts,
        st.lastContactTs,
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
        dirty,
        st.dev,
      );
    } else if (st.contactPending && st.lastContactTs !== null) {
      this.st.updateContact.run(st.lastContactTs, dirty, st.dev);
    } else if (st.dbDirty !== (dirty === 1)) {
      this.st.clearDirty.run(dirty, st.dev);
    }
    st.latest = null;
    st.contactPending = false;
    st.dbDirty = dirty === 1;
    this.latestPending.delete(st);
  }

  /** Writes every devices row that lags its in-memory state (before reading devices rows from the file). */
  private syncLatest(): void {
    if (this.latestPending.size === 0) return;
    this.db.transaction(() => {
      for (const st of this.latestPending) this.writeLatest(st, st.dbDirty ? 1 : 0);
    })();
  }

  /** After a crash: the device's newest raw sample (in the hour of its stored last_sample_ts) becomes its latest state. */
  private recoverLatest(st: DevState): void {
    if (st.lastSampleTs === null) return;
    const from = Math.floor(st.lastSampleTs / RAW_BUCKET_MS);
    const to = Math.floor((floorTo(st.lastSampleTs, HOUR_MS) + HOUR_MS - 1) / RAW_BUCKET_MS);
    for (let b = to; b >= from; b--) {
      const r = this.st.lastRawSample.get(b, st.dev) as
        | (Omit<DeviceDbRow, 'throttled'> & {
            ts: number;
            disk_free_bytes: number | null;
            uptime_s: number | null;
            throttled: number | null;
            inferences: number;
            errors: number;
          })
        | undefined;
      if (r === undefined) continue;
      if (r.ts < st.lastSampleTs) break;
      st.lastSampleTs = r.ts;
      st.latest = {
        ts: r.ts,
        tempC: r.tempC,
        cpuPct: r.cpuPct,
        memPct: r.memPct,
        powerW: r.powerW,
        latencyP50Ms: r.latencyP50Ms,
        latencyP95Ms: r.latencyP95Ms,
        latencyP99Ms: r.latencyP99Ms,
        throughputIps: r.throughputIps,
        diskFreeBytes: r.disk_free_bytes,
        uptimeS: r.uptime_s,
        throttled: r.throttled === null ? null : r.throttled === 1,
        inferences: r.inferences,
        errors: r.errors,
        modelVersion: r.model_version,
      };
      // Contact times of the lost rows are gone; the sample's arrival is the best lower bound.
      if (st.lastContactTs === null || r.ts > st.lastContactTs) st.lastContactTs = r.ts;
      break;
    }
  }

  /** Buffers the pending 1-minute rows of the device's open hour for writing (call inside a transaction). */
  private writePending(st: DevState): void {
    const mi = this.rollup1m;
    const pend = st.pend;
    for (let r = 0; r < pend.length; r++) {
      pend.copyRow(r, mi.buf, mi.pos);
      mi.added();
    }
    pend.clear();
  }

  /** Buffers the bucket's row (written by the next rollup flush; call inside a transaction). */
  private writeRollup(table: '1m' | '1h', acc: BucketAcc, dev: number): void {
    const mi = table === '1m' ? this.rollup1m : this.rollup1h;
    const chunk = Math.floor(acc.start / (table === '1m' ? M1_CHUNK_MS : H1_CHUNK_MS));
    acc.writeRow(mi.buf, mi.pos, chunk, dev);
    mi.added();
    acc.dirty = false;
  }

  /** One device's raw samples in [from, to) as ROLLUP_INPUT_SQL rows. */
  private devSamples(dev: number, from: number, to: number): RawRow[] {
    return this.st.devSamples.all({
      b0: Math.floor(from / RAW_BUCKET_MS),
      b1: Math.floor((to - 1) / RAW_BUCKET_MS),
      dev,
      from,
      to,
    }) as RawRow[];
  }

  /** Rebuilds the open-bucket accumulators of `states` from raw samples (after a restart). */
  private loadAccumulators(states: DevState[]): void {
    const byHour = new Map<number, Map<number, DevState>>();
    for (const st of states) {
      if (st.lastSampleTs === null) continue;
      const h = floorTo(st.lastSampleTs, HOUR_MS);
      st.h1 = new BucketAcc(h);
      st.m1 = new BucketAcc(floorTo(st.lastSampleTs, MINUTE_MS));
      st.loaded = true;
      let group = byHour.get(h);
      if (group === undefined) byHour.set(h, (group = new Map<number, DevState>()));
      group.set(st.dev, st);
    }
    for (const [h, group] of byHour) {
      // One scan of the hour for all devices when many need it; per-device seeks otherwise.
      const rows: Iterable<RawRow> =
        group.size > 8
          ? (this.st.rangeSamples.iterate(
              Math.floor(h / RAW_BUCKET_MS),
              Math.floor((h + HOUR_MS) / RAW_BUCKET_MS),
            ) as IterableIterator<RawRow>)
          : [...group.keys()].flatMap((dev) => this.devSamples(dev, h, h + HOUR_MS));
      // Closed minutes of the open hour, per device (rows arrive in minute order for each device).
      const closed = new Map<number, BucketAcc[]>();
      for (const row of rows) {
        const st = group.get(row[1]);
        if (st === undefined || st.h1 === null || st.m1 === null) continue;
        const input = rowToRollupInput(row);
        const m = floorTo(input.ts, MINUTE_MS);
        // The open minute's samples are in m1 only (see ingestBatch).
        if (m === st.m1.start) st.m1.add(input);
        else st.h1.add(input);
        if (m < st.m1.start) {
          let list = closed.get(st.dev);
          if (list === undefined) closed.set(st.dev, (list = []));
          let acc = list[list.length - 1];
          if (acc === undefined || acc.start !== m) list.push((acc = new BucketAcc(m)));
          acc.add(input);
        }
      }
      // Rebuilt, not yet written: the stored rows may lag (crash) until the next flush or hour close.
      for (const st of group.values()) {
        st.pend.clear();
        for (const acc of closed.get(st.dev) ?? []) st.pend.add(acc, st.dev);
        if (st.h1 !== null) st.h1.dirty = true;
        if (st.m1 !== null) st.m1.dirty = true;
        this.dirtyDevs.add(st);
      }
    }
  }

  /** Writes every open bucket changed since the last flush (call inside a transaction). */
  private flushOpenBuckets(): void {
    for (const st of this.dirtyDevs) {
      this.writePending(st);
      if (st.m1 !== null && st.m1.dirty) this.writeRollup('1m', st.m1, st.dev);
      if (st.h1 !== null && st.h1.dirty) {
        this.writeRollup('1h', this.hourView(st) as BucketAcc, st.dev);
        st.h1.dirty = false;
      }
      this.writeLatest(st, 0);
    }
    for (const st of this.latestPending) this.writeLatest(st, st.dbDirty ? 1 : 0);
    this.rollup1m.flush();
    this.rollup1h.flush();
    this.dirtyDevs.clear();
    this.lastFlush = this.monotonicNow();
  }

  /**
   * Writes the open rollup buckets to the rollup tables (close() does; reads do not need it, they take
   * open buckets from memory).
   */
  flush(): void {
    this.assertOpen();
    if (this.dirtyDevs.size === 0 && this.latestPending.size === 0) return;
    this.db.transaction(() => this.flushOpenBuckets())();
  }

  private logRejected(deviceId: string | null, reason: string, ts: number): void {
    const p = this.rejectPolicy;
    if (ts - this.rejectWindow.start >= p.windowMs || ts < this.rejectWindow.start) {
      this.rejectWindow = { start: ts, logged: 0 };
      if (this.rejectBySender.size > 10_000) this.rejectBySender.clear();
    }
    const key = deviceId ?? '';
    let e = this.rejectBySender.get(key);
    let carried = 0;
    if (e === undefined || ts - e.windowStart >= p.windowMs || ts < e.windowStart) {
      carried = e?.suppressed ?? 0;
      e = { windowStart: ts, logged: 0, suppressed: 0 };
      this.rejectBySender.set(key, e);
    }
    if (e.logged >= p.perSender || this.rejectWindow.logged >= p.total) {
      e.suppressed++;
      return;
    }
    e.logged++;
    this.rejectWindow.logged++;
    const who = deviceId ?? 'a sender without a valid device id';
    const more =
      carried > 0
        ? ` (${carried} more rejected samples were not logged in the previous ${Math.round(p.windowMs / 1000)} s)`
        : '';
    this.insertEvent({
      deviceId,
      ts,
      kind: 'telemetry.rejected',
      severity: 'warning',
      message: `telemetry from ${who} rejected: ${reason}${more}`,
    });
  }

  // ---------------------------------------------------------------- queries

  listDevices(filter: { search?: string; status?: DeviceStatus[] } = {}): DeviceRow[] {
    this.assertOpen();
    const rows = this.cachedRows();
    const search = filter.search?.trim().toLowerCase();
    const status = filter.status === undefined ? null : new Set(filter.status);
    const out: DeviceRow[] = [];
    for (const r of rows.values()) {
      if (status !== null && !status.has(r.status)) continue;
      if (
        search &&
        !r.id.toLowerCase().includes(search) &&
        !r.name.toLowerCase().includes(search) &&
        !r.hardwareModel.toLowerCase().includes(search) &&
        !(r.modelVersion ?? '').toLowerCase().includes(search)
      ) {
        continue;
      }
      out.push({ ...r });
    }
    return out;
  }

  private cachedRows(): Map<string, DeviceRow> {
    if (this.rowCache === null || this.staleRows.size > 200) {
      this.syncLatest();
      const all = this.prep(`SELECT ${DEVICE_COLUMNS} FROM devices ORDER BY id`).all() as DeviceDbRow[];
      this.rowCache = new Map(all.map((r) => [r.id, this.toDeviceRow(r)]));
      this.staleRows.clear();
    } else if (this.staleRows.size > 0) {
      this.syncLatest();
      const cache = this.rowCache;
      for (const id of this.staleRows) {
        const r = this.st.deviceRow.get(id) as DeviceDbRow | undefined;
        if (r === undefined) cache.delete(id);
        else cache.set(id, this.toDeviceRow(r));
      }
      // Keep id order (new devices are appended by Map.set).
      if ([...this.staleRows].some((id) => cache.has(id)))
        this.rowCache = new Map([...cache].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
      this.staleRows.clear();
    }
    return this.rowCache;
  }

  private invalidateRow(id: string): void {
    if (this.rowCache !== null) this.staleRows.add(id);
  }

  private readonly stmtCache = new Map<string, Database.Statement>();
  /** Prepared statements for query shapes that vary (filters, resolutions), cached by SQL text. */
  private prep(sql: string): Database.Statement {
    let st = this.stmtCache.get(sql);
    if (st === undefined) {
      st = this.db.prepare(sql);
      if (this.stmtCache.size > 200) this.stmtCache.clear();
      this.stmtCache.set(sql, st);
    }
    return st;
  }

  getDevice(id: string): { row: DeviceRow; identity: DeviceIdentity | null } | null {
    this.assertOpen();
    this.syncLatest();
    const r = this.st.deviceRow.get(id) as DeviceDbRow | undefined;
    if (r === undefined) return null;
    const ident = this.db.prepare('SELECT identity_json FROM devices WHERE id = ?').get(id) as {
      identity_json: string | null;
    };
    return {
      row: this.toDeviceRow(r),
      identity: ident.identity_json === null ? null : (JSON.parse(ident.identity_json) as DeviceIdentity),
    };
  }

  /** What the health rules need per device (the latest sample's counters are not in DeviceRow). */
  healthStates(): DeviceHealthState[] {
    this.assertOpen();
    this.syncLatest();
    const rows = this.db
      .prepare(
        'SELECT id, status, status_reasons_json, last_contact_ts, tempC, throttled, latencyP95Ms, inferences, errors, limits_json FROM devices',
      )
      .all() as {
      id: string;
      status: DeviceStatus;
      status_reasons_json: string;
      last_contact_ts: number | null;
      tempC: number | null;
      throttled: number | null;
      latencyP95Ms: number | null;
      inferences: number | null;
      errors: number | null;
      limits_json: string;
    }[];
    return rows.map((r) => {
      const input: Omit<HealthInput, 'nowTs'> = {
        lastContactTs: r.last_contact_ts,
        tempC: r.tempC,
        throttled: r.throttled === null ? null : r.throttled === 1,
        latencyP95Ms: r.latencyP95Ms,
        inferences: r.inferences ?? 0,
        errors: r.errors ?? 0,
        limits: this.cachedJson(r.limits_json) as DeviceLimits,
      };
      return {
        deviceId: r.id,
        status: r.status,
        reasons: this.cachedJson(r.status_reasons_json) as string[],
        input,
      };
    });
  }

  private cachedJson(s: string): unknown {
    let v = this.jsonCache.get(s);
    if (v === undefined) {
      v = JSON.parse(s) as unknown;
      if (this.jsonCache.size > 5000) this.jsonCache.clear();
      this.jsonCache.set(s, v);
    }
    return v;
  }

  private toDeviceRow(r: DeviceDbRow): DeviceRow {
    const inf = r.inferences;
    return {
      id: r.id,
      name: r.name,
      hardwareModel: r.hardware_model,
      accelerator: r.accelerator,
      arch: r.arch,
      os: r.os,
      url: r.url,
      status: r.status,
      // Shared (cached) arrays and limits objects: callers must not mutate them.
      statusReasons: this.cachedJson(r.status_reasons_json) as string[],
      lastContactTs: r.last_contact_ts,
      lastSampleTs: r.last_sample_ts,
      tempC: r.tempC,
      cpuPct: r.cpuPct,
      memPct: r.memPct,
      powerW: r.powerW,
      latencyP50Ms: r.latencyP50Ms,
      latencyP95Ms: r.latencyP95Ms,
      latencyP99Ms: r.latencyP99Ms,
      throughputIps: r.throughputIps,
      throttled: r.throttled === null ? null : r.throttled === 1,
      errorRate: inf === null || inf === 0 ? null : (r.errors ?? 0) / inf,
      modelVersion: r.model_version,
      limits: this.cachedJson(r.limits_json) as DeviceLimits,
    };
  }

  /** auto: raw up to 6 h, 1-minute rollups up to 3 days, hourly beyond. */
  static resolutionFor(q: Pick<SeriesQuery, 'fromTs' | 'toTs' | 'resolution'>): 'raw' | '1m' | '1h' {
    if (q.resolution !== 'auto') return q.resolution;
    const span = q.toTs - q.fromTs;
    return span <= RAW_MAX_SPAN_MS ? 'raw' : span <= MINUTE_MAX_SPAN_MS ? '1m' : '1h';
  }

  series(q: SeriesQuery): Series {
    this.assertOpen();
    if (!(q.toTs >= q.fromTs))
      throw new AppError('BAD_INPUT', `series: toTs ${q.toTs} is before fromTs ${q.fromTs}`);
    const st = this.byId.get(q.deviceId);
    if (st === undefined) throw new AppError('NOT_FOUND', `no device ${q.deviceId} in the fleet log`);
    const resolution = SqliteFleetLog.resolutionFor(q);
    const names = resolution === 'raw' ? [...METRICS] : ROLLUP_METRIC_COLUMNS;
    let rows: (number | null)[][];
    if (resolution === 'raw') {
      // One range seek per 10-minute slice of the window (samples are keyed (bucket, dev, ts)).
      rows = this.prep(
        `WITH RECURSIVE g(b) AS (SELECT @b0 UNION ALL SELECT b + 1 FROM g WHERE b < @b1)
         SELECT s.ts, ${METRICS.map((m) => `s.${m}`).join(', ')} FROM g CROSS JOIN samples AS s
         ON s.bucket = g.b AND s.dev = @dev AND s.ts >= @from AND s.ts <= @to`,
      )
        .raw()
        .all({
          b0: Math.floor(q.fromTs / RAW_BUCKET_MS),
          b1: Math.floor(q.toTs / RAW_BUCKET_MS),
          dev: st.dev,
          from: q.fromTs,
          to: q.toTs,
        }) as (number | null)[][];
    } else {
      const step = resolution === '1m' ? MINUTE_MS : HOUR_MS;
      const chunkMs = resolution === '1m' ? M1_CHUNK_MS : H1_CHUNK_MS;
      const first = floorTo(q.fromTs, step);
      if ((q.toTs - first) / step > MAX_BUCKETS) {
        throw new AppError(
          'BAD_INPUT',
          `series: ${resolution} over ${Math.round((q.toTs - first) / DAY_MS)} days is too many points`,
          {
            hint: 'use resolution "auto" or "1h" for long ranges',
          },
        );
      }
      // Rollups are keyed (chunk, dev, bucket_ts): one range seek per chunk (a day of 1-minute rows,
      // 30 days of hourly rows).
      rows = this.prep(
        `WITH RECURSIVE g(c) AS (SELECT @c0 UNION ALL SELECT c + 1 FROM g WHERE c < @c1)
         SELECT r.bucket_ts, ${ROLLUP_METRIC_COLUMNS.map((c) => `r.${c}`).join(', ')}, r.n, r.inferences, r.errors, r.throttled
         FROM g CROSS JOIN rollup_${resolution} AS r
         ON r.chunk = g.c AND r.dev = @dev AND r.bucket_ts >= @first AND r.bucket_ts <= @last`,
      )
        .raw()
        .all({
          c0: Math.floor(first / chunkMs),
          c1: Math.floor(q.toTs / chunkMs),
          dev: st.dev,
          first,
          last: q.toTs,
        }) as (number | null)[][];
      // Buckets held in memory (open ones, and the open hour's closed minutes) replace or extend the
      // stored rows, which may lag or be missing.
      const mem = this.memRollups(st, resolution).filter(
        (r) => (r[1] as number) >= first && (r[1] as number) <= q.toTs,
      );
      rows = mergeRows(rows, mem.map(seriesRow));
    }
    const allNames =
      resolution === 'raw' ? names : [...names, 'samples', 'inferences', 'errors', 'throttled'];
    const ts = new Array<number>(rows.length);
    const cols: (number | null)[][] = allNames.map(() => new Array<number | null>(rows.length));
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i] as (number | null)[];
      ts[i] = row[0] as number;
      for (let c = 0; c < cols.length; c++) (cols[c] as (number | null)[])[i] = row[c + 1] ?? null;
    }
    const columns: Record<string, (number | null)[]> = {};
    allNames.forEach((n, c) => (columns[n] = cols[c] as (number | null)[]));
    return { deviceId: q.deviceId, resolution, fromTs: q.fromTs, toTs: q.toTs, ts, columns };
  }

  private readonly hourScratch = new BucketAcc(0);
  /** The open hour with its open minute (h1 holds the minutes closed so far; m1 the open one). */
  private hourView(st: DevState): BucketAcc | null {
    const h1 = st.h1;
    if (h1 === null) return null;
    const acc = this.hourScratch;
    acc.reset(h1.start);
    acc.merge(h1);
    const m1 = st.m1;
    if (m1 !== null && m1.start >= h1.start && m1.start < h1.start + HOUR_MS) acc.merge(m1);
    return acc;
  }

  /** The device's rollup rows held in memory (insert order), sorted by bucket_ts. */
  private memRollups(st: DevState, resolution: '1m' | '1h'): Param[][] {
    if (!st.loaded) return [];
    if (resolution === '1h') {
      const h = this.hourView(st);
      return h !== null && h.n > 0 ? [rollupRow(h, st.dev, H1_CHUNK_MS)] : [];
    }
    const out = st.pend.rows();
    if (st.m1 !== null && st.m1.n > 0) out.push(rollupRow(st.m1, st.dev, M1_CHUNK_MS));
    return out;
  }

  /** One metric's 1-minute averages for the last `minutes` minutes (ending with the current minute). */
  sparklines(q: SparklineQuery, nowTs: number): SparklineResult {
    this.assertOpen();
    const stepMs = MINUTE_MS;
    const last = floorTo(nowTs, stepMs);
    const fromTs = last - (q.minutes - 1) * stepMs;
    const series: Record<string, (number | null)[]> = {};
    const slot = new Map<number, (number | null)[]>();
    const states: DevState[] = [];
    for (const id of q.deviceIds) {
      const arr = new Array<number | null>(q.minutes).fill(null);
      series[id] = arr;
      const st = this.byId.get(id);
      if (st !== undefined) {
        slot.set(st.dev, arr);
        states.push(st);
      }
    }
    const metricIndex = (METRICS as readonly string[]).indexOf(q.metric);
    if (metricIndex < 0) throw new AppError('BAD_INPUT', `unknown metric ${q.metric}`);
    const col = `${q.metric}_avg`;
    if (slot.size === 0) return { fromTs, stepMs, series };
    // One statement: per requested device, one range seek per day chunk of the window.
    const rows = this.prep(
      `WITH RECURSIVE g(c) AS (SELECT @c0 UNION ALL SELECT c + 1 FROM g WHERE c < @c1),
         d(dev) AS (SELECT value FROM json_each(@devs))
       SELECT r.bucket_ts, r.dev, r.${col} FROM d CROSS JOIN g CROSS JOIN rollup_1m AS r
       ON r.chunk = g.c AND r.dev = d.dev AND r.bucket_ts >= @first AND r.bucket_ts <= @last`,
    )
      .raw()
      .all({
        c0: Math.floor(fromTs / M1_CHUNK_MS),
        c1: Math.floor(last / M1_CHUNK_MS),
        devs: JSON.stringify([...slot.keys()]),
        first: fromTs,
        last,
      }) as [number, number, number | null][];
    for (const [b, dev, v] of rows) {
      const arr = slot.get(dev);
      if (arr !== undefined) arr[(b - fromTs) / stepMs] = v;
    }
    // Minutes held in memory: the open hour's closed minutes and the open minute.
    const avgAt = 7 + metricIndex * 4 + 1;
    for (const st of states) {
      if (!st.loaded) continue;
      const arr = slot.get(st.dev);
      if (arr === undefined) continue;
      for (const r of st.pend.rows()) {
        const b = r[1] as number;
        if (b >= fromTs && b <= last) arr[(b - fromTs) / stepMs] = r[avgAt] as number | null;
      }
      const m1 = st.m1;
      if (m1 !== null && m1.n > 0 && m1.start >= fromTs && m1.start <= last)
        arr[(m1.start - fromTs) / stepMs] = m1.avg(metricIndex);
    }
    return { fromTs, stepMs, series };
  }

  events(q: { deviceId?: string; limit: number; beforeId?: number }): FleetEvent[] {
    this.assertOpen();
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.deviceId !== undefined) {
      where.push('device_id = ?');
      params.push(q.deviceId);
    }
    if (q.beforeId !== undefined) {
      where.push('id < ?');
      params.push(q.beforeId);
    }
    const limit = Math.max(1, Math.min(1000, Math.floor(q.limit)));
    const rows = this.db
      .prepare(
        `SELECT id, device_id, ts, kind, severity, message FROM events${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ${limit}`,
      )
      .all(...params) as EventDbRow[];
    return rows.map((r) => ({
      id: r.id,
      deviceId: r.device_id,
      ts: r.ts,
      kind: r.kind,
      severity: r.severity,
      message: r.message,
    }));
  }

  // ---------------------------------------------------------------- builds

  /**
   * Stores one build (validated with the BuildRecord schema: BAD_INPUT). CONFLICT for an id already recorded
   * and for a second succeeded build of the same name + version + target + precision: semantic versions are
   * immutable (failed and cancelled builds do not count; the partial unique index builds_release backs this).
   */
  recordBuild(b: BuildRecord): void {
    this.assertOpen();
    const parsed = BuildRecord.safeParse(b);
    if (!parsed.success) {
      throw new AppError('BAD_INPUT', `build record: ${formatZodError(parsed.error)}`);
    }
    const r = parsed.data;
    const release = `${r.name} ${r.version} for ${r.target} (${r.precision})`;
    const releaseConflict = (): AppError => {
      const prev = this.prep(
        "SELECT id, created_at FROM builds WHERE name = ? AND version = ? AND target = ? AND precision = ? AND status = 'succeeded'",
      ).get(r.name, r.version, r.target, r.precision) as { id: string; created_at: number } | undefined;
      return new AppError(
        'CONFLICT',
        `${release} has already been built${prev === undefined ? '' : ` on ${new Date(prev.created_at).toISOString()} (build ${prev.id})`}: a version is never rebuilt`,
        { hint: 'semantic versions are immutable: bump the version (e.g. a patch release) and build again' },
      );
    };
    try {
      this.db.transaction(() => {
        if (this.prep('SELECT 1 FROM builds WHERE id = ?').get(r.id) !== undefined) {
          throw new AppError('CONFLICT', `build ${r.id} is already recorded`, {
            hint: 'each build attempt gets a new id',
          });
        }
        if (
          r.status === 'succeeded' &&
          this.prep(
            "SELECT 1 FROM builds WHERE name = ? AND version = ? AND target = ? AND precision = ? AND status = 'succeeded'",
          ).get(r.name, r.version, r.target, r.precision) !== undefined
        ) {
          throw releaseConflict();
        }
        this.prep(
          `INSERT INTO builds (id, name, version, target, precision, mode, status, created_at, duration_ms, source_sha256,
             source_name, artifact_dir, manifest_sha256, key_id, summary_json, error_text)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          r.id,
          r.name,
          r.version,
          r.target,
          r.precision,
          r.mode,
          r.status,
          r.createdAt,
          r.durationMs,
          r.sourceSha256,
          r.sourceName,
          r.artifactDir,
          r.manifestSha256,
          r.keyId,
          JSON.stringify(r.summary),
          r.error,
        );
      })();
    } catch (err) {
      // Another writer of the file (a CLI) may have won the race past the check above.
      if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new AppError('CONFLICT', `build ${r.id} is already recorded`);
      }
      if ((err as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw releaseConflict();
      throw err;
    }
  }

  /** Newest first (by createdAt, then insertion order); limit default 100, at most 1000. */
  listBuilds(q: BuildListQuery = {}): BuildRecord[] {
    this.assertOpen();
    const parsed = BuildListQuery.safeParse(q);
    if (!parsed.success) throw new AppError('BAD_INPUT', `build list query: ${formatZodError(parsed.error)}`);
    const { limit = 100, name } = parsed.data;
    const rows = (
      name === undefined
        ? this.prep(`SELECT ${BUILD_COLUMNS} FROM builds ORDER BY created_at DESC, rowid DESC LIMIT ?`).all(
            limit,
          )
        : this.prep(
            `SELECT ${BUILD_COLUMNS} FROM builds WHERE name = ? ORDER BY created_at DESC, rowid DESC LIMIT ?`,
          ).all(name, limit)
    ) as BuildDbRow[];
    return rows.map(toBuildRecord);
  }

  getBuild(id: string): BuildRecord | null {
    this.assertOpen();
    if (typeof id !== 'string') throw new AppError('BAD_INPUT', 'build id must be a string');
    const row = this.prep(`SELECT ${BUILD_COLUMNS} FROM builds WHERE id = ?`).get(id) as
      BuildDbRow | undefined;
    return row === undefined ? null : toBuildRecord(row);
  }

  // ---------------------------------------------------------------- maintenance

  /**
   * Deletes raw samples older than rawDays, 1-minute rollups older than minuteDays, hourly rollups older
   * than hourDays and events older than eventDays. Raw samples go in 1-hour slices, one transaction each,
   * so ingest (same worker) is never blocked for long.
   */
  applyRetention(nowTs: number, policy: RetentionPolicy = this.retention): { deleted: number } {
    this.assertOpen();
    this.flush();
    let deleted = 0;
    const rawCutoff = nowTs - policy.rawDays * DAY_MS;
    const cutBucket = Math.floor(rawCutoff / RAW_BUCKET_MS);
    const oldest = this.db.prepare('SELECT bucket FROM samples ORDER BY bucket LIMIT 1').pluck();
    const delRaw = this.db.prepare('DELETE FROM samples WHERE bucket < ?');
    for (;;) {
      const first = oldest.get() as number | undefined;
      if (first === undefined || first >= cutBucket) break;
      const upTo = Math.min(cutBucket, first + HOUR_MS / RAW_BUCKET_MS);
      deleted += this.db.transaction(() => delRaw.run(upTo).changes)();
    }
    const eventDays = policy.eventDays ?? policy.hourDays;
    this.db.transaction(() => {
      deleted += this.db
        .prepare('DELETE FROM samples WHERE bucket = ? AND ts < ?')
        .run(cutBucket, rawCutoff).changes;
      const delRollups = (table: string, chunkMs: number, cutoff: number): number => {
        const chunk = Math.floor(cutoff / chunkMs);
        return (
          this.db.prepare(`DELETE FROM ${table} WHERE chunk < ?`).run(chunk).changes +
          this.db.prepare(`DELETE FROM ${table} WHERE chunk = ? AND bucket_ts < ?`).run(chunk, cutoff).changes
        );
      };
      deleted += delRollups('rollup_1m', M1_CHUNK_MS, nowTs - policy.minuteDays * DAY_MS);
      deleted += delRollups('rollup_1h', H1_CHUNK_MS, nowTs - policy.hourDays * DAY_MS);
      deleted += this.db.prepare('DELETE FROM events WHERE ts < ?').run(nowTs - eventDays * DAY_MS).changes;
    })();
    return { deleted };
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.pragma('optimize');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new AppError('INTERNAL', 'fleet log is closed');
  }
}
