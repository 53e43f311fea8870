import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { defaultWorkerPath, openFleetLog } from './client.js';
import { fleetStream, registration, T0 } from './testkit.js';
import type { FleetStore } from './types.js';
import { buildFleetlogWorker, repoRoot } from '../../test/fixtures/fleetlog-worker.js';

const workerPath = join(repoRoot, 'dist', 'test-fleetlog', 'fleetlog.worker.cjs');
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fleetlog-client-'));
  await buildFleetlogWorker(workerPath);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function exercise(store: FleetStore): Promise<void> {
  await store.upsertDevice(registration(0));
  await store.upsertDevice(registration(1));
  const r = await store.ingest([...fleetStream({ devices: 2, steps: 30 }), { junk: 1 }], T0 + 3_600_000);
  expect(r).toMatchObject({ accepted: 60, duplicates: 0 });
  expect(r.rejected).toHaveLength(1);
  expect((await store.listDevices()).map((d) => d.id)).toEqual(['dev-00000', 'dev-00001']);
  const s = await store.series({
    deviceId: 'dev-00001',
    fromTs: T0,
    toTs: T0 + 8 * 3_600_000,
    resolution: 'auto',
  });
  expect(s.resolution).toBe('1m');
  expect(s.ts).toHaveLength(5);
  expect(await store.setStatus('dev-00001', 'healthy', [], T0)).toBe(true);
  const err = await store
    .series({ deviceId: 'ghost', fromTs: T0, toTs: T0 + 1, resolution: 'auto' })
    .catch((e: unknown) => e);
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe('NOT_FOUND');
  await store.close();
}

describe('openFleetLog', () => {
  it('worker thread: RPC round trips, errors come back as AppError, close checkpoints', async () => {
    await exercise(await openFleetLog({ dbPath: join(dir, 'w.db'), workerPath }));
    // Reopen: data is there.
    const again = await openFleetLog({ dbPath: join(dir, 'w.db'), workerPath });
    expect(await again.listDevices()).toHaveLength(2);
    await again.close();
    await expect(again.listDevices()).rejects.toBeInstanceOf(AppError);
  });

  it('in process', async () => {
    await exercise(await openFleetLog({ dbPath: join(dir, 'p.db'), inProcess: true }));
  });

  it('reports a missing worker bundle or a bad database path as ENVIRONMENT', async () => {
    await expect(
      openFleetLog({ dbPath: join(dir, 'x.db'), workerPath: join(dir, 'nope.cjs') }),
    ).rejects.toMatchObject({ code: 'ENVIRONMENT' });
    await expect(
      openFleetLog({ dbPath: join(dir, 'no', 'such', 'dir.db'), workerPath }),
    ).rejects.toMatchObject({ code: 'ENVIRONMENT' });
    expect(defaultWorkerPath()).toBe(join(repoRoot, 'dist', 'fleetlog.worker.cjs'));
  });
});
