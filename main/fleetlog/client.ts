import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { AppError, toWireError } from '../../shared/errors.js';
import type { Durability } from './db.js';
import type { FleetMethod, RpcRequest, RpcResponse, WorkerInit, WorkerReady } from './rpc.js';
import { SqliteFleetLog } from './sqlite-fleetlog.js';
import type { FleetStore, RetentionPolicy } from './types.js';

export interface OpenFleetLogOptions {
  dbPath: string;
  /** Run SQLite on the calling thread (tests, CLI one-shots). Default: a worker thread. */
  inProcess?: boolean;
  /** The bundled worker; default dist/fleetlog.worker.cjs (see defaultWorkerPath). */
  workerPath?: string;
  retention?: RetentionPolicy;
  durability?: Durability;
  /** Worker only: how often retention runs (default hourly; 0 = never). */
  retentionIntervalMs?: number;
  /**
   * Worker only: how often open rollup buckets and devices' latest state are written to the file
   * (default 5 s; 0 = only on close). Reads through the store take them from memory either way and a crash
   * rebuilds them from raw samples; the interval bounds how far behind another reader of the file (e.g.
   * `edgectl fleet list` while the console runs) can be. It costs a few thousand row writes per flush.
   */
  flushIntervalMs?: number;
}

/**
 * dist/fleetlog.worker.cjs, built by `node scripts/build.mjs --no-renderer`. Inside an esbuild bundle
 * (dist/*.cjs) this module's URL is the bundle's, so the worker sits next to it; on source (vitest, tsx)
 * it is <repo>/dist/.
 */
export function defaultWorkerPath(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.cjs')) return join(dirname(here), 'fleetlog.worker.cjs');
  return join(dirname(here), '..', '..', 'dist', 'fleetlog.worker.cjs');
}

export async function openFleetLog(opts: OpenFleetLogOptions): Promise<FleetStore> {
  if (opts.inProcess) return inProcessStore(opts);
  const workerPath = opts.workerPath ?? defaultWorkerPath();
  if (!existsSync(workerPath)) {
    throw new AppError('ENVIRONMENT', `fleet log worker ${workerPath} is missing`, {
      hint: 'build it with: node scripts/build.mjs --no-renderer',
    });
  }
  const init: WorkerInit = {
    dbPath: opts.dbPath,
    ...(opts.retention === undefined ? {} : { retention: opts.retention }),
    ...(opts.durability === undefined ? {} : { durability: opts.durability }),
    ...(opts.retentionIntervalMs === undefined ? {} : { retentionIntervalMs: opts.retentionIntervalMs }),
    ...(opts.flushIntervalMs === undefined ? {} : { flushIntervalMs: opts.flushIntervalMs }),
  };
  const worker = new Worker(workerPath, { workerData: init });
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number): void =>
      reject(
        new AppError('ENVIRONMENT', `fleet log worker exited (code ${code}) before it opened ${opts.dbPath}`),
      );
    const onError = (err: Error): void => {
      worker.off('exit', onExit);
      reject(new AppError('ENVIRONMENT', `fleet log worker failed to start: ${err.message}`, { cause: err }));
    };
    worker.once('error', onError);
    worker.once('exit', onExit);
    worker.once('message', (m: WorkerReady) => {
      worker.off('error', onError);
      worker.off('exit', onExit);
      if (m.ready) resolve();
      else reject(AppError.fromWire(m.error));
    });
  });
  return new WorkerFleetStore(worker);
}

type Pending = { resolve: (v: unknown) => void; reject: (e: AppError) => void };

class WorkerFleetStore implements FleetStore {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private dead: AppError | null = null;
  private exited: Promise<void>;

  constructor(private readonly worker: Worker) {
    worker.on('message', (m: RpcResponse) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(AppError.fromWire(m.error));
    });
    worker.on('error', (err) =>
      this.fail(new AppError('INTERNAL', `fleet log worker crashed: ${err.message}`, { cause: err })),
    );
    this.exited = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.fail(new AppError('INTERNAL', `fleet log worker exited (code ${code})`));
        resolve();
      });
    });
  }

  private fail(err: AppError): void {
    this.dead ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  private call<T>(method: FleetMethod, ...args: unknown[]): Promise<T> {
    if (this.dead !== null) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const req: RpcRequest = { id, method, args };
      try {
        this.worker.postMessage(req);
      } catch (err) {
        this.pending.delete(id);
        reject(AppError.fromWire(toWireError(err)));
      }
    });
  }

  upsertDevice: FleetStore['upsertDevice'] = (reg) => this.call('upsertDevice', reg);
  removeDevice: FleetStore['removeDevice'] = (id) => this.call('removeDevice', id);
  listEnrolledAgents: FleetStore['listEnrolledAgents'] = () => this.call('listEnrolledAgents');
  setCursor: FleetStore['setCursor'] = (c) => this.call('setCursor', c);
  ingest: FleetStore['ingest'] = (samples, receivedTs) => this.call('ingest', samples, receivedTs);
  markContact: FleetStore['markContact'] = (deviceId, ts) => this.call('markContact', deviceId, ts);
  setStatus: FleetStore['setStatus'] = (deviceId, status, reasons, ts) =>
    this.call('setStatus', deviceId, status, reasons, ts);
  addEvent: FleetStore['addEvent'] = (e) => this.call('addEvent', e);
  listDevices: FleetStore['listDevices'] = (filter) => this.call('listDevices', filter ?? {});
  getDevice: FleetStore['getDevice'] = (id) => this.call('getDevice', id);
  healthStates: FleetStore['healthStates'] = () => this.call('healthStates');
  series: FleetStore['series'] = (q) => this.call('series', q);
  sparklines: FleetStore['sparklines'] = (q, nowTs) => this.call('sparklines', q, nowTs);
  events: FleetStore['events'] = (q) => this.call('events', q);
  applyRetention: FleetStore['applyRetention'] = (nowTs, policy) =>
    policy === undefined ? this.call('applyRetention', nowTs) : this.call('applyRetention', nowTs, policy);
  recordBuild: FleetStore['recordBuild'] = (b) => this.call('recordBuild', b);
  listBuilds: FleetStore['listBuilds'] = (q) => this.call('listBuilds', q ?? {});
  getBuild: FleetStore['getBuild'] = (id) => this.call('getBuild', id);

  async close(): Promise<void> {
    if (this.dead !== null) return;
    await this.call('close');
    await this.exited;
  }
}

/** The same store on the calling thread; errors still surface as AppError. */
function inProcessStore(opts: OpenFleetLogOptions): FleetStore {
  const s = wrapErrors(
    () =>
      new SqliteFleetLog(opts.dbPath, {
        ...(opts.retention === undefined ? {} : { retention: opts.retention }),
        ...(opts.durability === undefined ? {} : { durability: opts.durability }),
      }),
  );
  const run = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(wrapErrors(fn));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  };
  return {
    upsertDevice: (reg) => run(() => s.upsertDevice(reg)),
    removeDevice: (id) => run(() => s.removeDevice(id)),
    listEnrolledAgents: () => run(() => s.listEnrolledAgents()),
    setCursor: (c) => run(() => s.setCursor(c)),
    ingest: (samples, receivedTs) => run(() => s.ingest(samples, receivedTs)),
    markContact: (deviceId, ts) => run(() => s.markContact(deviceId, ts)),
    setStatus: (deviceId, status, reasons, ts) => run(() => s.setStatus(deviceId, status, reasons, ts)),
    addEvent: (e) => run(() => s.addEvent(e)),
    listDevices: (filter) => run(() => s.listDevices(filter)),
    getDevice: (id) => run(() => s.getDevice(id)),
    healthStates: () => run(() => s.healthStates()),
    series: (q) => run(() => s.series(q)),
    sparklines: (q, nowTs) => run(() => s.sparklines(q, nowTs)),
    events: (q) => run(() => s.events(q)),
    applyRetention: (nowTs, policy) => run(() => s.applyRetention(nowTs, policy)),
    recordBuild: (b) => run(() => s.recordBuild(b)),
    listBuilds: (q) => run(() => s.listBuilds(q)),
    getBuild: (id) => run(() => s.getBuild(id)),
    close: () => run(() => s.close()),
  };
}

function wrapErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw AppError.fromWire(toWireError(err));
  }
}
