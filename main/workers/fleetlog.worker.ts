// The fleet log's thread: owns the SQLite connection, answers RPC from client.ts, applies retention hourly,
// writes open rollup buckets and latest device state every few seconds (so other readers of the file are
// at most that far behind; reads through this worker take them from memory) and checkpoints on close.
import { parentPort, workerData } from 'node:worker_threads';
import { toWireError } from '../../shared/errors.js';
import {
  FLEET_METHODS,
  type RpcRequest,
  type RpcResponse,
  type WorkerInit,
  type WorkerReady,
} from '../fleetlog/rpc.js';
import { SqliteFleetLog } from '../fleetlog/sqlite-fleetlog.js';

const port = parentPort;
if (port === null) throw new Error('fleetlog.worker must run in a worker thread');
const init = workerData as WorkerInit;

let store: SqliteFleetLog;
try {
  store = new SqliteFleetLog(init.dbPath, {
    ...(init.retention === undefined ? {} : { retention: init.retention }),
    ...(init.durability === undefined ? {} : { durability: init.durability }),
  });
  port.postMessage({ ready: true } satisfies WorkerReady);
} catch (err) {
  port.postMessage({ ready: false, error: toWireError(err) } satisfies WorkerReady);
  process.exit(1);
}

const timers: NodeJS.Timeout[] = [];
const flushMs = init.flushIntervalMs ?? 5_000;
if (flushMs > 0) timers.push(setInterval(() => safely(() => store.flush()), flushMs));
const retentionMs = init.retentionIntervalMs ?? 3_600_000;
if (retentionMs > 0)
  timers.push(setInterval(() => safely(() => store.applyRetention(Date.now())), retentionMs));

function safely(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    console.error(`fleetlog worker: ${toWireError(err).message}`);
  }
}

const methods = new Set<string>(FLEET_METHODS);

port.on('message', (req: RpcRequest) => {
  let res: RpcResponse;
  try {
    if (!methods.has(req.method)) throw new Error(`unknown fleet log method ${String(req.method)}`);
    if (req.method === 'close') {
      for (const t of timers) clearInterval(t);
      store.close();
      port.postMessage({ id: req.id, ok: true, value: undefined } satisfies RpcResponse);
      port.close();
      return;
    }
    const fn = store[req.method].bind(store) as (...args: unknown[]) => unknown;
    res = { id: req.id, ok: true, value: fn(...req.args) };
  } catch (err) {
    res = { id: req.id, ok: false, error: toWireError(err) };
  }
  port.postMessage(res);
});
