import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../shared/errors.js';
import { defaultWorkerPath, openFleetLog } from './client.js';
import { fleetStream, registration, T0 } from './testkit.js';
import type { FleetStore } from './types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// Same esbuild options as scripts/build.mjs, into a folder of our own (dist/ may be rebuilt concurrently).
const workerPath = join(root, 'dist', 'test-fleetlog', 'fleetlog.worker.cjs');
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fleetlog-client-'));
  await build({
    entryPoints: [join(root, 'main/workers/fleetlog.worker.ts')],
    outfile: workerPath,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['better-sqlite3'],
    logLevel: 'warning',
    define: { 'import.meta.url': 'import_meta_url' },
    banner: { js: "const import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  });
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
    expect(defaultWorkerPath()).toBe(join(root, 'dist', 'fleetlog.worker.cjs'));
  });
});
