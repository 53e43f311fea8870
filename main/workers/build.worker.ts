/**
 * Runs one model build (or one model inspection) off the thread that serves the UI: calibration, quantization and onnxruntime sessions are
 * CPU-heavy for seconds to minutes. Messages: in { type: 'start', req } and { type: 'cancel' }; out
 * { type: 'progress', p }, { type: 'done', result } or { type: 'error', error: WireError }.
 */
import { parentPort } from 'node:worker_threads';
import { toWireError } from '../../shared/errors.js';
import { buildModel, type BuildRequest } from '../../models/build/build.js';
import { inspectModelFile } from '../builds/inspect.js';

type In =
  | { type: 'start'; req: Omit<BuildRequest, 'signal' | 'onProgress'> }
  | { type: 'inspect'; file: string; nodeLimit?: number }
  | { type: 'cancel' };

const port = parentPort;
if (!port) throw new Error('build.worker must run in a worker thread');
const ac = new AbortController();
port.on('message', (msg: In) => {
  if (msg.type === 'cancel') {
    ac.abort();
    return;
  }
  if (msg.type === 'inspect') {
    inspectModelFile(msg.file, msg.nodeLimit)
      .then((result) => port.postMessage({ type: 'done', result }))
      .catch((err: unknown) => port.postMessage({ type: 'error', error: toWireError(err) }));
    return;
  }
  buildModel({ ...msg.req, signal: ac.signal, onProgress: (p) => port.postMessage({ type: 'progress', p }) })
    .then((result) => port.postMessage({ type: 'done', result }))
    .catch((err: unknown) => port.postMessage({ type: 'error', error: toWireError(err) }));
});
