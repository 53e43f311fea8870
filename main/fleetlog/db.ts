import Database from 'better-sqlite3';
import { AppError } from '../../shared/errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';

/**
 * How hard a commit is pushed to disk.
 *  - 'process' (default): WAL + synchronous=NORMAL. A commit is written to the WAL file (the OS has it)
 *    before ingest() returns, so a killed or crashed console loses nothing it acknowledged and the file
 *    is never corrupt. A power loss or kernel panic may lose the last commits since the last checkpoint
 *    fsync (never corrupts: WAL frames are checksummed). Telemetry is re-pullable from agents via the
 *    collector cursor, so this is the right trade: fsync per batch would cap ingest at the disk's flush rate.
 *  - 'power': WAL + synchronous=FULL, fsync of the WAL on every commit; acknowledged batches also survive
 *    power loss, at the cost of one fsync per transaction.
 */
export type Durability = 'process' | 'power';

export type Db = Database.Database;

export interface OpenDbOptions {
  durability?: Durability;
  /** Page cache in MiB (per connection). */
  cacheMiB?: number;
  /** Apply migrations up to this version only (tests of upgrades). */
  targetVersion?: number;
  readonly?: boolean;
}

export function openDatabase(path: string, opts: OpenDbOptions = {}): Db {
  let db: Db;
  try {
    db = new Database(path, opts.readonly ? { readonly: true, fileMustExist: true } : {});
  } catch (err) {
    throw new AppError('ENVIRONMENT', `cannot open fleet log ${path}: ${(err as Error).message}`, {
      hint: 'check that the data directory exists and is writable',
      cause: err,
    });
  }
  applyPragmas(db, opts);
  if (!opts.readonly) migrate(db, MIGRATIONS, opts.targetVersion);
  return db;
}

export function applyPragmas(db: Db, opts: OpenDbOptions = {}): void {
  if (!opts.readonly) db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.durability === 'power' ? 'FULL' : 'NORMAL'}`);
  db.pragma(`cache_size = -${(opts.cacheMiB ?? 64) * 1024}`);
  db.pragma('temp_store = MEMORY');
  db.pragma('wal_autocheckpoint = 8192');
  db.pragma('foreign_keys = OFF');
  // Another connection (a CLI reading the file) may hold a read lock briefly.
  db.pragma('busy_timeout = 5000');
}

export function currentVersion(db: Db): number {
  const hasTable = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
    .get();
  if (!hasTable) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

/** Applies every migration newer than the file's version, each in its own transaction with its version row. */
export function migrate(db: Db, migrations: readonly Migration[], targetVersion?: number): number {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ts INTEGER NOT NULL)',
  );
  const latest = migrations.length === 0 ? 0 : Math.max(...migrations.map((m) => m.version));
  let version = currentVersion(db);
  if (version > latest) {
    throw new AppError(
      'ENVIRONMENT',
      `fleet log schema version ${version} is newer than this Edge Console understands (${latest})`,
      { hint: 'upgrade Edge Console, or point it at another data directory' },
    );
  }
  const target = targetVersion ?? latest;
  const insertVersion = db.prepare('INSERT INTO schema_version (version, name, applied_ts) VALUES (?, ?, ?)');
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (m.version <= version || m.version > target) continue;
    db.transaction(() => {
      db.exec(m.sql);
      insertVersion.run(m.version, m.name, Date.now());
    })();
    version = m.version;
  }
  return version;
}
