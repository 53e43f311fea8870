import { AgentClient } from '../../devices/client/agent-client.js';
import { AppError } from '../../shared/errors.js';
import type { DeviceRow } from '../../shared/fleet.js';
import type { FleetStore } from '../fleetlog/types.js';
import { attachUploads, createBuildService, uploadsDir, UploadStore } from './builds.js';
import { Collector, type CollectorOptions } from './collector.js';
import type { Handlers } from './dispatcher.js';
import { EventBus } from './events.js';
import { JobRegistry } from './jobs.js';
import { APP_NAME, APP_VERSION } from './version.js';

export interface CoreOptions {
  store: FleetStore;
  dataDir: string;
  transport: 'electron' | 'http';
  collector?: Omit<CollectorOptions, 'store' | 'onDevicesChanged'> | false;
  clock?: () => number;
  log?: (msg: string) => void;
  /** Model builds: the worker bundle (default dist/build.worker.cjs) and the upload size limit. */
  builds?: { workerPath?: string; maxUploadBytes?: number; maxConcurrent?: number };
}

export interface Core {
  handlers: Handlers;
  bus: EventBus;
  jobs: JobRegistry;
  collector: Collector | null;
  store: FleetStore;
  /** Uploaded files (models, calibration data): the transports stream raw bytes into it. */
  uploads: UploadStore;
  close(): Promise<void>;
}

/**
 * Composition root, free of Electron and HTTP: the handler table every transport dispatches into,
 * the event bus, the job registry and the collector.
 */
export async function createCore(opts: CoreOptions): Promise<Core> {
  const clock = opts.clock ?? Date.now;
  const bus = new EventBus();
  const jobs = new JobRegistry(bus);
  const { store } = opts;
  const startedTs = clock();

  // Live updates: coalesce changed ids and push their rows at most twice a second.
  let dirty = new Set<string>();
  let pushTimer: NodeJS.Timeout | null = null;
  const pushChanged = async () => {
    pushTimer = null;
    const ids = dirty;
    dirty = new Set();
    if (ids.size === 0) return;
    const rows: DeviceRow[] = (await store.listDevices()).filter((r) => ids.has(r.id));
    bus.emit('fleet.updated', { devices: rows, asOfTs: clock() });
  };
  const markDirty = (ids: string[]) => {
    for (const id of ids) dirty.add(id);
    pushTimer ??= setTimeout(() => void pushChanged().catch(() => undefined), 500);
  };

  const collector =
    opts.collector === false
      ? null
      : new Collector({
          ...opts.collector,
          store,
          clock,
          onDevicesChanged: markDirty,
          log: opts.log ?? (() => undefined),
        });

  const builds = createBuildService({
    dataDir: opts.dataDir,
    store,
    jobs,
    bus,
    clock,
    ...(opts.log ? { log: opts.log } : {}),
    ...(opts.builds?.workerPath ? { workerPath: opts.builds.workerPath } : {}),
    ...(opts.builds?.maxConcurrent ? { maxConcurrent: opts.builds.maxConcurrent } : {}),
    ...(opts.builds?.maxUploadBytes
      ? {
          uploads: new UploadStore({
            root: uploadsDir(opts.dataDir),
            maxBytes: opts.builds.maxUploadBytes,
          }),
        }
      : {}),
  });

  const handlers: Handlers = {
    ...builds.handlers,
    'app.info': async () => ({
      name: APP_NAME,
      version: APP_VERSION,
      transport: opts.transport,
      dataDir: opts.dataDir,
      deviceCount: (await store.listDevices()).length,
      startedTs,
    }),
    'fleet.list': async (input) => {
      const filter: { search?: string; status?: DeviceRow['status'][] } = {};
      if (input.search) filter.search = input.search;
      if (input.status) filter.status = input.status;
      const devices = await store.listDevices(filter);
      const counts: Record<string, number> = { healthy: 0, degraded: 0, unreachable: 0, unknown: 0 };
      for (const d of devices) counts[d.status] = (counts[d.status] ?? 0) + 1;
      return { devices, counts, asOfTs: clock() };
    },
    'fleet.get': async ({ deviceId }) => {
      const found = await store.getDevice(deviceId);
      if (!found) {
        throw new AppError('NOT_FOUND', `No device with id "${deviceId}" in the fleet log.`, {
          hint: 'Check the id in the Fleet page or `edgectl fleet list`.',
        });
      }
      const events = await store.events({ deviceId, limit: 100 });
      return { device: found.row, identity: found.identity, events };
    },
    'fleet.series': async (q) => {
      if (q.toTs <= q.fromTs) throw new AppError('BAD_INPUT', 'toTs must be after fromTs.');
      if (!(await store.getDevice(q.deviceId))) throw new AppError('NOT_FOUND', `No device "${q.deviceId}".`);
      return store.series(q);
    },
    'fleet.sparklines': async (q) => ({ metric: q.metric, ...(await store.sparklines(q, clock())) }),
    'fleet.events': async (q) => {
      const query: { deviceId?: string; limit: number; beforeId?: number } = { limit: q.limit };
      if (q.deviceId !== undefined) query.deviceId = q.deviceId;
      if (q.beforeId !== undefined) query.beforeId = q.beforeId;
      return { events: await store.events(query) };
    },
    'fleet.enroll': async ({ url, token, name }) => {
      const client = new AgentClient({ url, token, timeoutMs: 5_000 });
      // Enrolment proves both ends: the agent answers, and it accepts this token.
      const identity = await client.identity();
      const row = await store.upsertDevice({
        id: identity.deviceId,
        identity,
        url,
        token,
        limits: identity.limits,
        ...(name ? { name } : {}),
      });
      await store.addEvent({
        deviceId: identity.deviceId,
        ts: clock(),
        kind: 'device.enrolled',
        severity: 'info',
        message: `Enrolled ${identity.hardwareModel} at ${url}.`,
      });
      collector?.add({ id: identity.deviceId, url, token, bootId: null, lastSeq: 0 });
      markDirty([identity.deviceId]);
      return { device: row };
    },
    'fleet.remove': async ({ deviceId }) => {
      collector?.remove(deviceId);
      return { removed: await store.removeDevice(deviceId) };
    },
    'jobs.cancel': async ({ jobId }) => ({ cancelled: jobs.cancel(jobId) }),
  };

  attachUploads(handlers, builds.uploads);

  if (collector) await collector.start();
  // Warm the fleet log's overview (page cache, parsed identities) before any window asks for it.
  await store.listDevices();

  return {
    handlers,
    bus,
    jobs,
    collector,
    store,
    uploads: builds.uploads,
    async close() {
      jobs.cancelAll();
      // Cancelled builds stop at their next check and are recorded as cancelled before the log closes.
      await builds.settle();
      if (pushTimer) clearTimeout(pushTimer);
      await collector?.stop();
      await store.close();
    },
  };
}
