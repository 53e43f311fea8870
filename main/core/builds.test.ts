/**
 * Models and builds through the handler table (validated both ways, as the transports do) and the upload endpoint
 * of the loopback server: real PP-OCR models, real builds in the build worker (dist/build.worker.cjs).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallName, CallOutput, EventName, EventPayload } from '../../shared/contract.js';
import type { WireError } from '../../shared/errors.js';
import { writeOcrSampleSet } from '../../models/data/dataset.js';
import { REAL_MODELS } from '../../models/onnx/testing.js';
import { openFleetLog } from '../fleetlog/client.js';
import { startHttpServer, type RunningHttpServer } from '../http/server.js';
import { createCore, type Core } from './app.js';
import { artifactNameFrom, sanitizeUploadName } from './builds.js';
import { dispatch } from './dispatcher.js';

const dir = mkdtempSync(join(tmpdir(), 'edge-builds-'));
const dataDir = join(dir, 'data');
const MAX_UPLOAD = 8 * 1024 * 1024;
let core: Core;
let srv: RunningHttpServer;
const seen: { event: EventName; payload: unknown }[] = [];

beforeAll(async () => {
  const store = await openFleetLog({ dbPath: join(dir, 'fleet.db'), inProcess: true });
  core = await createCore({
    store,
    dataDir,
    transport: 'http',
    collector: false,
    builds: { maxUploadBytes: MAX_UPLOAD },
  });
  core.bus.subscribe((event, payload) => seen.push({ event, payload }));
  srv = await startHttpServer({
    handlers: core.handlers,
    bus: core.bus,
    staticDir: dir,
    dispatch: { validateOutput: true },
  });
});

afterAll(async () => {
  await srv?.close();
  await core?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call<K extends CallName>(name: K, input: unknown): Promise<CallOutput<K>> {
  const r = await dispatch(core.handlers, name, input, { transport: 'cli' }, { validateOutput: true });
  if (!r.ok) throw Object.assign(new Error(`${r.error.code}: ${r.error.message}`), { wire: r.error });
  return r.value as CallOutput<K>;
}

async function callError(name: CallName, input: unknown): Promise<WireError> {
  const r = await dispatch(core.handlers, name, input, { transport: 'cli' }, { validateOutput: true });
  if (r.ok) throw new Error(`${name} succeeded; expected an error`);
  return r.error;
}

interface Answer {
  status: number;
  body: {
    ok: boolean;
    value?: { uploadId: string; name: string; bytes: number; sha256: string };
    error?: WireError;
  };
}

function upload(
  query: Record<string, string>,
  body: Buffer,
  opts: { token?: string | null; chunked?: boolean } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? srv.token}`;
    if (!opts.chunked) headers['content-length'] = String(body.length);
    const req = request(
      {
        host: '127.0.0.1',
        port: srv.port,
        method: 'POST',
        path: `/api/upload?${new URLSearchParams(query).toString()}`,
        headers,
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Answer['body'] }),
        );
      },
    );
    req.on('error', reject);
    if (opts.chunked) {
      // Several writes without Content-Length: the limit must hold while streaming too.
      for (let off = 0; off < body.length; off += 256 * 1024) req.write(body.subarray(off, off + 256 * 1024));
      req.end();
    } else req.end(body);
  });
}

function waitFor<E extends EventName>(
  event: E,
  pred: (p: EventPayload<E>) => boolean,
  timeoutMs = 60_000,
): Promise<EventPayload<E>> {
  return new Promise((resolve, reject) => {
    const found = seen.find((s) => s.event === event && pred(s.payload as EventPayload<E>));
    if (found) {
      resolve(found.payload as EventPayload<E>);
      return;
    }
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = core.bus.subscribe((e, p) => {
      const payload = p as unknown as EventPayload<E>;
      if ((e as string) === event && pred(payload)) {
        clearTimeout(timer);
        off();
        resolve(payload);
      }
    });
  });
}

const clsBytes = readFileSync(REAL_MODELS.cls);
const detBytes = readFileSync(REAL_MODELS.det);
const CLS = 'ch_ppocr_mobile_v2.0_cls_infer.onnx';

describe('uploads', () => {
  it('streams a model to the upload folder and answers its size and sha256', async () => {
    const res = await upload({ name: CLS }, clsBytes);
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(true);
    const v = res.body.value!;
    expect(v.name).toBe(CLS);
    expect(v.bytes).toBe(clsBytes.length);
    expect(v.sha256).toBe(createHash('sha256').update(clsBytes).digest('hex'));
    expect(readFileSync(join(dataDir, 'uploads', v.uploadId, CLS)).equals(clsBytes)).toBe(true);
    // No partial file is left behind.
    expect(readdirSync(join(dataDir, 'uploads', v.uploadId))).toEqual([CLS]);
  });

  it('puts files with the same uploadId in one folder, and refuses to overwrite one', async () => {
    const a = await upload({ name: 'a.png' }, Buffer.from('one'));
    const id = a.body.value!.uploadId;
    const b = await upload({ name: 'b.png', uploadId: id }, Buffer.from('two'));
    expect(b.status).toBe(200);
    expect(b.body.value!.uploadId).toBe(id);
    expect(readdirSync(join(dataDir, 'uploads', id)).sort()).toEqual(['a.png', 'b.png']);
    const again = await upload({ name: 'a.png', uploadId: id }, Buffer.from('three'));
    expect(again.status).toBe(409);
    expect(readFileSync(join(dataDir, 'uploads', id, 'a.png'), 'utf8')).toBe('one');
    const unknown = await upload(
      { name: 'c.png', uploadId: '5b0f2a57-3f1e-4c4e-9d0a-3a0b8f1d2c11' },
      Buffer.from('x'),
    );
    expect(unknown.status).toBe(404);
  });

  it('refuses names and upload ids that would leave the upload folder', async () => {
    for (const name of ['../../evil.onnx', '..', '.', 'a/b.onnx', 'a\\b.onnx', '/etc/passwd', '']) {
      const res = await upload({ name }, Buffer.from('x'));
      expect(res.status, name).toBe(400);
      expect(res.body.error?.code, name).toBe('BAD_INPUT');
    }
    const noName = await upload({}, Buffer.from('x'));
    expect(noName.status).toBe(400);
    for (const uploadId of ['../..', '../uploads', 'not-a-uuid']) {
      const res = await upload({ name: 'x.png', uploadId }, Buffer.from('x'));
      expect(res.status, uploadId).toBe(400);
    }
    expect(existsSync(join(dataDir, 'evil.onnx'))).toBe(false);
    expect(existsSync(join(dir, 'evil.onnx'))).toBe(false);
  });

  it('sanitizes odd but harmless names', async () => {
    expect(sanitizeUploadName('my model?.onnx')).toBe('my model_.onnx');
    expect(sanitizeUploadName('.hidden.onnx')).toBe('_hidden.onnx');
    expect(sanitizeUploadName('con.onnx')).toBe('_con.onnx');
    expect(sanitizeUploadName('bell\u0007.png')).toBe('bell.png');
    expect(sanitizeUploadName('模型.onnx')).toBe('模型.onnx');
    expect(Buffer.byteLength(sanitizeUploadName(`${'x'.repeat(400)}.onnx`))).toBeLessThanOrEqual(200);
    expect(sanitizeUploadName(`${'x'.repeat(400)}.onnx`).endsWith('.onnx')).toBe(true);
    const res = await upload({ name: 'weird:name.onnx' }, Buffer.from('x'));
    expect(res.body.value?.name).toBe('weird_name.onnx');
    expect(artifactNameFrom('my model (v2).onnx')).toBe('my-model-v2');
    expect(artifactNameFrom('模型.onnx')).toBe('model');
  });

  it('answers 413 over the size limit, by Content-Length or while streaming', async () => {
    const big = Buffer.alloc(MAX_UPLOAD + 1);
    const declared = await upload({ name: 'big.onnx' }, big);
    expect(declared.status).toBe(413);
    expect(declared.body.error?.message).toMatch(/upload limit of 8\.0 MiB/);
    const streamed = await upload({ name: 'big.onnx' }, big, { chunked: true });
    expect(streamed.status).toBe(413);
    // Nothing is left of either.
    for (const id of readdirSync(join(dataDir, 'uploads'))) {
      expect(readdirSync(join(dataDir, 'uploads', id))).not.toContain('big.onnx');
      expect(readdirSync(join(dataDir, 'uploads', id)).some((f) => f.startsWith('.part-'))).toBe(false);
    }
  });

  it('needs the per-launch token', async () => {
    expect((await upload({ name: 'x.onnx' }, Buffer.from('x'), { token: null })).status).toBe(401);
    expect((await upload({ name: 'x.onnx' }, Buffer.from('x'), { token: '0'.repeat(64) })).status).toBe(401);
  });
});

describe('models.inspect and targets.list', () => {
  it('summarizes an uploaded real model', async () => {
    const { uploadId } = (await upload({ name: CLS }, clsBytes)).body.value!;
    const info = await call('models.inspect', { uploadId });
    expect(info.fileName).toBe(CLS);
    expect(info.fileBytes).toBe(clsBytes.length);
    expect(info.inputs).toHaveLength(1);
    expect(info.inputs[0]!.elemType).toBe('float32');
    expect(info.inputs[0]!.shape).toHaveLength(4);
    expect(info.inputs[0]!.shape![1]).toBe(3);
    expect(info.opsets.find((o) => o.domain === 'ai.onnx' || o.domain === '')?.version).toBe(9);
    expect(info.operators.find((o) => o.op === 'Conv')?.count).toBeGreaterThan(10);
    expect(info.nodeCount).toBeGreaterThan(100);
    expect(info.parameters.count).toBeGreaterThan(100_000);
    expect(info.graph.total).toBe(info.nodeCount);
    expect(info.graph.nodes.length).toBeLessThanOrEqual(200);
    expect(info.suggested).toEqual({ preset: 'ppocr-cls', calibration: 'ocr-lines' });

    const byPath = await call('models.inspect', { path: REAL_MODELS.det, nodeLimit: 5 });
    expect(byPath.graph.nodes).toHaveLength(5);
    expect(byPath.suggested.calibration).toBe('ocr-pages');
  });

  it('rejects a file that is not an ONNX model with MODEL_MALFORMED', async () => {
    const text = Buffer.from('These are my notes, not a model.\n'.repeat(40));
    for (const name of ['notes.onnx', 'notes.txt']) {
      const { uploadId } = (await upload({ name }, text)).body.value!;
      const err = await callError('models.inspect', { uploadId });
      expect(err.code, name).toBe('MODEL_MALFORMED');
      expect(err.hint, name).toBeTruthy();
      // The message names the file, not the console's upload folder.
      expect(err.message, name).not.toContain(dataDir);
      expect(err.message, name).toContain(name);
    }
    expect((await callError('models.inspect', { path: 'relative/model.onnx' })).code).toBe('BAD_INPUT');
    expect((await callError('models.inspect', { path: join(dir, 'nope.onnx') })).code).toBe('NOT_FOUND');
    expect((await callError('models.inspect', { uploadId: 'x' })).code).toBe('BAD_INPUT');
  });

  it('lists the target profiles', async () => {
    const { targets } = await call('targets.list', {});
    expect(targets.map((t) => t.id)).toContain('cpu-x86_64');
    expect(targets.find((t) => t.id === 'coral-edgetpu')?.precisions.fp32.supported).toBe(false);
  });
});

describe('builds', () => {
  let clsUpload: string;
  beforeAll(async () => {
    clsUpload = (await upload({ name: CLS }, clsBytes)).body.value!.uploadId;
  });

  it('refuses a build it can tell is wrong before starting it (the form keeps its values)', async () => {
    const base = { uploadId: clsUpload, version: '1.0.0', target: 'cpu-x86_64' };
    expect((await callError('builds.start', { ...base, precision: 'int8' })).code).toBe('BAD_INPUT');
    expect(
      (await callError('builds.start', { ...base, target: 'coral-edgetpu', precision: 'fp32' })).code,
    ).toBe('BAD_INPUT');
    expect((await callError('builds.start', { ...base, target: 'tpu-9000', precision: 'fp32' })).code).toBe(
      'BAD_INPUT',
    );
    expect((await callError('builds.start', { ...base, version: 'one', precision: 'fp32' })).code).toBe(
      'BAD_INPUT',
    );
    // The speed pass measures this computer: not for FP32, nor for a Jetson.
    expect((await callError('builds.start', { ...base, precision: 'fp32', speedPass: true })).code).toBe(
      'BAD_INPUT',
    );
    const orin = await callError('builds.start', {
      ...base,
      target: 'jetson-orin',
      precision: 'int8',
      calibration: { kind: 'generated', spec: 'gen:ocr-lines:8' },
      speedPass: true,
    });
    expect(orin).toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringMatching(/speed pass times/) as unknown,
    });
    // The Edge TPU runs full-integer models only: no float activations (dynamic), no layers kept float.
    const coral = { ...base, target: 'coral-edgetpu', precision: 'int8' };
    const gen = { kind: 'generated', spec: 'gen:ocr-lines:8' };
    expect(await callError('builds.start', { ...coral, mode: 'dynamic' })).toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringMatching(/full-integer models only/) as unknown,
    });
    expect(
      await callError('builds.start', { ...coral, calibration: gen, accuracyBudget: 0.99 }),
    ).toMatchObject({
      code: 'BAD_INPUT',
      message: expect.stringMatching(/would split the model onto the CPU/) as unknown,
    });
    const missing = await callError('builds.start', {
      ...base,
      precision: 'int8',
      calibration: { kind: 'path', path: join(dir, 'no-such-images') },
    });
    expect(missing.code).toBe('NOT_FOUND');
    expect(
      (
        await callError('builds.start', {
          ...base,
          precision: 'int8',
          calibration: { kind: 'generated', spec: 'gen:cats:8' },
        })
      ).code,
    ).toBe('BAD_INPUT');
  });

  it('builds the cls model at FP32, records it, and serves its report and signature check', async () => {
    const { jobId, buildId, outDir } = await call('builds.start', {
      uploadId: clsUpload,
      name: 'cls',
      version: '1.0.0',
      target: 'cpu-x86_64',
      precision: 'fp32',
    });
    expect(outDir).toBe(join(dataDir, 'artifacts', 'cls-1.0.0-cpu-x86_64-fp32'));
    const running = await call('builds.list', {});
    expect(running.running.map((r) => r.buildId)).toContain(buildId);

    const done = await waitFor('job.done', (p) => p.jobId === jobId);
    expect(done.error).toBeUndefined();
    expect(done.ok).toBe(true);
    expect(
      seen.some((s) => s.event === 'job.progress' && (s.payload as { jobId: string }).jobId === jobId),
    ).toBe(true);
    const recorded = await waitFor('build.recorded', (p) => p.jobId === jobId);
    expect(recorded.record.id).toBe(buildId);
    expect(recorded.record.status).toBe('succeeded');

    const { builds, running: after } = await call('builds.list', {});
    expect(after).toEqual([]);
    const rec = builds.find((b) => b.id === buildId);
    expect(rec?.status).toBe('succeeded');
    expect(rec?.artifactDir).toBe(outDir);
    expect(rec?.sourceName).toBe(CLS);

    const got = await call('builds.get', { id: buildId });
    expect(got.reportProblem).toBeNull();
    expect(got.report?.precision).toBe('fp32');
    expect(got.report?.source.fileBytes).toBe(clsBytes.length);
    expect(got.report?.compat.ok).toBe(true);
    expect(got.report?.compile.status).toBe('compiled');
    expect(got.report?.sizeRatio).toBeGreaterThan(0);

    const verified = await call('builds.verify', { id: buildId });
    expect(verified.ok).toBe(true);
    expect(verified.trusted).toBe(true);
    expect(verified.problems).toEqual([]);

    // Versions are immutable: the same build again is refused up front.
    const again = await callError('builds.start', {
      uploadId: clsUpload,
      name: 'cls',
      version: '1.0.0',
      target: 'cpu-x86_64',
      precision: 'fp32',
    });
    expect(again.code).toBe('CONFLICT');
    expect((await callError('builds.get', { id: '5b0f2a57-3f1e-4c4e-9d0a-3a0b8f1d2c11' })).code).toBe(
      'NOT_FOUND',
    );
  });

  it('calibrates static INT8 with images uploaded into one upload folder', async () => {
    const images = join(dir, 'lines');
    await writeOcrSampleSet(images, { kind: 'lines', count: 4, seed: 7 });
    let calib: string | undefined;
    for (const f of readdirSync(images).filter((n) => n.endsWith('.png'))) {
      const res = await upload(
        { name: f, ...(calib ? { uploadId: calib } : {}) },
        readFileSync(join(images, f)),
      );
      expect(res.status).toBe(200);
      calib ??= res.body.value!.uploadId;
    }
    const { jobId, buildId } = await call('builds.start', {
      uploadId: clsUpload,
      name: 'cls',
      version: '1.0.0',
      target: 'cpu-x86_64',
      precision: 'int8',
      mode: 'static',
      calibration: { kind: 'upload', uploadId: calib! },
      calibrate: 'percentile',
      samples: 4,
    });
    const done = await waitFor('job.done', (p) => p.jobId === jobId);
    expect(done.error).toBeUndefined();
    const { report } = await call('builds.get', { id: buildId });
    expect(report?.quantization?.mode).toBe('static');
    expect(report?.quantization?.calibration).toMatchObject({ method: 'percentile', samples: 4 });
    expect(report?.output.quantizedNodes).toBeGreaterThan(0);
    expect(report?.quantization?.layers.length).toBeGreaterThan(0);
    expect('skipped' in report!.check).toBe(false);
  });

  it('records a build that fails on its calibration data, with the reason', async () => {
    const { uploadId: notes } = (await upload({ name: 'notes.txt' }, Buffer.from('not images'))).body.value!;
    const { jobId, buildId, outDir } = await call('builds.start', {
      uploadId: clsUpload,
      name: 'cls',
      version: '1.0.1',
      target: 'cpu-x86_64',
      precision: 'int8',
      calibration: { kind: 'upload', uploadId: notes },
      samples: 4,
    });
    const done = await waitFor('job.done', (p) => p.jobId === jobId);
    expect(done.ok).toBe(false);
    expect(done.error?.code).toBe('BAD_INPUT');
    expect(done.error?.hint).toBeTruthy();
    const got = await call('builds.get', { id: buildId });
    expect(got.record.status).toBe('failed');
    expect(got.record.error).toMatch(/no images/);
    expect(got.record.error).not.toContain(dataDir);
    expect(done.error?.message).toContain('the uploaded calibration files');
    expect(got.report).toBeNull();
    expect((await callError('builds.verify', { id: buildId })).code).toBe('NOT_FOUND');
    expect(existsSync(outDir)).toBe(false);
  });

  it('cancels a running build: recorded as cancelled, no artifact left', async () => {
    const { uploadId } = (await upload({ name: 'det.onnx' }, detBytes)).body.value!;
    const { jobId, buildId, outDir } = await call('builds.start', {
      uploadId,
      version: '0.1.0',
      target: 'cpu-x86_64',
      precision: 'int8',
      calibration: { kind: 'generated', spec: 'gen:ocr-pages:8' },
      samples: 8,
    });
    // Cancel once the build is converting (past reading and preparing the graph).
    await waitFor('job.progress', (p) => p.jobId === jobId && p.fraction >= 0.08, 60_000);
    expect(await call('jobs.cancel', { jobId })).toEqual({ cancelled: true });
    const done = await waitFor('job.done', (p) => p.jobId === jobId);
    expect(done.ok).toBe(false);
    expect(done.error?.code).toBe('CANCELLED');
    const got = await call('builds.get', { id: buildId });
    expect(got.record.status).toBe('cancelled');
    expect(got.record.name).toBe('det');
    expect(got.record.artifactDir).toBeNull();
    expect(existsSync(outDir)).toBe(false);
    expect(readdirSync(join(dataDir, 'artifacts'))).not.toContain('det-0.1.0-cpu-x86_64-int8');
  }, 90_000);
});
