import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentVersion, openDatabase } from './db.js';
import { GENERATED_PATH, readMigrationFiles } from './migrations/generate.js';
import { MIGRATIONS } from './migrations.js';
import { SqliteFleetLog } from './sqlite-fleetlog.js';
import { T0 } from './testkit.js';

const HOUR = 3_600_000;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fleetlog-mig-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('migrations', () => {
  it('migrations.ts is generated from the current .sql files', () => {
    // Compared by content, so formatting the generated file (prettier) does not matter.
    expect(MIGRATIONS).toEqual(readMigrationFiles());
    expect(readFileSync(GENERATED_PATH, 'utf8')).toMatch(/^\/\/ GENERATED/);
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it('a fresh database gets every migration and a version row for each', () => {
    const db = openDatabase(join(dir, 'f.db'));
    expect(currentVersion(db)).toBe(MIGRATIONS.length);
    const rows = db.prepare('SELECT version, name FROM schema_version ORDER BY version').all();
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    // Reopening applies nothing twice.
    const again = openDatabase(join(dir, 'f.db'));
    expect((again.prepare('SELECT COUNT(*) AS n FROM schema_version').get() as { n: number }).n).toBe(
      MIGRATIONS.length,
    );
    again.close();
  });

  it('upgrading a v1 database keeps its data', () => {
    const path = join(dir, 'v1.db');
    const v1 = openDatabase(path, { targetVersion: 1 });
    expect(currentVersion(v1)).toBe(1);
    v1.prepare(
      'INSERT INTO devices (id, name, limits_json, created_ts, last_sample_ts, tempC) VALUES (\'old-1\', \'Old\', \'{"tempLimitC":85,"latencyBudgetMs":100,"errorRateLimit":0.02}\', 0, ?, 55.5)',
    ).run(T0);
    v1.prepare(
      'INSERT INTO samples (ts, dev, seq, tempC, inferences, errors) VALUES (?, 1, 1, 55.5, 10, 0)',
    ).run(T0);
    v1.prepare(
      "INSERT INTO events (device_id, ts, kind, severity, message) VALUES ('old-1', ?, 'x', 'info', 'kept')",
    ).run(T0);
    v1.close();

    const s = new SqliteFleetLog(path);
    expect(currentVersion(s.db)).toBe(MIGRATIONS.length);
    expect(s.listDevices()).toMatchObject([{ id: 'old-1', name: 'Old', tempC: 55.5, lastSampleTs: T0 }]);
    expect(
      s.series({ deviceId: 'old-1', fromTs: T0, toTs: T0 + 1000, resolution: 'raw' }).columns.tempC,
    ).toEqual([55.5]);
    expect(s.events({ limit: 5 }).map((e) => e.message)).toEqual(['kept']);
    // v2's column exists and works.
    expect(s.db.prepare('SELECT rollup_dirty FROM devices').get()).toEqual({ rollup_dirty: 0 });
    s.close();
  });

  it('upgrading a v2 database to v3 (device-local keys) keeps samples and rollups', () => {
    const path = join(dir, 'v2.db');
    const v2 = openDatabase(path, { targetVersion: 2 });
    v2.prepare(
      'INSERT INTO devices (id, name, limits_json, created_ts, last_sample_ts) VALUES (\'old-2\', \'Old\', \'{"tempLimitC":85,"latencyBudgetMs":100,"errorRateLimit":0.02}\', 0, ?)',
    ).run(T0 + 70_000);
    const ins = v2.prepare(
      'INSERT INTO samples (ts, dev, seq, tempC, inferences, errors) VALUES (?, 1, ?, ?, 10, 0)',
    );
    [0, 10_000, 70_000].forEach((o, i) => ins.run(T0 + o, i, 50 + i));
    for (const [table, b] of [
      ['rollup_1m', T0],
      ['rollup_1m', T0 + 60_000],
      ['rollup_1h', T0],
    ] as const) {
      v2.prepare(
        `INSERT INTO ${table} (bucket_ts, dev, n, inferences, errors, throttled, tempC_avg) VALUES (?, 1, 2, 20, 0, 0, 50.5)`,
      ).run(b);
    }
    v2.close();

    const s = new SqliteFleetLog(path);
    expect(currentVersion(s.db)).toBe(MIGRATIONS.length);
    const raw = s.series({ deviceId: 'old-2', fromTs: T0, toTs: T0 + HOUR, resolution: 'raw' });
    expect(raw.ts).toEqual([T0, T0 + 10_000, T0 + 70_000]);
    expect(raw.columns.tempC).toEqual([50, 51, 52]);
    const m = s.series({ deviceId: 'old-2', fromTs: T0, toTs: T0 + HOUR, resolution: '1m' });
    expect(m.ts).toEqual([T0, T0 + 60_000]);
    expect(m.columns.tempC_avg).toEqual([50.5, 50.5]);
    expect(s.series({ deviceId: 'old-2', fromTs: T0, toTs: T0 + HOUR, resolution: '1h' }).ts).toEqual([T0]);
    // Duplicates of migrated samples are still recognised by the new key.
    expect(s.db.prepare('SELECT COUNT(*) FROM samples WHERE bucket = ? / 60000').pluck().get(T0)).toBe(2);
    expect(s.db.pragma('integrity_check', { simple: true })).toBe('ok');
    s.close();
  });

  it('refuses a database from a newer version', () => {
    const db = openDatabase(join(dir, 'n.db'));
    db.prepare("INSERT INTO schema_version VALUES (999, 'future', 0)").run();
    db.close();
    expect(() => openDatabase(join(dir, 'n.db'))).toThrow(/newer than this Edge Console/);
  });
});
