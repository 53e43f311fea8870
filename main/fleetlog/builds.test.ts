import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BuildRecord } from '../../shared/artifact.js';
import { AppError } from '../../shared/errors.js';
import { openFleetLog } from './client.js';
import { currentVersion, openDatabase } from './db.js';
import { MIGRATIONS } from './migrations.js';
import { SqliteFleetLog } from './sqlite-fleetlog.js';
import { buildRecord, registration, testUuid } from './testkit.js';
import type { FleetStore } from './types.js';
import { thrownBy } from '../../test/fixtures/errors.js';
import { buildFleetlogWorker, repoRoot } from '../../test/fixtures/fleetlog-worker.js';

// Our own bundle folder: client.test.ts builds dist/test-fleetlog/ and may run at the same time.
const workerPath = join(repoRoot, 'dist', 'test-fleetlog-builds', 'fleetlog.worker.cjs');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetlog-builds-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    return (err as AppError).code;
  }
  return undefined;
}

describe('fleet log builds', () => {
  it('records, lists newest first (optionally by name, limited) and gets builds', () => {
    const s = new SqliteFleetLog(join(dir, 'f.db'));
    const a = buildRecord(1);
    const b = buildRecord(2, { name: 'resnet50', precision: 'fp16', mode: 'latency' });
    const c = buildRecord(3, {
      status: 'failed',
      artifactDir: null,
      manifestSha256: null,
      keyId: null,
      durationMs: null,
      summary: {},
      error: 'calibration: no images in /data/calib',
    });
    // Same createdAt as c: insertion order breaks the tie (newest recorded first).
    const d = buildRecord(4, {
      createdAt: c.createdAt,
      status: 'cancelled',
      artifactDir: null,
      manifestSha256: null,
      keyId: null,
      error: 'cancelled by user',
    });
    for (const r of [a, b, c, d]) s.recordBuild(r);

    expect(s.listBuilds().map((r) => r.id)).toEqual([d.id, c.id, b.id, a.id]);
    expect(s.listBuilds({ limit: 2 }).map((r) => r.id)).toEqual([d.id, c.id]);
    expect(s.listBuilds({ name: 'resnet50' })).toEqual([b]);
    expect(s.listBuilds({ name: 'nothing-here' })).toEqual([]);
    expect(s.getBuild(a.id)).toEqual(a);
    expect(s.getBuild(c.id)).toEqual(c);
    expect(s.getBuild(testUuid(999))).toBeNull();
    expect(codeOf(() => s.listBuilds({ limit: 0 }))).toBe('BAD_INPUT');
    s.close();
  });

  it('a second succeeded build of the same name + version + target + precision is a CONFLICT', () => {
    const s = new SqliteFleetLog(join(dir, 'f.db'));
    const first = buildRecord(1, { version: '2.0.0' });
    s.recordBuild(first);
    const again = buildRecord(2, { version: '2.0.0' });
    const err = thrownBy(() => s.recordBuild(again));
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toContain('yolo-v8n 2.0.0 for jetson-orin-nano (int8)');
    expect(err.message).toContain(first.id);
    expect(err.hint).toMatch(/bump the version/);
    expect(s.getBuild(again.id)).toBeNull();

    // Failed and cancelled attempts of that version do not count, and do not block each other.
    const failed = { artifactDir: null, manifestSha256: null, keyId: null, error: 'onnxruntime: bad graph' };
    s.recordBuild(buildRecord(3, { version: '2.0.0', status: 'failed', ...failed }));
    s.recordBuild(buildRecord(4, { version: '2.0.0', status: 'cancelled', ...failed }));
    // Another target, precision or version is another release.
    s.recordBuild(buildRecord(5, { version: '2.0.0', target: 'rpi5' }));
    s.recordBuild(buildRecord(6, { version: '2.0.0', precision: 'fp16' }));
    s.recordBuild(buildRecord(7, { version: '2.0.1' }));
    // A version that only failed so far can still succeed.
    s.recordBuild(buildRecord(8, { version: '3.0.0', status: 'failed', ...failed }));
    s.recordBuild(buildRecord(9, { version: '3.0.0' }));
    expect(s.listBuilds()).toHaveLength(8);

    // The same id twice is a conflict too.
    expect(codeOf(() => s.recordBuild(buildRecord(3, { version: '9.9.9' })))).toBe('CONFLICT');
    // The partial unique index backs the check (another writer of the file cannot slip a duplicate in).
    expect(() =>
      s.db
        .prepare(
          "INSERT INTO builds (id, name, version, target, precision, status, created_at) VALUES ('x', 'yolo-v8n', '2.0.0', 'jetson-orin-nano', 'int8', 'succeeded', 0)",
        )
        .run(),
    ).toThrow(/UNIQUE/);
    s.close();
  });

  it('rejects records that do not match the schema with BAD_INPUT', () => {
    const s = new SqliteFleetLog(join(dir, 'f.db'));
    const bad: [string, Partial<BuildRecord> | Record<string, unknown>][] = [
      ['not a semantic version', { version: '1.0' }],
      ['unknown precision', { precision: 'int4' }],
      ['not a uuid', { id: 'build-1' }],
      ['succeeded without an artifact', { artifactDir: null }],
      ['succeeded with an error', { error: 'oops' }],
      ['failed without saying why', { status: 'failed', error: null }],
      ['bad sha256', { sourceSha256: 'ABC' }],
      ['summary not JSON', { summary: { n: Number.NaN } }],
      ['name with a space', { name: 'my model' }],
    ];
    for (const [why, over] of bad) {
      const err = thrownBy(() => s.recordBuild({ ...buildRecord(1), ...over }));
      expect(err.code, why).toBe('BAD_INPUT');
      expect(err.message, why).toMatch(/^build record: /);
    }
    expect(s.listBuilds()).toEqual([]);
    s.close();
  });

  it('builds survive closing and reopening the file', () => {
    const path = join(dir, 'f.db');
    const s = new SqliteFleetLog(path);
    const records = [1, 2, 3].map((i) => buildRecord(i));
    for (const r of records) s.recordBuild(r);
    s.close();
    const again = new SqliteFleetLog(path);
    expect(again.listBuilds()).toEqual([...records].reverse());
    expect(again.getBuild(records[1]?.id ?? '')).toEqual(records[1]);
    // And the uniqueness rule still holds across the reopen.
    expect(codeOf(() => again.recordBuild(buildRecord(4, { version: '1.0.2' })))).toBe('CONFLICT');
    again.close();
  });

  it('upgrading a v3 database adds the builds table and keeps devices', () => {
    const path = join(dir, 'v3.db');
    const v3 = openDatabase(path, { targetVersion: 3 });
    expect(currentVersion(v3)).toBe(3);
    v3.prepare(
      'INSERT INTO devices (id, name, limits_json, created_ts) VALUES (\'old-3\', \'Old\', \'{"tempLimitC":85,"latencyBudgetMs":100,"errorRateLimit":0.02}\', 0)',
    ).run();
    expect(
      v3.prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'builds'").pluck().get(),
    ).toBe(0);
    v3.close();

    const s = new SqliteFleetLog(path);
    expect(currentVersion(s.db)).toBe(MIGRATIONS.length);
    expect(MIGRATIONS.find((m) => m.version === 4)?.name).toBe('builds');
    expect(s.listDevices().map((d) => d.id)).toEqual(['old-3']);
    expect(s.listBuilds()).toEqual([]);
    s.recordBuild(buildRecord(1));
    expect(s.listBuilds()).toHaveLength(1);
    expect(s.db.pragma('integrity_check', { simple: true })).toBe('ok');
    s.close();
  });
});

describe('fleet log builds through openFleetLog', () => {
  beforeAll(async () => {
    await buildFleetlogWorker(workerPath);
  });
  afterAll(() => rmSync(dirname(workerPath), { recursive: true, force: true }));

  async function exercise(store: FleetStore): Promise<void> {
    await store.upsertDevice(registration(0));
    const a = buildRecord(1);
    await store.recordBuild(a);
    await store.recordBuild(buildRecord(2));
    expect((await store.listBuilds()).map((b) => b.id)).toEqual([testUuid(2), testUuid(1)]);
    expect(await store.listBuilds({ limit: 1 })).toHaveLength(1);
    expect(await store.getBuild(a.id)).toEqual(a);
    expect(await store.getBuild(testUuid(42))).toBeNull();
    const dup = await store.recordBuild(buildRecord(3, { version: a.version })).catch((e: unknown) => e);
    expect(dup).toBeInstanceOf(AppError);
    expect((dup as AppError).code).toBe('CONFLICT');
    expect((dup as AppError).hint).toMatch(/bump the version/);
    const bad = await store.recordBuild({ ...buildRecord(4), version: 'latest' }).catch((e: unknown) => e);
    expect((bad as AppError).code).toBe('BAD_INPUT');
    await store.close();
  }

  it('worker thread: builds round-trip over RPC, errors come back as AppError', async () => {
    await exercise(await openFleetLog({ dbPath: join(dir, 'w.db'), workerPath }));
    // The worker wrote to the file.
    const s = new SqliteFleetLog(join(dir, 'w.db'));
    expect(s.listBuilds()).toHaveLength(2);
    s.close();
  });

  it('in process: the same behaviour', async () => {
    await exercise(await openFleetLog({ dbPath: join(dir, 'p.db'), inProcess: true }));
  });
});
