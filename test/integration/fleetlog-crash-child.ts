// Child of fleetlog-crash.test.ts: ingests batches through the real ingest path in a loop and prints
// `ACK <batchNo>` after each committed batch, until it is killed.
//   node --import tsx test/integration/fleetlog-crash-child.ts <dbPath> <firstBatch>
import { SqliteFleetLog } from '../../main/fleetlog/sqlite-fleetlog.js';
import { crashBatch, CRASH_DEVICES, CRASH_RECEIVED_TS } from './fleetlog-crash-data.js';
import { registration } from '../../main/fleetlog/testkit.js';

const [dbPath, first] = process.argv.slice(2);
if (dbPath === undefined || first === undefined)
  throw new Error('usage: fleetlog-crash-child <dbPath> <firstBatch>');
const store = new SqliteFleetLog(dbPath, { rollupFlushMs: 25 });
for (let i = 0; i < CRASH_DEVICES; i++) store.upsertDevice(registration(i));
for (let k = Number(first); ; k++) {
  const r = store.ingest(crashBatch(k), CRASH_RECEIVED_TS);
  if (r.rejected.length > 0) throw new Error(`rejected: ${r.rejected[0]?.reason}`);
  process.stdout.write(`ACK ${k}\n`);
}
