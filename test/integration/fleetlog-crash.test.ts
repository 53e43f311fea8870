// kill -9 the ingesting process at random moments; after each kill the file must pass integrity_check and
// hold every batch that was acknowledged (ACK is printed only after ingest() returned, i.e. committed).
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HOUR_MS, RAW_BUCKET_MS } from '../../main/fleetlog/rollup.js';
import { SqliteFleetLog } from '../../main/fleetlog/sqlite-fleetlog.js';
import { rng, T0 } from '../../main/fleetlog/testkit.js';
import { batchTsRange, CRASH_DEVICES, STEPS_PER_BATCH } from './fleetlog-crash-data.js';

const KILLS = 20;
const dir = mkdtempSync(join(tmpdir(), 'fleetlog-crash-'));
const dbPath = join(dir, 'fleet.db');
const child = join(import.meta.dirname, 'fleetlog-crash-child.ts');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the child from `first`, kills it -9 `delayMs` after its first ACK; returns the ACKed batch numbers. */
function runAndKill(first: number, delayMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, dbPath, String(first)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const acks: number[] = [];
    let buf = '';
    let stderr = '';
    let armed = false;
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (d: string) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) {
        const m = /^ACK (\d+)$/.exec(l);
        if (m) acks.push(Number(m[1]));
      }
      if (!armed && acks.length > 0) {
        armed = true;
        setTimeout(() => p.kill('SIGKILL'), delayMs);
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code}: ${stderr}`));
      else resolve(acks);
    });
  });
}

describe('fleet log crash safety', () => {
  it(`survives ${KILLS} kill -9 at random moments without losing acknowledged batches`, async () => {
    const r = rng(42);
    const acked: number[] = [];
    let next = 0;
    for (let i = 0; i < KILLS; i++) {
      const acks = await runAndKill(next, Math.floor(r() * 250));
      acked.push(...acks);
      if (acks.length > 0) next = Math.max(...acks) + 1;

      const db = new Database(dbPath);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      // A range seek on the key's time slice (bucket = floor(ts / 1 min)); a bare ts range would scan the
      // whole table once per acknowledged batch (quadratic as the child gets faster).
      const count = db
        .prepare('SELECT COUNT(*) AS n FROM samples WHERE bucket >= ? AND bucket <= ? AND ts >= ? AND ts < ?')
        .pluck();
      for (const k of acked) {
        const [from, to] = batchTsRange(k);
        expect(
          count.get(Math.floor(from / RAW_BUCKET_MS), Math.floor((to - 1) / RAW_BUCKET_MS), from, to),
          `batch ${k} after kill ${i}`,
        ).toBe(CRASH_DEVICES * STEPS_PER_BATCH);
      }
      db.close();
    }
    expect(acked.length).toBeGreaterThan(KILLS);

    // Reopening repairs the open rollup buckets: every hourly rollup counts exactly the raw samples.
    const s = new SqliteFleetLog(dbPath);
    const lastTs = batchTsRange(Math.max(...acked))[1];
    for (const id of ['dev-00000', 'dev-00049']) {
      const series = s.series({ deviceId: id, fromTs: T0, toTs: lastTs + HOUR_MS, resolution: '1h' });
      const raw = s.db
        .prepare('SELECT COUNT(*) FROM samples JOIN devices USING (dev) WHERE devices.id = ?')
        .pluck()
        .get(id);
      expect(series.columns.samples?.reduce((a: number, b) => a + (b ?? 0), 0)).toBe(raw);
      const minute = s.series({ deviceId: id, fromTs: T0, toTs: lastTs + HOUR_MS, resolution: '1m' });
      expect(minute.columns.samples?.reduce((a: number, b) => a + (b ?? 0), 0)).toBe(raw);
    }
    s.close();
  }, 120_000);
});
